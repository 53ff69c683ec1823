"""Does anything visible on a page cover anything else? Bounding boxes, not eyes.

    found = await overlaps(page, blocks=".panel, .banner")
    assert found == [], found

Two kinds of boxes are compared, each pair whose elements are not one inside the other:

- leaves: every run of visible text (one box per line, from a Range over the element's
  own text nodes, so a wide block with a short word is only as wide as the word; as
  tall as its glyphs, 0.9em about the line's middle, not the font's taller content
  box, which neighbouring lines share by design), and
  every replaced or opaque element (img, svg, canvas, input, select, button, a Plotly
  chart: `opaque` selectors, whose insides are not looked into);
- blocks: the page's meaningful containers, given by a selector (panels, cards, the
  banner...), as whole boxes.

A box counts only where it can be seen: inside the viewport and inside every ancestor
that clips (overflow other than visible); an element that is hidden, display:none,
visibility:hidden, opacity 0 or under an aria-hidden ancestor (decoration, such as the
red-packet rain) counts not at all. Two boxes overlap when they share more than `slack`
pixels both ways (text content boxes may touch across tight line heights). A line of
text that a clipping ancestor cuts (a panel too small for it) is reported as `cut`.

`clipped(page, selector)` lists the elements whose text is cut: an ellipsis, a line
clamp, or a box that hides what does not fit."""

from __future__ import annotations

from typing import Any

OPAQUE = "img, svg, canvas, video, input, select, textarea, button, .js-plotly-plot"

_JS = r"""
([blocksSel, opaqueSel, slack]) => {
  const vw = window.innerWidth, vh = window.innerHeight;
  function inter(a, b) {
    const l = Math.max(a.left, b.left), t = Math.max(a.top, b.top);
    const r = Math.min(a.right, b.right), bt = Math.min(a.bottom, b.bottom);
    return r > l && bt > t ? { left: l, top: t, right: r, bottom: bt } : null;
  }
  function shown(el) {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      if (e.hidden || e.getAttribute("aria-hidden") === "true") return false;
      const cs = getComputedStyle(e);
      if (cs.display === "none" || cs.visibility === "hidden" || parseFloat(cs.opacity) === 0) return false;
    }
    return true;
  }
  /* the part of rect r that can be seen: the viewport and every clipping ancestor */
  function visible(el, r, self, cutsOnly) {
    let box = inter(r, { left: 0, top: 0, right: vw, bottom: vh });
    for (let e = self ? el : el.parentElement; e && box; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cutsOnly && cs.textOverflow === "ellipsis") continue; // says so: "…"
      if (cs.overflowX !== "visible" || cs.overflowY !== "visible") {
        box = inter(box, e.getBoundingClientRect());
      }
    }
    return box;
  }
  function name(el) {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (el.classList.length) s += "." + Array.from(el.classList).join(".");
    const text = (el.textContent || "").trim().slice(0, 24);
    return text ? s + " '" + text + "'" : s;
  }
  const found = [];
  const leaves = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT);
  for (let el = walker.currentNode; el; el = walker.nextNode()) {
    if (el.tagName === "SCRIPT" || el.tagName === "STYLE" || el.tagName === "TEMPLATE") continue;
    if (el.closest("template")) continue;
    const opaque = el.matches(opaqueSel);
    if (opaque && el.parentElement && el.parentElement.closest(opaqueSel)) continue;
    if (!opaque && el.closest(opaqueSel)) continue;
    if (!shown(el)) continue;
    const boxes = [];
    if (opaque) {
      const v = visible(el, el.getBoundingClientRect());
      if (v) boxes.push(v);
    } else {
      // a line's content box is taller than its glyphs (CJK fonts: ~1.45em); the ink
      // is ~0.9em about its middle, scaled with the element (the wall is scaled)
      const ink = parseFloat(getComputedStyle(el).fontSize) * 0.9 *
        (el.getBoundingClientRect().height / (el.offsetHeight || 1) || 1);
      for (const n of el.childNodes) {
        if (n.nodeType !== 3 || !n.textContent.trim()) continue;
        const range = document.createRange();
        range.selectNodeContents(n);
        for (const c of range.getClientRects()) {
          if (c.width < 1 || c.height < 1) continue;
          const mid = (c.top + c.bottom) / 2, h = Math.min(c.height, ink) / 2;
          const r = { left: c.left, right: c.right, top: mid - h, bottom: mid + h };
          // cut by a panel's edge (an ellipsis of its own is not a cut)
          const seen = visible(el, r, false, true);
          if (!seen || seen.right - seen.left < r.right - r.left - slack ||
              seen.bottom - seen.top < r.bottom - r.top - slack) {
            found.push("cut: " + name(el));
          }
          const v = visible(el, r, true); // its own overflow clips its text
          if (v) boxes.push(v);
        }
      }
    }
    if (boxes.length) leaves.push({ el: el, boxes: boxes });
  }
  const blocks = [];
  if (blocksSel) {
    document.querySelectorAll(blocksSel).forEach(function (el) {
      if (!shown(el)) return;
      const v = visible(el, el.getBoundingClientRect());
      if (v) blocks.push({ el: el, boxes: [v] });
    });
  }
  function compare(list, kind) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i], b = list[j];
        if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
        for (const ra of a.boxes) {
          let hit = null;
          for (const rb of b.boxes) {
            const x = inter(ra, rb);
            if (x && x.right - x.left > slack && x.bottom - x.top > slack) { hit = x; break; }
          }
          if (hit) {
            found.push(kind + ": " + name(a.el) + " × " + name(b.el) + " at " +
              [hit.left, hit.top, hit.right - hit.left, hit.bottom - hit.top].map(Math.round).join(","));
            break;
          }
        }
      }
    }
  }
  compare(leaves, "text");
  compare(blocks, "block");
  return found;
}
"""

_CLIPPED = r"""
(sel) => Array.from(document.querySelectorAll(sel)).filter(function (el) {
  if (el.closest("[hidden]") || !el.getClientRects().length) return false;
  // content that spills (overflow visible) is not cut: overlaps() catches where it lands
  const cs = getComputedStyle(el);
  const clamp = cs.webkitLineClamp && cs.webkitLineClamp !== "none";
  return (cs.overflowX !== "visible" && el.scrollWidth > el.clientWidth + 1) ||
    ((cs.overflowY !== "visible" || clamp) && el.scrollHeight > el.clientHeight + 1);
}).map(function (el) { return (el.id || el.className) + " '" + el.textContent.trim().slice(0, 30) + "'"; })
"""


async def overlaps(
    page: Any, blocks: str = "", opaque: str = OPAQUE, slack: float = 3.0
) -> list[str]:
    """Each pair of visible leaves (text, replaced elements) or `blocks` that overlap,
    and each line of text a clipping ancestor cuts."""
    found: list[str] = await page.evaluate(_JS, [blocks, opaque, slack])
    return found


async def clipped(page: Any, selector: str) -> list[str]:
    """The elements matching `selector` whose content does not fit their box."""
    cut: list[str] = await page.evaluate(_CLIPPED, selector)
    return cut
