/* 冷群提醒: poll the groups summary (viewer token from this page's URL, sent as a
   header), show the coldest groups; once the sale has ended, show the link to the
   retrospective. Names only reach the page through textContent. */
(function () {
  "use strict";
  var panel = document.getElementById("cold-groups");
  if (!panel) return;
  var slug = panel.getAttribute("data-slug");
  var token = new URLSearchParams(window.location.search).get("token") || "";
  var list = panel.querySelector('[data-f="list"]');
  var counts = panel.querySelector('[data-f="counts"]');
  var tpl = document.getElementById("tpl-cold-row");
  var link = document.getElementById("review-link");
  var MAX_ROWS = 4;
  // on the big screen the link joins the 战报 column's flow (floating, it covered it)
  var slot = document.getElementById("review-slot");
  if (slot && link) slot.appendChild(link);

  function row(g) {
    var li = tpl.content.firstElementChild.cloneNode(true);
    li.classList.add(g.health);
    li.querySelector('[data-f="name"]').textContent = g.name;
    var label = g.health === "cold" ? "冷了 " : "静默 ";
    li.querySelector('[data-f="since"]').textContent = label + g.health_minutes + " 分钟";
    return li;
  }

  function render(s) {
    var rows = s.cold.concat(s.quiet).slice(0, MAX_ROWS);
    counts.textContent = "冷 " + s.counts.cold + " · 静 " + s.counts.quiet + " · 活跃 " + s.counts.active;
    list.replaceChildren.apply(list, rows.map(row));
    panel.hidden = s.ended || rows.length === 0;
    if (link) link.hidden = !s.ended;
  }

  function poll() {
    fetch("/api/v1/campaigns/" + encodeURIComponent(slug) + "/groups/summary", {
      headers: { Authorization: "Bearer " + token }, cache: "no-store"
    }).then(function (res) {
      if (!res.ok) throw new Error(res.status);
      return res.json();
    }).then(render).catch(function () { /* keep the last view; the next poll retries */ });
  }
  poll();
  setInterval(poll, 10000);
})();
