/* The retrospective page: the day's curve and the membership chart, print. Both
   figures are built by the server (warroom/web/pages/chart.py) and come in the page's
   own JSON block; here they are only fitted to their boxes and drawn. */
const printBtn = document.getElementById("print");
if (printBtn) printBtn.addEventListener("click", function () { window.print(); });

const dataEl = document.getElementById("chart-data");
if (dataEl && window.Plotly) draw(JSON.parse(dataEl.textContent));

function draw(figures) {
  const printing = window.matchMedia && window.matchMedia("print").matches;
  const boxes = { curve: document.getElementById("curve"), members: document.getElementById("members-chart") };
  Object.keys(boxes).forEach(function (name) {
    const el = boxes[name];
    const fig = figures[name];
    if (!el || !fig) return;
    const layout = Object.assign({}, fig.layout, { width: el.clientWidth, height: el.clientHeight });
    const config = Object.assign({}, fig.config, { staticPlot: printing });
    window.Plotly.newPlot(el, fig.data, layout, config);
  });
  const drawn = [boxes.curve, boxes.members].filter(Boolean);
  window.addEventListener("beforeprint", function () {
    drawn.forEach(function (el) { window.Plotly.relayout(el, { width: 680 }); });
  });
  window.addEventListener("afterprint", function () {
    drawn.forEach(function (el) { window.Plotly.relayout(el, { width: el.parentNode.clientWidth - 40 }); });
  });
}
