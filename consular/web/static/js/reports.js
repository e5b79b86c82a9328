// Draws the yearly report's charts from the JSON the page carries; the tables under each chart
// hold the same numbers, so the page reads fully without this file.
document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("report-charts");
  if (!source || typeof window.Chart === "undefined") return;
  const charts = JSON.parse(source.textContent || "[]");
  const palette = ["#8b1a1a", "#c0392b", "#d35400", "#e67e22", "#f1c40f", "#27ae60", "#16a085",
    "#2980b9", "#8e44ad", "#2c3e50", "#7f8c8d", "#a0522d", "#6d4c41"];
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  charts.forEach((spec) => {
    const canvas = document.querySelector(`canvas[data-chart="${spec.id}"]`);
    if (!canvas) return;
    const horizontal = spec.type === "hbar";
    const doughnut = spec.type === "doughnut";
    const stacked = spec.type === "stacked";
    const rows = spec.labels.length;
    const options = {
      responsive: true,
      animation: reduceMotion ? false : undefined,
      plugins: {
        legend: { display: doughnut || Boolean(spec.datasets), position: doughnut ? "right" : "bottom" },
        title: { display: false },
      },
    };
    if (doughnut) {
      options.aspectRatio = 2;
    } else {
      options.indexAxis = horizontal ? "y" : "x";
      options.scales = {
        [horizontal ? "x" : "y"]: { beginAtZero: true, stacked, ticks: { precision: 0 } },
      };
      if (stacked) options.scales.x = { stacked: true };
      // Horizontal bars: enough height for every row to be labelled.
      options.aspectRatio = horizontal ? Math.max(0.8, Math.min(3, 10 / Math.max(rows, 1))) : 2.5;
    }
    new window.Chart(canvas, {
      type: doughnut ? "doughnut" : "bar",
      data: {
        labels: spec.labels,
        // Several series (activities by kind, drills beside alerts) or one.
        datasets: spec.datasets
          ? spec.datasets.map((set, i) => ({ label: set.label, data: set.data,
            backgroundColor: palette[(i * 2) % palette.length] }))
          : [{
            label: spec.title,
            data: spec.data,
            backgroundColor: doughnut ? spec.labels.map((_, i) => palette[i % palette.length])
              : palette[0],
          }],
      },
      options,
    });
  });
});
