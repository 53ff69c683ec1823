/* The chart: its figure (traces, axes, colours, annotations, and the velocity series)
   is built by the server (warroom/web/pages/chart.py); here it is only fitted to its
   box and drawn with Plotly.react. The first figure comes with the page; after a frame
   moves it, the page fetches the new one, at most once a second. */
export function chart(el, url) {
  let dirty = false;
  let busy = false;
  let at = 0;
  let last = null;

  function draw(fig) {
    if (!window.Plotly || !fig) return;
    last = fig;
    if (!el.clientWidth || !el.clientHeight) return;
    const layout = Object.assign({}, fig.layout, { width: el.clientWidth, height: el.clientHeight });
    window.Plotly.react(el, fig.data, layout, fig.config);
  }

  function refresh() {
    dirty = false;
    busy = true;
    at = Date.now();
    fetch(url(), { cache: "no-store", credentials: "same-origin" })
      .then(function (res) { if (!res.ok) throw new Error(res.status); return res.json(); })
      .then(draw)
      .catch(function () { /* keep the last figure; the next frame asks again */ })
      .finally(function () { busy = false; });
  }

  // the box narrows for the 冷群提醒 card and shortens for a stimulus banner
  let size = "";
  new ResizeObserver(function () {
    const next = el.clientWidth + "x" + el.clientHeight;
    if (next !== size && last) { size = next; draw(last); }
  }).observe(el);
  setInterval(function () { if (dirty && !busy && Date.now() - at >= 1000) refresh(); }, 250);
  draw(el.dataset.figure ? JSON.parse(el.dataset.figure) : null);
  delete el.dataset.figure; // read once: the page keeps no second copy
  return { touch() { dirty = true; } };
}
