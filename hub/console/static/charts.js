// The evaluation's charts (Chart.js, vendored): each <figure class="chart"> is drawn from the
// table it names in `data-table`, which stays under it for screen readers and for copying.
// Row headers are the labels, the columns the series, each cell's `data-v` its number.
// A file of its own, not an inline script: the pages' Content-Security-Policy forbids those.
(function () {
  "use strict";
  var PALETTE = [
    "#1f6f8b", "#e07b39", "#3f9b4f", "#c0392b", "#7b5ea7", "#8c564b",
    "#d45d9e", "#6b6b6b", "#a4a81e", "#17a2b8", "#2c3e8f", "#b8860b"
  ];
  var language = document.documentElement.lang || "fr";

  function number(cell, percent) {
    var text = cell.getAttribute("data-v");
    if (text === null || text === "") { return null; }
    var value = parseFloat(text);
    return percent ? Math.round(value * 1000) / 10 : value;
  }

  function read(figure) {
    var table = document.getElementById(figure.getAttribute("data-table"));
    var percent = figure.hasAttribute("data-percent");
    var titles = Array.prototype.map.call(table.tHead.rows[0].cells, function (cell) {
      return cell.textContent.trim();
    }).slice(1);
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    if (figure.hasAttribute("data-skip-totals")) { rows = rows.filter(function (row) { return !row.classList.contains("totals"); }); }
    var count = titles.length - (figure.hasAttribute("data-skip-last") ? 1 : 0);
    var labels = rows.map(function (row) { return row.cells[0].textContent.trim(); });
    var series = [];
    for (var column = 0; column < count; column++) {
      series.push({
        label: titles[column],
        data: rows.map(function (row) { return number(row.cells[column + 1], percent); }),
        backgroundColor: PALETTE[column % PALETTE.length],
        borderColor: PALETTE[column % PALETTE.length],
        borderWidth: 2,
        pointRadius: 2,
        spanGaps: true
      });
    }
    return { labels: labels, datasets: series, percent: percent };
  }

  function draw(figure) {
    var data = read(figure);
    var kind = figure.getAttribute("data-chart");
    var stacked = kind === "stacked";
    var format = new Intl.NumberFormat(language, { maximumFractionDigits: 1 });
    var unit = data.percent ? "\u00a0%" : "";
    new window.Chart(figure.querySelector("canvas"), {
      type: kind === "line" ? "line" : "bar",
      data: { labels: data.labels, datasets: data.datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        locale: language,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: data.datasets.length > 1, position: "bottom" },
          tooltip: { callbacks: { label: function (item) {
            return item.dataset.label + "\u00a0: " + format.format(item.parsed.y) + unit;
          } } }
        },
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true,
               ticks: { callback: function (value) { return format.format(value) + unit; } } }
        }
      }
    });
  }

  if (window.Chart) {
    Array.prototype.forEach.call(document.querySelectorAll("figure.chart"), draw);
  }
})();
