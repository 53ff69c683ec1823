/* A leaderboard: rows keyed by id, filled from the row template. A row that changed
   place takes its new place at once and glows (background only): a sliding row
   overlapped its neighbours or vanished in a photo of the wall. `money` formats an
   amount (or a share, on a masked screen). */
import { clone, setField } from "../lib/dom.js";
import { move, num } from "../lib/format.js";

function glow(li, cls) {
  li.classList.remove("enter", "climbed", "dropped");
  void li.offsetWidth; // restart it
  li.classList.add(cls);
  clearTimeout(li._glow);
  li._glow = setTimeout(function () { li.classList.remove(cls); }, 1500);
}

export function renderBoard(stage, name, rows, compact, money) {
  const ol = document.getElementById("board-" + name);
  const old = {};
  const places = {};
  Array.prototype.forEach.call(ol.children, function (li, i) {
    old[li.dataset.id] = li;
    places[li.dataset.id] = i;
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
  Array.prototype.forEach.call(ol.children, function (li, i) {
    const before = places[li.dataset.id];
    if (before === undefined) { glow(li, "enter"); return; }
    if (before !== i) glow(li, before > i ? "climbed" : "dropped");
  });
  const empty = ol.parentElement.querySelector(".empty");
  if (empty) empty.hidden = rows.length > 0;
}
