/* The big screen: applies the socket's JSON frames to the server-rendered page. Words
   and formats come from the page's vocabulary (lib/format.js), the chart's figure from
   the server (screen/chart.js); names only ever reach the page through textContent. */
import { setField, clone } from "./lib/dom.js";
import { hm, kindLabel, maskMoney, num, pct, rate, wan, gap, yuan } from "./lib/format.js";
import { vocab } from "./lib/vocab.js";
import { connect } from "./live.js";
import { showBanner } from "./screen/banner.js";
import { renderBoard } from "./screen/board.js";
import { chart } from "./screen/chart.js";
import { clock } from "./screen/clock.js";
import { fitReports } from "./screen/feed.js";
import { odometer } from "./screen/odometer.js";

const stage = document.getElementById("stage");
const masked = stage.dataset.mask === "1";
const replay = stage.dataset.replay || ""; // the speed, on a replay (docs/replay.md)
let state = null; // the snapshot, kept current by merging updates

/* --- fit the 1920x1080 stage to any screen ------------------------------------------- */
function fit() {
  const s = Math.min(window.innerWidth / 1920, window.innerHeight / 1080);
  stage.style.transform = "scale(" + s + ")";
  stage.style.left = Math.max(0, (window.innerWidth - 1920 * s) / 2) + "px";
  stage.style.top = Math.max(0, (window.innerHeight - 1080 * s) / 2) + "px";
}
window.addEventListener("resize", fit);
fit();
/* the column's height changes when 查看复盘 joins it, and once the fonts are in */
new ResizeObserver(function () { fitReports(document.getElementById("reports")); })
  .observe(document.getElementById("reports"));

const clk = clock(stage, replay);

/* --- money, masked or not -------------------------------------------------------------- */
/* A masked screen receives no amount at all (core/live/masked.py): its frames carry
   shares of the target, which it shows as percentages. */
function money(value, isGap) {
  if (!masked) return isGap ? gap(value) : wan(value);
  return pct(value || 0);
}

/* --- the chart: the server's figure, at this screen's moment ------------------------------ */
const plot = chart(document.getElementById("chart"), function () {
  const q = new URLSearchParams({ token: new URLSearchParams(location.search).get("token") || "" });
  if (masked) q.set("mask", "1");
  if (replay) { q.set("replay", replay); q.set("at", state ? state.campaign.now : stage.dataset.now); }
  return "/c/" + encodeURIComponent(stage.dataset.slug) + "/chart?" + q.toString();
});

/* --- panels ------------------------------------------------------------------------- */
const gmvEl = document.getElementById("gmv");
const headline = odometer(gmvEl);

function restoring() { return !!(state && state.restoring); }

/* Figures being rebuilt are not zeros: say so instead of showing them. */
function renderRestoring() {
  stage.classList.toggle("restoring", restoring());
  if (!restoring()) return;
  headline.reset();
  gmvEl.textContent = "数据恢复中…";
  gmvEl.dataset.fen = "";
  gmvEl.setAttribute("aria-label", "数据恢复中");
  document.getElementById("gmv-sub").textContent = "数据恢复后自动更新";
  document.querySelectorAll("#kpis [data-k]").forEach(function (el) { el.textContent = "—"; });
}

const HELD_REASONS = { feed_silent: "数据源无新事件", no_events: "尚无事件", restoring: "数据恢复中" };
/* For the operator (small, in the corner): a rule that will not fire now, and why. */
function renderOps() {
  const el = document.getElementById("ops-warn");
  const held = (state.rules || []).filter(function (r) { return r.state === "held"; });
  let text = "";
  if (restoring()) {
    text = "⚠ 数据恢复中 · 刺激规则暂停";
  } else if (held.length) {
    const why = HELD_REASONS[held[0].reason] || held[0].reason;
    text = "⚠ 刺激规则暂停：" + held.map(function (r) { return r.name; }).join("、") + "（" + why + "）";
  }
  el.hidden = !text;
  if (el.textContent !== text) el.textContent = text;
}

function renderHeadline() {
  if (restoring()) return;
  const t = state.totals;
  if (masked) headline.set(pct(state.target.progress_base), "");
  else headline.set(wan(t.gmv_fen, 2, true), t.gmv_fen);
  const sub = document.getElementById("gmv-sub");
  sub.textContent = masked
    ? "订单 " + num(t.orders) + " · 下单 " + num(t.buyers) + " 人"
    : "净额 " + wan(t.net_gmv_fen) + " · 退款 " + wan(t.refund_fen);
}

/* After the doors close the figure is final: no more "预计收官". */
function ended() {
  return Date.parse(state.campaign.now) >= Date.parse(state.campaign.ends_at);
}

