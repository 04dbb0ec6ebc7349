// Line charts in SVG, no library: one chart per figure, one line per
// series, a time axis of the last few minutes and a value axis from 0.

import { h, svg } from "./dom.js";

const WIDTH = 460;
const HEIGHT = 170;
const PAD = { left: 56, right: 10, top: 10, bottom: 22 };

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

// `series`: [{name, points: [[seconds, value]]}]; `format(value)` for the
// axis and the legend's last values; `span`: seconds shown.
export function lineChart({ title, series, format, span = 300, now, floor = 1 }) {
  const end = now || Date.now() / 1000;
  const start = end - span;
  let max = 0;
  for (const s of series) {
    for (const [, v] of s.points) if (Number.isFinite(v)) max = Math.max(max, v);
  }
  max = niceMax(Math.max(max, floor));
  const x = (t) => PAD.left + ((t - start) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / max) * (HEIGHT - PAD.top - PAD.bottom);
  const plot = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart",
                            role: "img", "aria-label": title });
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    plot.append(
      svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value),
                    class: "grid" }),
      svg("text", { x: PAD.left - 4, y: y(value) + 4, class: "axis", "text-anchor": "end" },
          format(value)));
  }
  plot.append(
    svg("text", { x: PAD.left, y: HEIGHT - 6, class: "axis" },
        span >= 120 ? `-${Math.round(span / 60)} min` : `-${Math.round(span)} s`),
    svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 6, class: "axis", "text-anchor": "end" },
        "now"));
  series.forEach((s, index) => {
    const points = s.points.filter(([t, v]) => t >= start && Number.isFinite(v));
    if (points.length === 0) return;
    const d = points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    plot.append(svg("polyline", { points: d, class: `line series-${index % 6}` }));
    if (points.length === 1) {
      const [t, v] = points[0];
      plot.append(svg("circle", { cx: x(t), cy: y(v), r: 2.5, class: `dot series-${index % 6}` }));
    }
  });
  const legend = h("ul", { class: "legend" }, series.map((s, index) => {
    const last = s.points.length ? s.points[s.points.length - 1][1] : null;
    return h("li", { class: `series-${index % 6}` },
      h("span", { class: "swatch" }), s.name, " ",
      h("strong", null, last === null || !Number.isFinite(last) ? "–" : format(last)));
  }));
  return h("figure", { class: "chart-box" }, h("figcaption", null, title), plot, legend);
}
