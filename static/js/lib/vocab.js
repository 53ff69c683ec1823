/* The page's vocabulary: labels, emoji, arrows and money units, rendered by the server
   from warroom/web/pages/vocab.py into a JSON data block (CSP allows data, not inline
   scripts). Nothing here is a copy: every word comes from that block. */
const block = document.getElementById("vocab");

export const vocab = block ? JSON.parse(block.textContent) : null;
