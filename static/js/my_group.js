/* The host's own group: pick it once (remembered on this phone), see its health every
   10 s; the newest report's poster link follows the newest report shown on the page.
   Names only reach the page through textContent. */
import { wan } from "./lib/format.js";
import { vocab } from "./lib/vocab.js";

const box = document.getElementById("my-group");
if (box) start();

function start() {
  var slug = box.getAttribute("data-slug");
  var token = new URLSearchParams(window.location.search).get("token") || "";
  var api = "/api/v1/campaigns/" + encodeURIComponent(slug);
  var pick = document.getElementById("mg-pick");
  var body = box.querySelector('[data-f="body"]');
  var memory = "warroom:" + slug + ":group";
  var LABEL = { active: "活跃", quiet: "静默", cold: "冷群" };
  var TIP = { quiet: "群里有点安静，发条战报或福利通知暖暖场吧！", cold: "这个群已经冷了，赶紧发福利、@群友互动！" };
  function f(name) { return box.querySelector('[data-f="' + name + '"]'); }

  function get(path) {
    return fetch(api + path, { headers: { Authorization: "Bearer " + token }, cache: "no-store" })
      .then(function (res) { if (!res.ok) throw new Error(res.status); return res.json(); });
  }

  // The picker: every group's id and name, at load and every 5 minutes.
  function loadNames() {
    return get("/groups?names=1").then(function (rows) {
      var chosen = pick.value || localStorage.getItem(memory) || "";
      pick.replaceChildren(pick.options[0]);
      rows.sort(function (a, b) { return a.name < b.name ? -1 : 1; }).forEach(function (g) {
        var o = document.createElement("option");
        o.value = g.id;
        o.textContent = g.name;
        pick.appendChild(o);
      });
      pick.value = chosen;
    }).catch(function () {});
  }

  function show(rows) {
    var chosen = pick.value;
    var g = rows.find(function (r) { return r.id === chosen; });
    body.hidden = !g;
    if (!g) return;
    var badge = f("health");
    badge.className = "mg-badge " + g.health;
    badge.textContent = LABEL[g.health];
    f("since").textContent = g.health === "active" ? "" : "已 " + g.health_minutes + " 分钟";
    // No member events for this group: its members are unknown, not 0.
    var members = f("members");
    members.textContent = g.members ? g.members : vocab.none;
    if (g.members) members.removeAttribute("title");
    else members.title = vocab.unknown.members;
    f("writers").textContent = g.active_members;
    f("buyers").textContent = g.buyers;
    f("orders").textContent = g.orders;
    f("net").textContent = wan(g.net_gmv_fen);
    f("tip").textContent = TIP[g.health] || "";
  }

  // Only the chosen group is polled: a phone never downloads every group's row.
  function poll() {
    if (pick.value) get("/groups?id=" + encodeURIComponent(pick.value)).then(show).catch(function () {});
    else body.hidden = true;
    get("/groups/summary").then(function (s) {
      var l = document.getElementById("review-link");
      if (l) l.hidden = !s.ended;
    }).catch(function () {});
  }
  pick.addEventListener("change", function () { localStorage.setItem(memory, pick.value); poll(); });

  // 保存海报: the poster of the newest report the page shows (host.js keeps #newest-text
  // data-id current); the token goes in the URL because a download link cannot send a header.
  var poster = document.getElementById("poster-link");
  var newest = document.getElementById("newest-text");
  function syncPoster() {
    var id = newest && newest.getAttribute("data-id");
    poster.hidden = !id;
    if (id) {
      poster.href = api + "/reports/" + encodeURIComponent(id) + "/poster.png?token=" + encodeURIComponent(token);
      poster.setAttribute("download", slug + "-战报-" + id + ".png");
    }
  }
  if (newest) new MutationObserver(syncPoster).observe(newest, { attributes: true, attributeFilter: ["data-id"] });
  syncPoster();
  loadNames().then(poll);
  setInterval(loadNames, 300000);
  setInterval(poll, 10000);
}
