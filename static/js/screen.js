/* The big screen: applies the socket's JSON frames to the server-rendered page. */
(function () {
  "use strict";
  var WR = window.WR;
  var stage = document.getElementById("stage");
  var masked = stage.dataset.mask === "1";
  var tz = stage.dataset.tz;
  var state = null; // the snapshot, kept current by merging updates
  var clockAnchor = { campaignMs: Date.parse(stage.dataset.now), at: Date.now() };
  var timeScale = parseFloat(stage.dataset.scale) || 1;
  var replay = stage.dataset.replay || ""; // the speed, on a replay (docs/replay.md)

  /* --- fit the 1920x1080 stage to any screen ----------------------------------------- */
  function fit() {
    var s = Math.min(window.innerWidth / 1920, window.innerHeight / 1080);
    stage.style.transform = "scale(" + s + ")";
    stage.style.left = Math.max(0, (window.innerWidth - 1920 * s) / 2) + "px";
    stage.style.top = Math.max(0, (window.innerHeight - 1080 * s) / 2) + "px";
  }
  window.addEventListener("resize", fit);
  fit();

  /* --- money, masked or not ------------------------------------------------------------ */
  function base() { return (state && state.target.base_fen) || 0; }
  function money(fen, gap) {
    if (!masked) return gap ? WR.fmtGap(fen) : WR.fmtWan(fen);
    var den = base() || (state ? state.totals.gmv_fen : 0);
    return WR.fmtPct(den ? fen / den : 0);
  }

  /* --- the rolling counter -------------------------------------------------------------- */
  var gmvEl = document.getElementById("gmv");
  var odoShape = null;
  function setHeadline(text, fen) {
    gmvEl.dataset.fen = String(fen);
    gmvEl.setAttribute("aria-label", text);
    var shape = text.replace(/\d/g, "0");
    if (shape !== odoShape) {
      odoShape = shape;
      gmvEl.textContent = "";
      for (var i = 0; i < text.length; i++) {
        var ch = text[i];
        if (/\d/.test(ch)) {
          var col = document.createElement("span");
          col.className = "odo-digit";
          var strip = document.createElement("span");
          strip.className = "odo-strip";
          for (var d = 0; d <= 9; d++) {
            var cell = document.createElement("span");
            cell.textContent = String(d);
            strip.appendChild(cell);
          }
          col.appendChild(strip);
          gmvEl.appendChild(col);
        } else {
          var fixed = document.createElement("span");
          fixed.className = "odo-char";
          fixed.textContent = ch;
          gmvEl.appendChild(fixed);
        }
      }
      void gmvEl.offsetWidth; // start from 0 so the first value rolls in
    }
    var strips = gmvEl.querySelectorAll(".odo-strip");
    var k = 0;
    for (var j = 0; j < text.length; j++) {
      if (/\d/.test(text[j])) {
        strips[k].style.transform = "translateY(" + (-Number(text[j])) + "em)";
        k++;
      }
    }
  }

  /* --- the clock ---------------------------------------------------------------------- */
  var fmtTime = new Intl.DateTimeFormat("zh-CN", {
    timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
  });
  function hms(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return String(h).padStart(2, "0") + ":" + String(m).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  }
  function campaignNow() {
    return clockAnchor.campaignMs + (Date.now() - clockAnchor.at) * timeScale;
  }
  function tickClock() {
    var now = campaignNow();
    var starts = Date.parse(stage.dataset.starts), ends = Date.parse(stage.dataset.ends);
    var phase, main, sub;
    if (now < starts) {
      phase = "距开场"; main = hms(starts - now); sub = "开场 " + fmtTime.format(new Date(starts)).substring(0, 5);
    } else if (now < ends) {
      phase = replay ? "回放中" : "进行中"; main = fmtTime.format(new Date(now)); sub = "距收官 " + hms(ends - now);
    } else {
      phase = "已收官"; main = fmtTime.format(new Date(ends)); sub = "感谢每一位团长";
    }
    var liveTag = document.getElementById("live-tag");
    if (liveTag) liveTag.hidden = now >= ends; // 已收官 is not live (a replay has none)
    document.getElementById("phase").textContent = phase;
    document.getElementById("phase").className = "phase " +
      (now < starts ? "pre" : now >= ends ? "post" : replay ? "replay" : "on");
    document.getElementById("clock").textContent = main;
    document.getElementById("countdown").textContent = sub;
  }
  setInterval(tickClock, 250);
  tickClock();

  /* --- panels ------------------------------------------------------------------------- */
  function restoring() { return !!(state && state.restoring); }

  /* Figures being rebuilt are not zeros: say so instead of showing them. */
  function renderRestoring() {
    stage.classList.toggle("restoring", restoring());
    if (!restoring()) return;
    odoShape = null;
    gmvEl.textContent = "数据恢复中…";
    gmvEl.dataset.fen = "";
    gmvEl.setAttribute("aria-label", "数据恢复中");
    document.getElementById("gmv-sub").textContent = "数据恢复后自动更新";
    document.querySelectorAll("#kpis [data-k]").forEach(function (el) { el.textContent = "—"; });
  }

  var HELD_REASONS = { feed_silent: "数据源无新事件", no_events: "尚无事件", restoring: "数据恢复中" };
  /* For the operator (small, in the corner): a rule that will not fire now, and why. */
  function renderOps() {
    var el = document.getElementById("ops-warn");
    var held = (state.rules || []).filter(function (r) { return r.state === "held"; });
    var text = "";
    if (restoring()) {
      text = "⚠ 数据恢复中 · 刺激规则暂停";
    } else if (held.length) {
      var why = HELD_REASONS[held[0].reason] || held[0].reason;
      text = "⚠ 刺激规则暂停：" + held.map(function (r) { return r.name; }).join("、") + "（" + why + "）";
    }
    el.hidden = !text;
    if (el.textContent !== text) el.textContent = text;
  }

  function renderHeadline() {
    if (restoring()) return;
    var t = state.totals;
    if (masked) setHeadline(WR.fmtPct(state.target.progress_base), t.gmv_fen);
    else setHeadline(WR.fmtWan(t.gmv_fen, 2, true), t.gmv_fen);
    var sub = document.getElementById("gmv-sub");
    sub.textContent = masked
      ? "订单 " + WR.fmtNum(t.orders) + " · 下单 " + WR.fmtNum(t.buyers) + " 人"
      : "净额 " + WR.fmtWan(t.net_gmv_fen) + " · 退款 " + WR.fmtWan(t.refund_fen);
  }

  function renderProgress() {
    var tg = state.target;
    ["base", "stretch"].forEach(function (key) {
      var row = document.querySelector('.bar-row[data-key="' + key + '"]');
      var goal = tg[key + "_fen"];
      row.hidden = !goal;
      if (!goal) return;
      var p = tg["progress_" + key];
      if (!masked) WR.setField(row, "goal", WR.fmtWan(goal));
      row.querySelector('[data-f="fill"]').style.width = Math.min(p * 100, 100) + "%";
      var proj = row.querySelector('[data-f="proj"]');
      proj.hidden = tg.projected_fen === null || tg.projected_fen === undefined;
      if (!proj.hidden) proj.style.left = Math.min((tg.projected_fen / goal) * 100, 100) + "%";
      WR.setField(row, "pct", WR.fmtPct(p));
      row.classList.toggle("done", p >= 1);
    });
    var fc = document.getElementById("forecast");
    var early = tg.projected_fen === null || tg.projected_fen === undefined;
    WR.setField(fc, "projlabel", early ? "开场不久，暂不预测收官" : "预计收官");
    WR.setField(fc, "projected", early ? "" : money(tg.projected_fen));
    var eta = "";
    if (tg.base_reached_at) eta = " · 基础目标 " + WR.hm(tg.base_reached_at) + " 已达成 ✅";
    else if (tg.base_eta_at) eta = " · 预计 " + WR.hm(tg.base_eta_at) + " 达成基础目标";
    if (tg.next_milestone_eta_at && tg.next_milestone_fen !== tg.base_fen) {
      eta += " · 预计 " + WR.hm(tg.next_milestone_eta_at) + " 破 " + money(tg.next_milestone_fen);
    }
    WR.setField(fc, "eta", eta);
  }

  /* The stimulus budget: what is left of it (money: hidden on a masked screen). */
  function renderBudget() {
    var el = document.getElementById("budget");
    if (!el) return; // a masked screen has none
    var budget = state.campaign.stimulus_budget_fen;
    el.hidden = budget === null || budget === undefined;
    if (el.hidden) return;
    var spent = state.stimuli.reduce(function (sum, s) { return sum + (s.amount_fen || 0); }, 0);
    WR.setField(el, "left", WR.fmtYuan(Math.max(budget - spent, 0)));
    WR.setField(el, "spent", WR.fmtYuan(spent));
  }

  function renderKpis() {
    if (restoring()) return;
    var t = state.totals;
    var values = {
      orders: WR.fmtNum(t.orders), buyers: WR.fmtNum(t.buyers), items: WR.fmtNum(t.items),
      aov: WR.fmtYuan(t.aov_fen), conversion: WR.fmtPct(t.conversion_rate),
      interaction: WR.fmtPct(t.interaction_rate), messages: WR.fmtNum(t.messages)
    };
    document.querySelectorAll("#kpis [data-k]").forEach(function (el) {
      var v = values[el.dataset.k];
      if (v !== undefined && el.textContent !== v) {
        el.textContent = v;
        el.classList.remove("bump");
        void el.offsetWidth;
        el.classList.add("bump");
      }
    });
  }

  /* Rows keyed by id; moved rows slide to their new place (FLIP). */
  function renderBoard(name, limit, compact) {
    var ol = document.getElementById("board-" + name);
    var rows = (state.leaderboards[name] || []).slice(0, limit);
    var old = {};
    var tops = {};
    Array.prototype.forEach.call(ol.children, function (li) {
      old[li.dataset.id] = li;
      tops[li.dataset.id] = li.getBoundingClientRect().top;
    });
    var seen = {};
    rows.forEach(function (r, i) {
      var li = old[r.id] || WR.clone(compact ? "tpl-row-compact" : "tpl-row");
      li.dataset.id = r.id;
      seen[r.id] = true;
      var rank = WR.setField(li, "rank", String(r.rank));
      rank.className = "rank r" + r.rank;
      var mv = WR.move(r);
      var moveEl = WR.setField(li, "move", mv.text);
      moveEl.className = "move " + mv.cls;
      WR.setField(li, "name", r.name);
      WR.setField(li, "amt", money(r.net_gmv_fen));
      WR.setField(li, "orders", WR.fmtNum(r.orders) + " 单");
      if (!compact) {
        var prev = i > 0 ? rows[i - 1] : null;
        WR.setField(li, "gap", prev ? "距上一名 " + money(prev.net_gmv_fen - r.net_gmv_fen, true) : r.rank === 1 ? "领跑中" : "");
      }
      if (ol.children[i] !== li) ol.insertBefore(li, ol.children[i] || null);
    });
    Object.keys(old).forEach(function (id) { if (!seen[id]) old[id].remove(); });
    Array.prototype.forEach.call(ol.children, function (li) {
      var before = tops[li.dataset.id];
      if (before === undefined) { li.classList.add("enter"); return; }
      var delta = before - li.getBoundingClientRect().top;
      if (!delta) return;
      li.style.transition = "none";
      li.style.transform = "translateY(" + delta / currentScale() + "px)";
      void li.offsetWidth;
      li.style.transition = "";
      li.style.transform = "";
      li.classList.add(delta > 0 ? "climbed" : "dropped");
      setTimeout(function () { li.classList.remove("climbed", "dropped"); }, 1500);
    });
    var empty = ol.parentElement.querySelector(".empty");
    if (empty) empty.hidden = rows.length > 0;
  }
  function currentScale() {
    return stage.getBoundingClientRect().width / 1920 || 1;
  }

  function reportCard(r, fresh) {
    var li = WR.clone("tpl-report");
    li.dataset.id = String(r.id);
    var badge = WR.setField(li, "kind", WR.KIND_LABELS[r.kind] || r.kind);
    badge.className = "badge k-" + r.kind;
    WR.setField(li, "at", WR.hm(r.at));
    WR.setField(li, "text", masked ? WR.maskMoney(r.text) : r.text);
    if (fresh) li.classList.add("fresh");
    return li;
  }

  function renderReports() {
    var ol = document.getElementById("reports");
    ol.textContent = "";
    state.reports.slice(-6).reverse().forEach(function (r) { ol.appendChild(reportCard(r, false)); });
    renderFeedCount();
    ol.parentElement.querySelector(".empty").hidden = state.reports.length > 0;
  }

  /* The real number of reports (each carries its number `n`), not the feed's length. */
  function renderFeedCount() {
    var n = state.reports_total || 0;
    state.reports.forEach(function (r) { if (r.n > n) n = r.n; });
    document.getElementById("feed-count").textContent = Math.max(n, state.reports.length) + " 条";
  }

  function addReport(r) {
    if (state.reports.some(function (x) { return x.id === r.id; })) return;
    state.reports.push(r);
    if (state.reports.length > 10) state.reports.shift();
    var ol = document.getElementById("reports");
    ol.insertBefore(reportCard(r, true), ol.firstChild);
    while (ol.children.length > 6) ol.lastChild.remove();
    renderFeedCount();
    ol.parentElement.querySelector(".empty").hidden = true;
  }

  /* --- the stimulus banner and the red-packet rain ------------------------------------ */
  var bannerTimer = null;
  function showBanner(s, rain) {
    var banner = document.getElementById("banner");
    WR.setField(banner, "emoji", WR.ACTION_EMOJI[s.kind] || "📢");
    WR.setField(banner, "title", (WR.ACTION_TITLES[s.kind] || "福利") + " · " + WR.hm(s.at));
    WR.setField(banner, "text", s.text || "");
    WR.setField(banner, "amt", !masked && s.amount_fen ? WR.fmtWan(s.amount_fen) : "");
    banner.hidden = false;
    banner.classList.remove("pop");
    void banner.offsetWidth;
    banner.classList.add("pop");
    clearTimeout(bannerTimer);
    // A replay at 60x would keep a 25 s banner up for 25 campaign minutes.
    bannerTimer = setTimeout(function () { banner.hidden = true; }, replay ? 8000 : 25000);
    if (rain) makeItRain(s.kind === "red_packet_rain" ? 48 : 24);
  }

  function makeItRain(count) {
    var box = document.getElementById("rain");
    for (var i = 0; i < count; i++) {
      var p = document.createElement("span");
      p.className = "packet";
      p.style.left = Math.random() * 100 + "%";
      p.style.animationDelay = Math.random() * 3.5 + "s";
      p.style.animationDuration = 3 + Math.random() * 3 + "s";
      p.style.setProperty("--tilt", (Math.random() * 60 - 30) + "deg");
      p.style.setProperty("--size", (0.7 + Math.random() * 0.6).toFixed(2));
      box.appendChild(p);
    }
    setTimeout(function () { box.textContent = ""; }, 10500);
  }

  function recentStimulus() {
    var s = state.stimuli[state.stimuli.length - 1];
    if (!s) return null;
    var minutes = (Date.parse(state.campaign.now) - Date.parse(s.at)) / 60000;
    return minutes >= 0 && minutes <= 3 ? s : null;
  }

  /* --- the chart ------------------------------------------------------------------------ */
  var chartEl = document.getElementById("chart");
  var chartDirty = false;
  var chartAt = 0;
  var MIN = 60000;

  var wallFormat = new Intl.DateTimeFormat("en-CA", {
    timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
  });
  function wall(ms) {
    // Plotly's date axis is zone-less: draw the campaign's wall clock.
    var parts = {};
    wallFormat.formatToParts(new Date(ms)).forEach(function (p) { parts[p.type] = p.value; });
    var h = parts.hour === "24" ? "00" : parts.hour;
    return parts.year + "-" + parts.month + "-" + parts.day + " " + h + ":" + parts.minute + ":" + parts.second;
  }

  function drawChart() {
    if (!window.Plotly || !state) return;
    chartDirty = false;
    chartAt = Date.now();
    var starts = Date.parse(state.campaign.starts_at), ends = Date.parse(state.campaign.ends_at);
    var now = Date.parse(state.campaign.now);
    var byMinute = {};
    state.per_minute.forEach(function (r) { byMinute[Date.parse(r.minute)] = r.gmv_fen; });
    var scale = masked ? (base() ? 100 / base() : 0) : 1 / 1e6;
    var first = Math.min(starts, state.per_minute.length ? Date.parse(state.per_minute[0].minute) : starts);
    var last = Math.min(Math.max(now, first), ends + MIN);
    var x = [], bars = [], vel = [], cum = [];
    var win = (state.velocity && state.velocity.window_minutes) || 10;
    var ring = [], running = 0, total = 0;
    for (var m = first - (first % MIN); m <= last; m += MIN) {
      var v = byMinute[m] || 0;
      total += v;
      x.push(wall(m));
      bars.push(v * scale);
      cum.push(total * scale);
      ring.push(v);
      running += v;
      if (ring.length > win) running -= ring.shift();
      vel.push(m + MIN <= now ? (running / win) * scale : null); // complete minutes only
    }
    var goal = base();
    var traces = [
      { type: "bar", x: x, y: bars, name: "每分钟", marker: { color: "rgba(255,190,70,0.85)" }, yaxis: "y" },
      { type: "scatter", mode: "lines", x: x, y: vel, name: "速度", line: { color: "#4fd1ff", width: 3, shape: "spline" }, yaxis: "y" },
      { type: "scatter", mode: "lines", x: x, y: cum, name: "累计", line: { color: "#ff5a7a", width: 4 }, yaxis: "y2" }
    ];
    if (goal) {
      traces.push({
        type: "scatter", mode: "lines", x: [wall(starts), wall(ends)], y: [0, goal * scale],
        name: "目标进度", line: { color: "rgba(170,180,220,0.7)", width: 2, dash: "dash" }, yaxis: "y2"
      });
    }
    var shapes = [], notes = [];
    state.stimuli.forEach(function (s, i) {
      var at = wall(Date.parse(s.at));
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: at, x1: at, y0: 0, y1: 1, line: { color: "rgba(255,77,94,0.9)", width: 2, dash: "dot" } });
      notes.push({ // staggered, so fires close together stay readable
        xref: "x", yref: "paper", x: at, y: 1 - (i % 3) * 0.1, yanchor: "top", xanchor: "left", showarrow: false,
        text: (WR.ACTION_EMOJI[s.kind] || "📢") + " " + (WR.ACTION_TITLES[s.kind] || ""),
        font: { color: "#ffd2d7", size: 15 }, bgcolor: "rgba(200,30,50,0.75)", borderpad: 3
      });
    });
    var unit = masked ? "%" : "万";
    var layout = {
      width: chartEl.clientWidth, height: chartEl.clientHeight,
      margin: { l: 64, r: 70, t: 30, b: 36 },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "inherit", color: "#9fb0d0", size: 15 },
      showlegend: false, bargap: 0.15,
      xaxis: { type: "date", range: [wall(starts), wall(ends)], tickformat: "%H:%M", gridcolor: "rgba(255,255,255,0.05)", linecolor: "rgba(255,255,255,0.15)" },
      yaxis: { title: { text: "每分钟 (" + unit + ")", font: { size: 14 } }, gridcolor: "rgba(255,255,255,0.06)", zeroline: false, rangemode: "tozero" },
      yaxis2: { title: { text: "累计 (" + unit + ")", font: { size: 14 } }, overlaying: "y", side: "right", showgrid: false, zeroline: false, rangemode: "tozero" },
      shapes: shapes, annotations: notes
    };
    window.Plotly.react(chartEl, traces, layout, { staticPlot: true, displayModeBar: false });
  }
  setInterval(function () { if (chartDirty && Date.now() - chartAt >= 1000) drawChart(); }, 250);

  /* --- frames ------------------------------------------------------------------------- */
  function anchorClock(now) {
    clockAnchor = { campaignMs: Date.parse(now), at: Date.now() };
  }

  function renderAll() {
    var c = state.campaign;
    stage.dataset.starts = c.starts_at;
    stage.dataset.ends = c.ends_at;
    timeScale = c.time_scale || 1;
    WR.setField(document.getElementById("name"), "name", c.name);
    document.title = c.name + " · 作战大屏";
    renderRestoring();
    renderOps();
    renderHeadline();
    renderProgress();
    renderBudget();
    renderKpis();
    renderBoard("sellers", 10, false);
    renderBoard("groups", 5, true);
    renderBoard("products", 5, true);
    renderReports();
    chartDirty = true;
  }

  /* A replay's end: the final state stays up, the badge says so, and a link replays. */
  function replayEnded() {
    var badge = document.getElementById("replay-badge");
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
      anchorClock(f.campaign.now);
      renderAll();
      drawChart();
      var s = recentStimulus();
      if (s) showBanner(s, false);
      return;
    }
    if (!state) return;
    if (f.type === "update") {
      state.totals = f.totals;
      state.campaign.now = f.now;
      anchorClock(f.now);
      if (f.campaign) { state.campaign = f.campaign; renderAll(); }
      if (f.target) state.target = f.target;
      if (f.velocity) state.velocity = f.velocity;
      if (f.rules) state.rules = f.rules;
      if ("last_event_at" in f) state.last_event_at = f.last_event_at;
      if (f.reports_total) state.reports_total = f.reports_total;
      if ("restoring" in f) {
        var was = restoring();
        state.restoring = f.restoring;
        if (was && !restoring()) { renderAll(); } // figures are back: draw them all
      }
      renderRestoring();
      renderOps();
      if (f.stimuli) { state.stimuli = f.stimuli; renderBudget(); }
      if (f.per_minute) {
        var rows = {};
        state.per_minute.forEach(function (r) { rows[r.minute] = r; });
        f.per_minute.forEach(function (r) { rows[r.minute] = r; });
        state.per_minute = Object.keys(rows).sort(function (a, b) { return Date.parse(a) - Date.parse(b); })
          .map(function (k) { return rows[k]; });
      }
      renderHeadline();
      renderProgress();
      renderKpis();
      if (f.leaderboards) {
        Object.keys(f.leaderboards).forEach(function (b) { state.leaderboards[b] = f.leaderboards[b]; });
        if (f.leaderboards.sellers) renderBoard("sellers", 10, false);
        if (f.leaderboards.groups) renderBoard("groups", 5, true);
        if (f.leaderboards.products) renderBoard("products", 5, true);
      } else if (masked) {
        renderBoard("sellers", 10, false); // shares of a moving total
      }
      chartDirty = true;
    } else if (f.type === "report") {
      addReport(f.report);
    } else if (f.type === "stimulus") {
      if (!state.stimuli.some(function (x) { return x.id === f.stimulus.id; })) state.stimuli.push(f.stimulus);
      renderBudget();
      showBanner(f.stimulus, true);
      chartDirty = true;
    }
  }

  WR.screen = WR.connect({
    slug: stage.dataset.slug, lite: false, onFrame: onFrame, replay: replay,
    onStop: function (code) { if (code === 1000) replayEnded(); },
    // nothing has ever arrived: say so rather than a green "数据延迟 0.0 s"
    hasData: function () { return !state || !!state.last_event_at; }
  });
})();
