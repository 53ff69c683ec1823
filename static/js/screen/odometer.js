/* The headline's rolling counter: one strip of 0-9 per digit, moved by transform. */
export function odometer(el) {
  let shape = null;
  return {
    set(text, fen) {
      el.dataset.fen = String(fen);
      el.setAttribute("aria-label", text);
      const next = text.replace(/\d/g, "0");
      if (next !== shape) {
        shape = next;
        el.textContent = "";
        for (const ch of text) {
          if (/\d/.test(ch)) {
            const col = document.createElement("span");
            col.className = "odo-digit";
            const strip = document.createElement("span");
            strip.className = "odo-strip";
            for (let d = 0; d <= 9; d++) {
              const cell = document.createElement("span");
              cell.textContent = String(d);
              strip.appendChild(cell);
            }
            col.appendChild(strip);
            el.appendChild(col);
          } else {
            const fixed = document.createElement("span");
            fixed.className = "odo-char";
            fixed.textContent = ch;
            el.appendChild(fixed);
          }
        }
        void el.offsetWidth; // start from 0 so the first value rolls in
      }
      const strips = el.querySelectorAll(".odo-strip");
      let k = 0;
      for (const ch of text) {
        if (/\d/.test(ch)) {
          strips[k].style.transform = "translateY(" + (-Number(ch)) + "em)";
          k++;
        }
      }
    },
    /* the next value rebuilds the strips (after the counter showed other text) */
    reset() { shape = null; }
  };
}
