/* The host view: the newest battle report ready to paste, earlier ones, the current
   stimulus announcement, the host's tasks (approved stimuli, with a 完成 button), and
   the host's own rank (an htmx fragment). */
import { clone, setField } from "./lib/dom.js";
import { actionEmoji, actionTitle, hm, kindLabel, num, pct, wan } from "./lib/format.js";
import { connect } from "./live.js";

var app = document.getElementById("app");
var slug = app.dataset.slug;
var texts = {}; // report id -> exact text, as the server sent it
var reports = [];
var shownStimulus = null;
var stimuli = [];
var bound = app.dataset.bound === "1"; // a host link: one seller, held-out fires hidden
var token = new URLSearchParams(location.search).get("token") || "";
// fires this host must not announce (held out of every group it hosts): the server's word
var quiet = JSON.parse(document.getElementById("host-hidden").textContent || "{}");
var hidden = new Set(quiet.hidden || []);
var hiddenReports = new Set(quiet.hidden_reports || []); // their `stimulus` reports

/* --- copy: the clipboard API where the browser allows it (HTTPS, localhost), a
   hidden textarea + execCommand over plain HTTP, else select the text for a long press */
function copyFallback(text) {
  var ta = document.createElement("textarea");
  ta.value = text;
  ta.setAttribute("readonly", "");
  ta.style.position = "fixed";
  ta.style.top = "0";
  ta.style.left = "0";
  ta.style.opacity = "0";
  ta.style.fontSize = "16px"; // no zoom on iOS
  document.body.appendChild(ta);
  ta.focus();
  ta.select();
  ta.setSelectionRange(0, text.length);
  var ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  ta.remove();
  return ok;
}

function selectText(el) {
  var range = document.createRange();
  range.selectNodeContents(el);
  var sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

function copy(text, el, button) {
  function done(ok) {
    if (ok) {
      toast("已复制 ✓ 去群里粘贴吧");
      if (button) {
        var label = button.dataset.label || button.textContent;
        button.dataset.label = label;
        button.textContent = "已复制 ✓";
        button.classList.add("ok");
        setTimeout(function () { button.textContent = label; button.classList.remove("ok"); }, 2000);
      }
    } else {
      if (el) selectText(el);
      toast("请长按选中的文字复制");
    }
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(
      function () { done(true); },
      function () { done(copyFallback(text)); }
    );
  } else {
    done(copyFallback(text));
  }
}

var toastTimer = null;
function toast(msg) {
  var t = document.getElementById("toast");
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(function () { t.hidden = true; }, 2200);
}

document.addEventListener("click", function (ev) {
  var button = ev.target.closest("button");
  if (!button) return;
  if (button.dataset.copy) {
    var el = document.getElementById(button.dataset.copy);
    var id = el.dataset.id;
    copy(id && texts[id] !== undefined ? texts[id] : el.textContent, el, button);
  } else if (button.dataset.done) {
    markDone(button);
  } else if (button.hasAttribute("data-copy-report")) {
    var li = button.closest("li");
    var textEl = li.querySelector('[data-f="text"]');
    var rid = li.dataset.id;
    copy(texts[rid] !== undefined ? texts[rid] : textEl.textContent, textEl, button);
  }
});

/* --- rendering ---------------------------------------------------------------------- */
function renderReports() {
  var shown = reports.filter(function (r) { return !hiddenReports.has(r.id); });
  var newest = shown[shown.length - 1];
  var card = document.getElementById("newest");
  document.getElementById("no-report").hidden = !!newest;
  card.hidden = !newest;
  if (newest) {
    var badge = setField(card, "kind", kindLabel(newest.kind));
    badge.className = "badge k-" + newest.kind;
    setField(card, "at", hm(newest.at));
    var text = document.getElementById("newest-text");
    if (text.dataset.id !== String(newest.id)) {
      text.dataset.id = String(newest.id);
      text.textContent = newest.text;
      card.classList.remove("flash");
      void card.offsetWidth;
      card.classList.add("flash");
    }
  }
  var ol = document.getElementById("older");
  var want = shown.slice(0, -1).reverse();
  if (ol.children.length === want.length &&
      want.every(function (r, i) { return ol.children[i].dataset.id === String(r.id); })) return;
  ol.textContent = "";
  want.forEach(function (r) {
    var li = clone("tpl-report");
    li.dataset.id = String(r.id);
    var b = setField(li, "kind", kindLabel(r.kind));
    b.className = "badge k-" + r.kind;
    setField(li, "at", hm(r.at));
    setField(li, "text", r.text);
    ol.appendChild(li);
  });
}

function stimulusText(s) {
  return actionEmoji(s.kind) + " " + actionTitle(s.kind) + "｜" + (s.text || "");
}

var CURRENT_MS = 30 * 60000; // a fire stays the announcement to paste for 30 minutes
var campaignNow = null;

function renderStimulus(all) {
  var stimuli = all.filter(function (x) { return !hidden.has(x.id); });
  var s = stimuli[stimuli.length - 1];
  var card = document.getElementById("stim");
  var age = s && campaignNow ? Date.parse(campaignNow) - Date.parse(s.at) : 0;
  if (s && age > CURRENT_MS) s = null;
  card.hidden = !s;
  if (!s || shownStimulus === s.id) return;
  shownStimulus = s.id;
  setField(card, "title", actionEmoji(s.kind) + " " + actionTitle(s.kind));
  setField(card, "at", hm(s.at));
  setField(card, "text", stimulusText(s));
}

/* --- tasks: the server says which are this host's (and which fires it must not show) */
function hostQuery() {
  var q = new URLSearchParams();
  if (token) q.set("token", token);
  var select = document.getElementById("seller");
  if (select && select.value) q.set("seller", select.value);
  return q.toString();
}

function renderTasks(tasks) {
  var section = document.getElementById("tasks");
  var ol = document.getElementById("task-list");
  section.hidden = tasks.length === 0;
  document.getElementById("task-count").textContent = String(tasks.length);
  ol.textContent = "";
  tasks.forEach(function (k) {
    var li = clone("tpl-task");
    li.dataset.id = String(k.id);
    setField(li, "title", actionEmoji(k.kind) + " " + actionTitle(k.kind));
    setField(li, "at", k.approved_at ? hm(k.approved_at) : "");
    setField(li, "text", k.text || "");
    setField(li, "groups", (k.groups || []).join("、"));
    li.querySelector("[data-done]").dataset.done = String(k.id);
    ol.appendChild(li);
  });
}

var tasksAsked = 0;
var toastPending = false; // a host link heard of a fire: announce it once the server says
function refreshTasks() {
  var mine = ++tasksAsked;
  fetch("/c/" + encodeURIComponent(slug) + "/host/tasks?" + hostQuery(), { cache: "no-store" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (body) {
      if (!body || mine !== tasksAsked) return; // an older answer after a newer ask
      hidden = new Set(body.hidden || []);
      hiddenReports = new Set(body.hidden_reports || []);
      renderReports();
      var before = shownStimulus;
      shownStimulus = null;
      renderStimulus(stimuli);
      if (toastPending && shownStimulus !== null && shownStimulus !== before) {
        toast("🎁 新福利来了，快复制通知发到群里！");
      }
      toastPending = false;
      renderTasks(body.tasks || []);
    })
    .catch(function () { /* the next frame asks again */ });
}

function markDone(button) {
  button.disabled = true;
  var url = "/c/" + encodeURIComponent(slug) + "/host/tasks/" + encodeURIComponent(button.dataset.done) +
    "/done?" + hostQuery();
  fetch(url, { method: "POST" })
    .then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      toast("已完成 ✓ 作战室已记录");
      refreshTasks();
    })
    .catch(function () { button.disabled = false; toast("没能记录，请再点一次"); });
}

