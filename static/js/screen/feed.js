/* The 战报 column shows whole posts: every card its full text, and only as many cards
   as fit whole (the newest first). A card cut after two lines, or cut by the column's
   edge, is what a photo of the wall must never show. The newest card alone taller
   than the column is the one exception: it is clamped, and says so. */
export function fitReports(ol) {
  const cards = Array.prototype.slice.call(ol.children);
  cards.forEach(function (li) { li.hidden = false; li.classList.remove("clamped"); });
  const bottom = ol.getBoundingClientRect().bottom;
  let full = false;
  cards.forEach(function (li, i) {
    if (full) { li.hidden = true; return; }
    if (li.getBoundingClientRect().bottom > bottom + 0.5) {
      if (i === 0) li.classList.add("clamped");
      else { li.hidden = true; full = true; }
    }
  });
}
