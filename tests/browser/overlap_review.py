"""Does anything on a page cover anything else? Measured from the layout (bounding
boxes), not judged by eye: for the review page and the console (issue 23).

What is compared: every run of text, one box per line it occupies (a Range over the
text node, so a wrapped name is its lines, not the rectangle around them), and every
block that is drawn rather than written: images, SVG (a Plotly chart is one block),
canvases, form controls, buttons, and whatever `blocks` names (bars, tracks). Text
inside such a block belongs to it. Each box is cut to what its scrolling or clipping
ancestors show (an ellipsis, a table scrolled inside its card), and a line box is
trimmed top and bottom to the middle of its glyphs, since a font's content area is
taller than tight line heights and touching lines are not covering ones. Two boxes
overlap when they share more than `tolerance` px both ways."""

from __future__ import annotations

from typing import Any

_JS = r"""
([blocks, tolerance]) => {
  const ATOMIC = "img, svg, canvas, video, iframe, input, select, textarea, button, .btn, "
    + "summary, .js-plotly-plot" + (blocks ? ", " + blocks : "");
  const units = [];
  const visible = (el) => el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  const clipOf = (el) => {
    // what the ancestors that clip let through, in viewport coordinates
    let box = { l: -1e9, t: -1e9, r: 1e9, b: 1e9 };
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX !== "visible" || cs.overflowY !== "visible") {
        const r = a.getBoundingClientRect();
        if (cs.overflowX !== "visible") { box.l = Math.max(box.l, r.left); box.r = Math.min(box.r, r.right); }
        if (cs.overflowY !== "visible") { box.t = Math.max(box.t, r.top); box.b = Math.min(box.b, r.bottom); }
      }
    }
    return box;
  };
  const cut = (r, c) => ({ l: Math.max(r.left, c.l), t: Math.max(r.top, c.t),
                           r: Math.min(r.right, c.r), b: Math.min(r.bottom, c.b) });
  const name = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) {
      let p = e.tagName.toLowerCase();
      if (e.id) { parts.unshift(p + "#" + e.id); break; }
      if (e.classList.length) p += "." + [...e.classList].slice(0, 2).join(".");
      parts.unshift(p);
    }
    return parts.join(" > ");
  };
  const add = (owner, rect, clip, what) => {
    const b = cut(rect, clip);
    if (b.r - b.l > 0.5 && b.b - b.t > 0.5) units.push({ owner, b, what });
  };
  const atoms = [...document.body.querySelectorAll(ATOMIC)].filter(
    (el) => visible(el) && !el.parentElement.closest(ATOMIC));
  for (const el of atoms) add(el, el.getBoundingClientRect(), clipOf(el), name(el));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest(ATOMIC) || el.closest("script, style, template")) continue;
    if (!visible(el)) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const clip = clipOf(n);
    for (const r of range.getClientRects()) {
      const trim = r.height * 0.15;
      add(el, { left: r.left, right: r.right, top: r.top + trim, bottom: r.bottom - trim }, clip,
          name(el) + " “" + n.textContent.trim().slice(0, 24) + "”");
    }
  }
  const out = [];
  for (let i = 0; i < units.length; i++) {
    for (let j = i + 1; j < units.length; j++) {
      const a = units[i], b = units[j];
      if (a.owner === b.owner) continue;  // one element's own lines
      if (a.owner.contains(b.owner) || b.owner.contains(a.owner)) {
        // text beside a child in one paragraph never covers it unless a box is moved
        if (getComputedStyle(a.owner).position === "static" && getComputedStyle(b.owner).position === "static") continue;
      }
      const w = Math.min(a.b.r, b.b.r) - Math.max(a.b.l, b.b.l);
      const h = Math.min(a.b.b, b.b.b) - Math.max(a.b.t, b.b.t);
      if (w > tolerance && h > tolerance) {
        out.push([a.what, b.what, Math.round(w), Math.round(h)]);
        if (out.length >= 20) return out;
      }
    }
  }
  return out;
}
"""


async def overlaps(page: Any, blocks: str = "", tolerance: float = 1.0) -> list[list[Any]]:
    """Pairs of boxes on `page` that cover each other: [what, what, width, height]
    (the first 20). An empty list is the page at rest with nothing covered."""
    return list(await page.evaluate(_JS, [blocks, tolerance]))


async def h_overflow(page: Any) -> tuple[int, int]:
    """(document scroll width, viewport width): the page scrolls sideways when the
    first is larger."""
    got = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return int(got[0]), int(got[1])