function renderProgress() {
  const tg = state.target;
  const over = ended();
  // the projected finish is a range (core/live/projection.py), drawn as a band
  const lo = masked ? tg.projected_low_share : tg.projected_low_fen;
  const hi = masked ? tg.projected_high_share : tg.projected_high_fen;
  const known = lo !== null && lo !== undefined && hi !== null && hi !== undefined;
  ["base", "stretch"].forEach(function (key) {
    const row = document.querySelector('.bar-row[data-key="' + key + '"]');
    const goal = masked ? tg["has_" + key] : tg[key + "_fen"];
    row.hidden = !goal;
    if (!goal) return;
    const p = tg["progress_" + key];
    if (!masked) setField(row, "goal", wan(goal));
    row.querySelector('[data-f="fill"]').style.width = Math.min(p * 100, 100) + "%";
    const band = row.querySelector('[data-f="proj"]');
    const den = masked ? (key === "base" ? 1 : tg.stretch_share) : goal;
    band.hidden = over || !known || !den;
    if (!band.hidden) {
      const left = Math.min((lo / den) * 100, 100);
      band.style.left = left + "%";
      band.style.width = Math.min(((hi - lo) / den) * 100, 100 - left) + "%";
    }
    setField(row, "pct", pct(p));
    row.classList.toggle("done", p >= 1);
  });
  const fc = document.getElementById("forecast");
  if (over) {
    setField(fc, "projlabel", "最终成交");
    setField(fc, "projected", masked ? pct(tg.progress_base) : wan(state.totals.gmv_fen));
  } else {
    setField(fc, "projlabel", known ? "预计收官" : "开场不久，暂不预测收官");
    setField(fc, "projected", known ? money(lo) + " – " + money(hi) : "");
  }
  let eta = "";
  if (tg.base_reached_at) eta = " · 基础目标 " + hm(tg.base_reached_at) + " 已达成 ✅";
  else if (tg.base_eta_at) eta = " · 预计 " + hm(tg.base_eta_at) + " 达成基础目标";
  if (masked) {
    if (tg.next_milestone_eta_at && tg.next_milestone_n && tg.next_milestone_share !== 1) {
      eta += " · 约 " + hm(tg.next_milestone_eta_at) + " 破第 " + tg.next_milestone_n + " 个里程碑";
    }
  } else if (tg.next_milestone_eta_at && tg.next_milestone_fen !== tg.base_fen) {
    eta += " · 预计 " + hm(tg.next_milestone_eta_at) + " 破 " + money(tg.next_milestone_fen);
  }
  setField(fc, "eta", eta.replace(/^ · /, "")); // on a line of its own
}

/* The stimulus budget: what is left of it (money: hidden on a masked screen). */
function renderBudget() {
  const el = document.getElementById("budget");
  if (!el) return; // a masked screen has none
  const budget = state.campaign.stimulus_budget_fen;
  el.hidden = budget === null || budget === undefined;
  if (el.hidden) return;
  const spent = state.stimuli.reduce(function (sum, s) { return sum + (s.amount_fen || 0); }, 0);
  setField(el, "left", yuan(Math.max(budget - spent, 0)));
  setField(el, "spent", yuan(spent));
}

function renderKpis() {
  if (restoring()) return;
  const t = state.totals;
  const values = {
    orders: num(t.orders), buyers: num(t.buyers), items: num(t.items),
    aov: masked ? "" : yuan(t.aov_fen), conversion: rate(t.conversion_rate, t.members),
    interaction: rate(t.interaction_rate, t.members), messages: num(t.messages)
  };
  // A ratio over members reads "—" with its hint while no member events came.
  const unknown = { members: !t.members };
  document.querySelectorAll("#kpis [data-hint]").forEach(function (el) {
    el.hidden = !unknown[el.dataset.hint];
  });
  document.querySelectorAll("#kpis [data-k]").forEach(function (el) {
    const den = el.dataset.den;
    if (den) {
      if (unknown[den]) el.title = vocab.unknown[den];
      else el.removeAttribute("title");
    }
    const v = values[el.dataset.k];
    if (v !== undefined && el.textContent !== v) {
      el.textContent = v;
      el.classList.remove("bump");
      void el.offsetWidth;
      el.classList.add("bump");
    }
  });
}

function board(name, limit, compact) {
  renderBoard(stage, name, (state.leaderboards[name] || []).slice(0, limit), compact, money);
}

function reportCard(r, fresh) {
  const li = clone("tpl-report");
  li.dataset.id = String(r.id);
  const badge = setField(li, "kind", kindLabel(r.kind));
  badge.className = "badge k-" + r.kind;
  setField(li, "at", hm(r.at));
  setField(li, "text", masked ? maskMoney(r.text) : r.text);
  if (fresh) li.classList.add("fresh");
  return li;
}

