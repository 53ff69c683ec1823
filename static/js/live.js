/* The live socket, shared by the big screen and the host view: snapshot, then updates;
   a seq gap asks for a resync; reconnects with backoff and resyncs from a fresh
   snapshot; and the freshness figure + connection dot. */

const STALE_AFTER_MS = 12000; // the server sends an update at least every 5 s
const DEAD_AFTER_MS = 20000; // silent this long while "open": a half-open TCP, reconnect
const LAG_AMBER_MS = 5000; // events waiting this long for the workers: amber
// No event at all (not even chat) for this long during the sale: most likely the
// feed is broken, not the sale; say so, so nobody fires a stimulus at an outage.
const QUIET_AMBER_MS = parseInt(document.documentElement.dataset.quietMs, 10) || 60000;

const REPLAY_STOPPED = {
  1000: "回放结束", 4400: "回放速度不对（1–600）", 4409: "活动未收官，不能回放",
  4429: "回放人数已满，请稍后再试", 4401: "链接已失效（查看口令已更换）"
};

export function connect(opts) {
  var params = new URLSearchParams(location.search);
  var token = params.get("token") || "";
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/ws/campaigns/" + encodeURIComponent(opts.slug) + "?token=" + encodeURIComponent(token) +
    (opts.lite ? "&lite=1" : "") + (opts.masked ? "&mask=1" : "") +
    (opts.replay ? "&replay=" + encodeURIComponent(opts.replay) : "");
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
}
