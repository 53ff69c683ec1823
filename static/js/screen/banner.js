/* The stimulus banner and the red-packet rain. */
import { setField } from "../lib/dom.js";
import { actionEmoji, actionTitle, hm, wan } from "../lib/format.js";

let bannerTimer = null;

function makeItRain(count) {
  const box = document.getElementById("rain");
  for (let i = 0; i < count; i++) {
    const p = document.createElement("span");
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

export function showBanner(s, rain, opts) {
  const banner = document.getElementById("banner");
  setField(banner, "emoji", actionEmoji(s.kind));
  setField(banner, "title", actionTitle(s.kind) + " · " + hm(s.at));
  setField(banner, "text", s.text || "");
  setField(banner, "amt", !opts.masked && s.amount_fen ? wan(s.amount_fen) : "");
  banner.hidden = false;
  banner.classList.remove("pop");
  void banner.offsetWidth;
  banner.classList.add("pop");
  clearTimeout(bannerTimer);
  // A replay at 60x would keep a 25 s banner up for 25 campaign minutes.
  bannerTimer = setTimeout(function () { banner.hidden = true; }, opts.replay ? 8000 : 25000);
  if (rain) makeItRain(s.kind === "red_packet_rain" ? 48 : 24);
}