function renderReports() {
  const ol = document.getElementById("reports");
  ol.textContent = "";
  state.reports.slice(-6).reverse().forEach(function (r) { ol.appendChild(reportCard(r, false)); });
  fitReports(ol);
  renderFeedCount();
  ol.parentElement.querySelector(".empty").hidden = state.reports.length > 0;
}

/* The real number of reports (each carries its number `n`), not the feed's length. */
function renderFeedCount() {
  let n = state.reports_total || 0;
  state.reports.forEach(function (r) { if (r.n > n) n = r.n; });
  document.getElementById("feed-count").textContent = Math.max(n, state.reports.length) + " 条";
}

function addReport(r) {
  if (state.reports.some(function (x) { return x.id === r.id; })) return;
  state.reports.push(r);
  if (state.reports.length > 10) state.reports.shift();
  const ol = document.getElementById("reports");
  ol.insertBefore(reportCard(r, true), ol.firstChild);
  while (ol.children.length > 6) ol.lastChild.remove();
  fitReports(ol);
  renderFeedCount();
  ol.parentElement.querySelector(".empty").hidden = true;
}

function recentStimulus() {
  const s = state.stimuli[state.stimuli.length - 1];
  if (!s) return null;
  const minutes = (Date.parse(state.campaign.now) - Date.parse(s.at)) / 60000;
  return minutes >= 0 && minutes <= 3 ? s : null;
}

/* --- frames ------------------------------------------------------------------------- */
function renderAll() {
  const c = state.campaign;
  stage.dataset.starts = c.starts_at;
  stage.dataset.ends = c.ends_at;
  clk.scale(c.time_scale);
  setField(document.getElementById("name"), "name", c.name);
  document.title = c.name + " · 作战大屏";
  renderRestoring();
  renderOps();
  renderHeadline();
  renderProgress();
  renderBudget();
  renderKpis();
  board("sellers", 10, false);
  board("groups", 5, true);
  board("products", 5, true);
  renderReports();
  plot.touch();
}

/* A replay's end: the final state stays up, the badge says so, and a link replays. */
function replayEnded() {
  const badge = document.getElementById("replay-badge");
  if (!badge) return;
  badge.textContent = "回放结束";
  badge.classList.add("ended");
  document.getElementById("replay-again").hidden = false;
  document.documentElement.dataset.replay = "ended";
}

function onFrame(f) {
  if (f.replay && f.replay.state === "ended") replayEnded();
  if (f.type === "snapshot") {
    state = f;
    clk.anchor(f.campaign.now);
    renderAll();
    const s = recentStimulus();
    if (s) showBanner(s, false, { masked: masked, replay: replay });
    return;
  }
  if (!state) return;
  if (f.type === "update") {
    state.totals = f.totals;
    state.campaign.now = f.now;
    clk.anchor(f.now);
    if (f.campaign) { state.campaign = f.campaign; renderAll(); }
    if (f.target) state.target = f.target;
    if (f.velocity) state.velocity = f.velocity;
    if (f.rules) state.rules = f.rules;
    if ("last_event_at" in f) state.last_event_at = f.last_event_at;
    if (f.reports_total) state.reports_total = f.reports_total;
    if ("restoring" in f) {
      const was = restoring();
      state.restoring = f.restoring;
      if (was && !restoring()) { renderAll(); } // figures are back: draw them all
    }
    renderRestoring();
    renderOps();
    if (f.stimuli) { state.stimuli = f.stimuli; renderBudget(); }
    renderHeadline();
    renderProgress();
    renderKpis();
    if (f.leaderboards) {
      Object.keys(f.leaderboards).forEach(function (b) { state.leaderboards[b] = f.leaderboards[b]; });
      if (f.leaderboards.sellers) board("sellers", 10, false);
      if (f.leaderboards.groups) board("groups", 5, true);
      if (f.leaderboards.products) board("products", 5, true);
    } else if (masked) {
      board("sellers", 10, false); // shares of a moving total
    }
    plot.touch();
  } else if (f.type === "report") {
    addReport(f.report);
  } else if (f.type === "stimulus") {
    if (!state.stimuli.some(function (x) { return x.id === f.stimulus.id; })) state.stimuli.push(f.stimulus);
    renderBudget();
    showBanner(f.stimulus, true, { masked: masked, replay: replay });
    plot.touch();
  }
}

connect({
  // a masked screen asks for the money-free frames (a masked link gets them regardless)
  slug: stage.dataset.slug, lite: false, masked: masked, onFrame: onFrame, replay: replay,
  onStop: function (code) { if (code === 1000) replayEnded(); },
  // nothing has ever arrived: say so rather than a green "数据延迟 0.0 s"
  hasData: function () { return !state || !!state.last_event_at; }
});