var lastStimuli = "";
function stimuliChanged(list) {
  var sig = list.map(function (x) { return x.id + "@" + x.at; }).join(",");
  if (sig === lastStimuli) return;
  var first = lastStimuli === "";
  lastStimuli = sig;
  if (!first || list.length) refreshTasks(); // a new fire, an approval, a done elsewhere
}

var restoring = false;
var hasData = true;

function renderSummary(t, target) {
  document.getElementById("app").classList.toggle("restoring", restoring);
  document.getElementById("restoring-note").hidden = !restoring;
  if (restoring) { // figures being rebuilt are not zeros
    ["gmv", "orders", "prog"].forEach(function (id) { document.getElementById(id).textContent = "—"; });
    return;
  }
  document.getElementById("gmv").textContent = wan(t.gmv_fen);
  document.getElementById("orders").textContent = num(t.orders);
  if (target) document.getElementById("prog").textContent = pct(target.progress_base);
}

function remember(list) {
  list.forEach(function (r) { texts[String(r.id)] = r.text; });
}

function onFrame(f) {
  if (f.now || f.campaign) campaignNow = f.now || f.campaign.now;
  if ("restoring" in f) restoring = !!f.restoring;
  if (f.type === "snapshot" || "last_event_at" in f) hasData = !!f.last_event_at;
  if (f.type === "snapshot") {
    reports = f.reports.slice();
    remember(reports);
    renderReports();
    stimuli = f.stimuli.slice();
    renderStimulus(stimuli);
    stimuliChanged(stimuli);
    renderSummary(f.totals, f.target);
  } else if (f.type === "update") {
    renderSummary(f.totals, f.target);
    if (f.stimuli) stimuli = f.stimuli;
    renderStimulus(stimuli);
    stimuliChanged(stimuli);
  } else if (f.type === "report") {
    if (texts[String(f.report.id)] === undefined) {
      texts[String(f.report.id)] = f.report.text;
      reports.push(f.report);
      if (reports.length > 20) reports.shift();
      if (bound && f.report.kind === "stimulus") { refreshTasks(); return; } // held out?
      renderReports();
      if (navigator.vibrate) navigator.vibrate(120);
    }
  } else if (f.type === "stimulus") {
    stimuli.push(f.stimulus);
    if (bound && f.stimulus.id !== undefined) {
      // held out or not is the server's to say: ask before announcing it here
      toastPending = true;
      stimuliChanged(stimuli);
      return;
    }
    renderStimulus(stimuli);
    stimuliChanged(stimuli);
    toast(actionEmoji(f.stimulus.kind) + " 新福利来了，快复制通知发到群里！");
  }
}

/* --- the host's own name: remembered on this phone ---------------------------------- */
var KEY = "wr:seller:" + slug;
document.addEventListener("change", function (ev) {
  if (ev.target && ev.target.id === "seller") {
    try { localStorage.setItem(KEY, ev.target.value); } catch (e) { /* private mode */ }
    refreshTasks(); // the tasks are the picked host's
  }
});
document.addEventListener("DOMContentLoaded", function () {
  var select = document.getElementById("seller");
  var saved = null;
  try { saved = localStorage.getItem(KEY); } catch (e) { saved = null; }
  if (select && !select.value && saved) {
    var has = Array.prototype.some.call(select.options, function (o) { return o.value === saved; });
    if (has) {
      select.value = saved;
      setTimeout(function () { select.dispatchEvent(new Event("change", { bubbles: true })); }, 50);
    }
  }
});

connect({
  slug: slug, lite: true, onFrame: onFrame,
  hasData: function () { return hasData; } // "暂无数据" before the first event
});
