/* A leaderboard: rows keyed by id, filled from the row template; moved rows slide to
   their new place (FLIP). `money` formats an amount (or a share, on a masked screen). */
import { clone, setField } from "../lib/dom.js";
import { move, num } from "../lib/format.js";

function currentScale(stage) {
  return stage.getBoundingClientRect().width / 1920 || 1;
}

export function renderBoard(stage, name, rows, compact, money) {
  const ol = document.getElementById("board-" + name);
  const old = {};
  const tops = {};
  Array.prototype.forEach.call(ol.children, function (li) {
    old[li.dataset.id] = li;
    tops[li.dataset.id] = li.getBoundingClientRect().top;
  });
  const seen = {};
  rows.forEach(function (r, i) {
    const li = old[r.id] || clone(compact ? "tpl-row-compact" : "tpl-row");
    li.dataset.id = r.id;
    seen[r.id] = true;
    const rank = setField(li, "rank", String(r.rank));
    rank.className = "rank r" + r.rank;
    const mv = move(r);
    const moveEl = setField(li, "move", mv.text);
    moveEl.className = "move " + mv.cls;
    setField(li, "name", r.name);
    setField(li, "amt", money("share" in r ? r.share : r.net_gmv_fen));
    setField(li, "orders", num(r.orders) + " 单");
    if (!compact) {
      const prev = i > 0 ? rows[i - 1] : null;
      setField(li, "gap", prev ? "距上一名 " + money("share" in r ? (prev.share || 0) - (r.share || 0) : prev.net_gmv_fen - r.net_gmv_fen, true) : r.rank === 1 ? "领跑中" : "");
    }
    if (ol.children[i] !== li) ol.insertBefore(li, ol.children[i] || null);
  });
  Object.keys(old).forEach(function (id) { if (!seen[id]) old[id].remove(); });
  Array.prototype.forEach.call(ol.children, function (li) {
    const before = tops[li.dataset.id];
    if (before === undefined) { li.classList.add("enter"); return; }
    const delta = before - li.getBoundingClientRect().top;
    if (!delta) return;
    li.style.transition = "none";
    li.style.transform = "translateY(" + delta / currentScale(stage) + "px)";
    void li.offsetWidth;
    li.style.transition = "";
    li.style.transform = "";
    li.classList.add(delta > 0 ? "climbed" : "dropped");
    setTimeout(function () { li.classList.remove("climbed", "dropped"); }, 1500);
  });
  const empty = ol.parentElement.querySelector(".empty");
  if (empty) empty.hidden = rows.length > 0;
}
