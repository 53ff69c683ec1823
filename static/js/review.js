/* The retrospective page: the day's curve and the membership chart (Plotly), print.
   Data comes from the page's own JSON block; names never reach innerHTML. */
(function () {
  "use strict";
  var printBtn = document.getElementById("print");
  if (printBtn) printBtn.addEventListener("click", function () { window.print(); });
  var dataEl = document.getElementById("chart-data");
  if (!dataEl || !window.Plotly) return;
  var d = JSON.parse(dataEl.textContent);
  var printing = window.matchMedia && window.matchMedia("print").matches;
  // Server times are RFC 3339 in the campaign zone: their first 19 characters are the
  // campaign's wall clock, which is what Plotly's zone-less date axis should show.
  function wall(t) { return t.slice(0, 19).replace("T", " "); }
  var WAN = 1e6; // fen per 万
  var x = d.x.map(wall);
  var ink = "#9fb0d0", grid = "rgba(255,255,255,0.07)";
  function layoutBase(el) {
    return {
      width: el.clientWidth, height: el.clientHeight,
      margin: { l: 60, r: 64, t: 24, b: 36 },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "inherit", color: ink, size: 13 },
      showlegend: true, legend: { orientation: "h", y: 1.12 },
      xaxis: { type: "date", tickformat: "%H:%M", gridcolor: grid },
      yaxis: { gridcolor: grid, zeroline: false, rangemode: "tozero" }
    };
  }
  var curve = document.getElementById("curve");
  var traces = [
    { type: "bar", x: x, y: d.gmv_fen.map(function (v) { return v / WAN; }), name: "每分钟 GMV（万）",
      marker: { color: "rgba(255,190,70,0.85)" } },
    { type: "scatter", mode: "lines", x: x, y: d.cum_fen.map(function (v) { return v / WAN; }),
      name: "累计（万）", yaxis: "y2", line: { color: "#ff5a7a", width: 3 } }
  ];
  if (d.base_fen) {
    traces.push({ type: "scatter", mode: "lines", x: [wall(d.start), wall(d.end)], y: [0, d.base_fen / WAN],
      name: "目标进度线", yaxis: "y2", line: { color: "rgba(170,180,220,0.8)", width: 2, dash: "dash" } });
  }
  var shapes = [], notes = [];
  [["base_fen", "基础目标"], ["stretch_fen", "冲刺目标"]].forEach(function (t) {
    if (!d[t[0]]) return;
    shapes.push({ type: "line", xref: "paper", yref: "y2", x0: 0, x1: 1, y0: d[t[0]] / WAN, y1: d[t[0]] / WAN,
      line: { color: "rgba(255,77,94,0.5)", width: 1, dash: "dot" } });
  });
  d.marks.forEach(function (m, i) {
    var stim = m.kind === "stimulus";
    shapes.push({ type: "line", xref: "x", yref: "paper", x0: wall(m.x), x1: wall(m.x), y0: 0, y1: 1,
      line: { color: stim ? "rgba(255,77,94,0.9)" : "rgba(255,194,74,0.8)", width: 1.5, dash: stim ? "dot" : "dash" } });
    notes.push({ xref: "x", yref: "paper", x: wall(m.x), y: stim ? 0.98 - (i % 3) * 0.08 : 0.02 + (i % 3) * 0.08,
      yanchor: stim ? "top" : "bottom", xanchor: "left", showarrow: false,
      text: (stim ? "▼ " : "◆ ") + m.label + (stim ? "" : " " + (m.fen / WAN) + "万"),
      font: { size: 12, color: stim ? "#ffd2d7" : "#ffe6a8" },
      bgcolor: stim ? "rgba(200,30,50,0.7)" : "rgba(120,80,0,0.7)", borderpad: 2 });
  });
  var layout = layoutBase(curve);
  layout.xaxis.range = [wall(d.start), wall(d.end)];
  layout.yaxis.title = { text: "每分钟（万）" };
  layout.yaxis2 = { title: { text: "累计（万）" }, overlaying: "y", side: "right", showgrid: false, rangemode: "tozero" };
  layout.shapes = shapes;
  layout.annotations = notes;
  layout.bargap = 0.1;
  var config = { displayModeBar: false, responsive: true, staticPlot: printing };
  window.Plotly.newPlot(curve, traces, layout, config);

  var members = document.getElementById("members-chart");
  if (members) {
    var ml = layoutBase(members);
    ml.barmode = "relative";
    ml.margin = { l: 40, r: 10, t: 24, b: 30 };
    window.Plotly.newPlot(members, [
      { type: "bar", x: x, y: d.joins, name: "入群", marker: { color: "#24d08f" } },
      { type: "bar", x: x, y: d.leaves.map(function (v) { return -v; }), name: "退群", marker: { color: "#ff4d5e" } }
    ], ml, config);
  }
  window.addEventListener("beforeprint", function () {
    [curve, members].forEach(function (el) { if (el) window.Plotly.relayout(el, { width: 680 }); });
  });
  window.addEventListener("afterprint", function () {
    [curve, members].forEach(function (el) { if (el) window.Plotly.relayout(el, { width: el.parentNode.clientWidth - 40 }); });
  });
})();
