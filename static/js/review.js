/* The retrospective page: the day's curve and the membership chart, print. Both
   figures are built by the server (warroom/web/pages/chart.py) and come in the page's
   own JSON block; here they are only fitted to their boxes and drawn. */
const PHONE_PX = 720; // the CSS's one-column break (static/css/review.css)
const printBtn = document.getElementById("print");
if (printBtn) printBtn.addEventListener("click", function () { window.print(); });

const dataEl = document.getElementById("chart-data");
if (dataEl && window.Plotly) draw(JSON.parse(dataEl.textContent));

// On a phone the desktop margins would leave the plot a sliver: tighter margins,
// smaller type, the axis titles dropped (the card's hint says what each line is).
function fitted(layout, el) {
  const out = Object.assign({}, layout, { width: el.clientWidth, height: el.clientHeight });
  if (window.innerWidth > PHONE_PX) return out;
  out.margin = { l: 36, r: 40, t: 28, b: 30 };
  out.font = Object.assign({}, layout.font, { size: 11 });
  ["yaxis", "yaxis2"].forEach(function (axis) {
    if (layout[axis]) out[axis] = Object.assign({}, layout[axis], { title: { text: "" } });
  });
  if (layout.xaxis) out.xaxis = Object.assign({}, layout.xaxis, { nticks: 5 });
  // the legend wraps to several lines on a phone: below the plot, not over it
  out.legend = Object.assign({}, layout.legend, { orientation: "h", x: 0, y: -0.14, yanchor: "top" });
  out.margin.b = 56;
  const range = (layout.xaxis && layout.xaxis.range || []).map(when);
  if (layout.annotations) {
    out.annotations = layout.annotations.map(function (a) {
      // a label near the right edge reads leftwards, so it stays inside the plot
      const late = range.length === 2 && when(a.x) > range[0] + (range[1] - range[0]) * 0.6;
      // and a milestone says only its amount ("◆ 里程碑 30万" → "◆ 30万"): the hint names ◆
      const text = String(a.text).replace(/^◆ \S+ /, "◆ ");
      return Object.assign({}, a, { text: text, font: Object.assign({}, a.font, { size: 10 }),
                                    xanchor: late ? "right" : a.xanchor });
    });
  }
  return out;
}

function when(wall) { return Date.parse(String(wall).replace(" ", "T")); }

function draw(figures) {
  const printing = window.matchMedia && window.matchMedia("print").matches;
  const boxes = { curve: document.getElementById("curve"), members: document.getElementById("members-chart") };
  const drawn = [];
  Object.keys(boxes).forEach(function (name) {
    const el = boxes[name];
    const fig = figures[name];
    if (!el || !fig) return;
    const config = Object.assign({}, fig.config, { staticPlot: printing, responsive: false });
    window.Plotly.newPlot(el, fig.data, fitted(fig.layout, el), config);
    drawn.push({ el: el, fig: fig, config: config });
  });
  // A turned phone or a resized window: drawn again at the box's new size (a redraw,
  // not a relayout, so the phone's tighter layout comes and goes with the width).
  let pending = 0;
  let lastWidth = window.innerWidth;
  window.addEventListener("resize", function () {
    if (window.innerWidth === lastWidth) return; // a phone's toolbar showing or hiding
    lastWidth = window.innerWidth;
    clearTimeout(pending);
    pending = setTimeout(function () {
      drawn.forEach(function (d) { window.Plotly.react(d.el, d.fig.data, fitted(d.fig.layout, d.el), d.config); });
    }, 150);
  });
  window.addEventListener("beforeprint", function () {
    drawn.forEach(function (d) { window.Plotly.relayout(d.el, { width: 680 }); });
  });
  window.addEventListener("afterprint", function () {
    drawn.forEach(function (d) { window.Plotly.relayout(d.el, { width: d.el.clientWidth }); });
  });
}
