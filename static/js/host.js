/* The host view: the newest battle report ready to paste, earlier ones, the current
   stimulus announcement, and the host's own rank (an htmx fragment). */
import { clone, setField } from "./lib/dom.js";
import { actionEmoji, actionTitle, hm, kindLabel, num, pct, wan } from "./lib/format.js";
import { connect } from "./live.js";

var app = document.getElementById("app");
var slug = app.dataset.slug;
var texts = {}; // report id -> exact text, as the server sent it
var reports = [];
var shownStimulus = null;
var stimuli = [];

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
  } else if (button.hasAttribute("data-copy-report")) {
    var li = button.closest("li");
    var textEl = li.querySelector('[data-f="text"]');
    var rid = li.dataset.id;
    copy(texts[rid] !== undefined ? texts[rid] : textEl.textContent, textEl, button);
  }
});

/* --- rendering ---------------------------------------------------------------------- */
function renderReports() {
  var newest = reports[reports.length - 1];
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
  var want = reports.slice(0, -1).reverse();
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

function renderStimulus(stimuli) {
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
    renderSummary(f.totals, f.target);
  } else if (f.type === "update") {
    renderSummary(f.totals, f.target);
    if (f.stimuli) stimuli = f.stimuli;
    renderStimulus(stimuli);
  } else if (f.type === "report") {
    if (texts[String(f.report.id)] === undefined) {
      texts[String(f.report.id)] = f.report.text;
      reports.push(f.report);
      if (reports.length > 20) reports.shift();
      renderReports();
      if (navigator.vibrate) navigator.vibrate(120);
    }
  } else if (f.type === "stimulus") {
    stimuli.push(f.stimulus);
    renderStimulus(stimuli);
    toast(actionEmoji(f.stimulus.kind) + " 新福利来了，快复制通知发到群里！");
  }
}

/* --- the host's own name: remembered on this phone ---------------------------------- */
var KEY = "wr:seller:" + slug;
document.addEventListener("change", function (ev) {
  if (ev.target && ev.target.id === "seller") {
    try { localStorage.setItem(KEY, ev.target.value); } catch (e) { /* private mode */ }
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
