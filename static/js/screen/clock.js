/* The header clock: before the doors a countdown to them, during the sale the
   campaign's wall clock (running at its time scale between frames), then 已收官. */
export function clock(stage, replay) {
  const fmtTime = new Intl.DateTimeFormat("zh-CN", {
    timeZone: stage.dataset.tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
  });
  let anchor = { campaignMs: Date.parse(stage.dataset.now), at: Date.now() };
  let timeScale = parseFloat(stage.dataset.scale) || 1;

  function hms(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return String(h).padStart(2, "0") + ":" + String(m).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  }
  function campaignNow() {
    return anchor.campaignMs + (Date.now() - anchor.at) * timeScale;
  }
  function tick() {
    const now = campaignNow();
    const starts = Date.parse(stage.dataset.starts), ends = Date.parse(stage.dataset.ends);
    let phase, main, sub;
    if (now < starts) {
      phase = "距开场"; main = hms(starts - now); sub = "开场 " + fmtTime.format(new Date(starts)).substring(0, 5);
    } else if (now < ends) {
      phase = replay ? "回放中" : "进行中"; main = fmtTime.format(new Date(now)); sub = "距收官 " + hms(ends - now);
    } else {
      phase = "已收官"; main = fmtTime.format(new Date(ends)); sub = "感谢每一位团长";
    }
    const liveTag = document.getElementById("live-tag");
    if (liveTag) liveTag.hidden = now >= ends; // 已收官 is not live (a replay has none)
    document.getElementById("phase").textContent = phase;
    document.getElementById("phase").className = "phase " +
      (now < starts ? "pre" : now >= ends ? "post" : replay ? "replay" : "on");
    document.getElementById("clock").textContent = main;
    document.getElementById("countdown").textContent = sub;
  }
  setInterval(tick, 250);
  tick();
  return {
    anchor(now) { anchor = { campaignMs: Date.parse(now), at: Date.now() }; },
    scale(s) { timeScale = s || 1; }
  };
}
