/* Shared by the big screen and the host view: formatting (mirrors warroom/web/pages/screen_view.py
   and warroom/core/ingest/money.py, so live updates read exactly like the first render), the
   live socket (snapshot, then updates; a seq gap asks for a resync; reconnects with
   backoff and resyncs from a fresh snapshot), and the freshness figure + connection dot.
   Names only ever reach the page through textContent. */
(function () {
  "use strict";
  var WR = (window.WR = window.WR || {});
  var FEN_PER_WAN = 1000000;

  function groupThousands(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  WR.fmtYuan = function (fen) {
    fen = Math.trunc(fen || 0);
    var sign = fen < 0 ? "-" : "";
    var abs = Math.abs(fen);
    var yuan = Math.floor(abs / 100);
    var cents = abs % 100;
    return sign + "¥" + groupThousands(yuan) + (cents ? "." + String(cents).padStart(2, "0") : "");
  };

  /* keepZeros: "¥135.10万", not "¥135.1万", so a rolling counter keeps its shape and
     does not rebuild (and roll in from 0) whenever the last digit is 0. */
  WR.fmtWan = function (fen, decimals, keepZeros) {
    fen = fen || 0;
    if (Math.abs(fen) < FEN_PER_WAN) return WR.fmtYuan(fen);
    var text = (fen / FEN_PER_WAN).toFixed(decimals === undefined ? 2 : decimals);
    if (!keepZeros) text = text.replace(/0+$/, "").replace(/\.$/, "");
    return "¥" + text + "万";
  };

  /* A gap between two ranks: whole yuan (cents are noise from 5 m away). */
  WR.fmtGap = function (fen) {
    fen = Math.trunc(fen || 0);
    return WR.fmtWan(fen - (fen % 100));
  };

  WR.fmtNum = function (n) {
    return groupThousands(Math.trunc(n || 0));
  };

  WR.fmtPct = function (fraction, digits) {
    if (fraction === null || fraction === undefined) return "—";
    return (fraction * 100).toFixed(digits === undefined ? 1 : digits) + "%";
  };

  /* "2026-11-11T10:05:00+08:00" is already in the campaign's zone: its wall clock. */
  WR.hm = function (text) {
    return text ? text.substring(11, 16) : "—";
  };

  WR.move = function (row) {
    var prev = row.prev_rank, rank = row.rank;
    if (prev === null || prev === undefined) return { cls: "new", text: "新" };
    if (prev > rank) return { cls: "up", text: "▲" + (prev - rank) };
    if (prev < rank) return { cls: "down", text: "▼" + (rank - prev) };
    return { cls: "same", text: "–" };
  };

  var MONEY = /[¥￥][ \t]?[\d,]+(?:\.\d+)?[ \t]*万?/g; // never eats a line break
  WR.maskMoney = function (text) {
    return String(text || "").replace(MONEY, "¥•••");
  };

  WR.KIND_LABELS = {
    milestone: "里程碑", target_base: "基础目标达成", target_stretch: "冲刺目标达成",
    scheduled: "定时战报", top: "TOP 榜单", stimulus: "福利播报", final: "收官战报"
  };
  WR.ACTION_TITLES = { red_packet_rain: "红包雨", buy_n_gift: "买赠福利", announcement: "重磅通知" };
  WR.ACTION_EMOJI = { red_packet_rain: "🧧", buy_n_gift: "🎁", announcement: "📢" };

  /* Fill [data-f=name] fields of a cloned row: text only, never markup. */
  WR.setField = function (root, name, text) {
    var el = root.querySelector('[data-f="' + name + '"]');
    if (el && el.textContent !== text) el.textContent = text;
    return el;
  };

  WR.clone = function (templateId) {
    return document.getElementById(templateId).content.firstElementChild.cloneNode(true);
  };

  /* --- the live socket ------------------------------------------------------------- */

  var STALE_AFTER_MS = 12000; // the server sends an update at least every 5 s
  var DEAD_AFTER_MS = 20000; // silent this long while "open": a half-open TCP, reconnect
  var LAG_AMBER_MS = 5000; // events waiting this long for the workers: amber
  // No event at all (not even chat) for this long during the sale: most likely the
  // feed is broken, not the sale; say so, so nobody fires a stimulus at an outage.
  var QUIET_AMBER_MS = parseInt(document.documentElement.dataset.quietMs, 10) || 60000;

  var REPLAY_STOPPED = {
    1000: "回放结束", 4400: "回放速度不对（1–600）", 4409: "活动未收官，不能回放",
    4429: "回放人数已满，请稍后再试"
  };

  WR.connect = function (opts) {
    var params = new URLSearchParams(location.search);
    var token = params.get("token") || "";
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
      "/ws/campaigns/" + encodeURIComponent(opts.slug) + "?token=" + encodeURIComponent(token) +
      (opts.lite ? "&lite=1" : "") + (opts.replay ? "&replay=" + encodeURIComponent(opts.replay) : "");
    var ws = null;
    var lastSeq = null;
    var waitingSnapshot = true;
    var backoff = 500;
    var lastFrameAt = 0;
    var lagMs = null;
    var behindMs = 0;
    var idleMs = null;
    var delayed = null; // the server says figures cannot move now (e.g. "redis_oom")
    var connects = 0;
    var stopped = null; // a replay that ended or was refused: {code}; never reconnect
    var fresh = document.getElementById("fresh");
    var dot = document.getElementById("dot");

    function open() {
      connects += 1;
      waitingSnapshot = true;
      lastSeq = null;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        schedule();
        return;
      }
      ws.onmessage = function (ev) {
        var frame;
        try { frame = JSON.parse(ev.data); } catch (e) { return; }
        lastFrameAt = Date.now();
        if (frame.fresh) {
          lagMs = frame.fresh.lag_ms;
          behindMs = frame.fresh.behind_ms || 0;
          idleMs = frame.fresh.ingest_idle_ms;
          delayed = frame.fresh.delayed || null;
        }
        if (frame.type === "snapshot") {
          waitingSnapshot = false;
          backoff = 500;
        } else if (waitingSnapshot) {
          return; // a resync is on its way; this frame is already inside it
        } else if (lastSeq !== null && frame.seq !== lastSeq + 1) {
          waitingSnapshot = true; // a gap: ask for the whole state again
          if (ws.readyState === 1) ws.send('{"type":"resync"}');
          return;
        }
        lastSeq = frame.seq;
        document.documentElement.dataset.seq = String(frame.seq);
        try { opts.onFrame(frame); } catch (e) { if (window.console) console.error(e); }
        tick();
      };
      ws.onclose = function (ev) {
        ws = null;
        // A replay closes with 1000 at its end and 44xx when refused: reconnecting
        // would start it over (or be refused again).
        if (opts.replay && (ev.code === 1000 || ev.code >= 4000)) {
          stopped = { code: ev.code };
          tick();
          if (opts.onStop) opts.onStop(ev.code);
          return;
        }
        tick();
        schedule();
      };
      ws.onerror = function () { /* onclose follows */ };
    }

    function schedule() {
      var wait = backoff + Math.random() * 300;
      backoff = Math.min(backoff * 2, 8000);
      setTimeout(open, wait);
    }

    function tick() {
      var now = Date.now();
      var state;
      var silentFor = now - lastFrameAt;
      var quietFor = idleMs === null || idleMs === undefined ? 0 : idleMs + silentFor;
      if (!ws || ws.readyState !== 1 || waitingSnapshot) {
        state = "down";
      } else if (delayed || silentFor > STALE_AFTER_MS || behindMs > LAG_AMBER_MS || quietFor > QUIET_AMBER_MS) {
        state = "stale";
      } else {
        state = "live";
      }
      // Connected, but not one event has ever arrived: no figure to be fresh about.
      var noData = state === "live" && opts.hasData && !opts.hasData();
      if (ws && ws.readyState === 1 && lastFrameAt && silentFor > DEAD_AFTER_MS) {
        ws.close(); // nothing heard for too long: drop it and reconnect
      }
      var shown = noData ? "idle" : state; // grey, not green: there is nothing to be fresh
      if (stopped) { state = "stopped"; shown = "idle"; }
      if (dot) dot.className = "dot " + shown;
      document.documentElement.dataset.conn = state;
      if (fresh) {
        var text;
        if (stopped) text = REPLAY_STOPPED[stopped.code] || "回放已停止";
        else if (state === "down") text = connects > 1 ? "重新连接中…" : "连接中…";
        else if (opts.replay) text = "回放中 · 账本数据"; // no ingest to lag or fall silent
        else if (delayed) text = "数据延迟：统计暂停，数字未更新";
        else if (noData) text = "暂无数据";
        else if (silentFor > STALE_AFTER_MS) text = "数据延迟 >" + Math.round(silentFor / 1000) + " s";
        else if (quietFor > QUIET_AMBER_MS) text = "无新数据 " + Math.round(quietFor / 1000) + " s";
        else if (lagMs === null || lagMs === undefined) text = "数据延迟 — s";
        else text = "数据延迟 " + (lagMs / 1000).toFixed(1) + " s";
        if (fresh.textContent !== text) fresh.textContent = text;
        fresh.className = "fresh " + shown;
      }
      if (opts.onTick) opts.onTick(state);
    }

    setInterval(tick, 500);
    open();
    return {
      resync: function () {
        if (ws && ws.readyState === 1) { waitingSnapshot = true; ws.send('{"type":"resync"}'); }
      }
    };
  };
})();
