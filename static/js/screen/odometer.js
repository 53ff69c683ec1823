/* The headline figure. It used to roll each digit on a strip (a photo of the wall caught
   half-rolled digits in 7 frames of 8): now the text changes at once, whole, and a
   brief glow (colour only, nothing moves) says it changed. */
export function odometer(el) {
  let timer = null;
  return {
    set(text, fen) {
      el.dataset.fen = String(fen);
      el.setAttribute("aria-label", text);
      if (el.textContent === text) return;
      el.textContent = text;
      el.classList.remove("changed");
      void el.offsetWidth; // restart the glow
      el.classList.add("changed");
      clearTimeout(timer);
      timer = setTimeout(function () { el.classList.remove("changed"); }, 900);
    },
    /* kept for the callers: there is no strip to rebuild any more */
    reset() {}
  };
}
