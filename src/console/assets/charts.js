// Small SVG charts drawn here (no library): lines over time and stacked
// bars. Series names reach the page as text only (legend items, <title>).

import { h, s } from "./dom.js";

const W = 480;
const H = 200;
const PAD = { left: 46, right: 10, top: 10, bottom: 26 };

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function shortNum(v) {
  if (v >= 1e9) return Number((v / 1e9).toFixed(1)) + "G";
  if (v >= 1e6) return Number((v / 1e6).toFixed(1)) + "M";
  if (v >= 1e3) return Number((v / 1e3).toFixed(1)) + "k";
  return String(Number(v.toFixed(2)));
}

function timeLabel(t, span) {
  const d = new Date(t);
  if (span > 2 * 86400e3) return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

function frame(title, yFormat, maxY, t0, t1) {
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  svg.appendChild(s("title", {}, title));
  const ih = H - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + ih - (ih * i) / 4;
    svg.appendChild(s("line", { class: "grid", x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }));
    svg.appendChild(s("text", { class: "axis", x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, (yFormat || shortNum)((maxY * i) / 4)));
  }
  const span = t1 - t0;
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (span * i) / 4;
    const x = PAD.left + ((W - PAD.left - PAD.right) * i) / 4;
    svg.appendChild(s("text", { class: "axis", x, y: H - 8, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, timeLabel(t, span)));
  }
  return svg;
}

function empty(title, text) {
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  svg.appendChild(s("text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, text || "No data yet"));
  return svg;
}

function legend(names) {
  if (names.length < 2) return null;
  return h("ul", { class: "legend" }, names.map((n, i) => h("li", { class: "s" + (i % 8) }, h("span", {}, n))));
}

/**
 * Lines over time. `series`: [{name, points: [[timeMs, value], …]}];
 * `from`/`to` (ms) fix the x range.
 */
export function lineChart({ title, series, from, to, yFormat }) {
  const points = series.flatMap((x) => x.points);
  const fig = h("figure", { class: "chart" }, h("figcaption", {}, title));
  if (!points.length) {
    fig.appendChild(empty(title));
    return fig;
  }
  const t0 = from ?? Math.min(...points.map((p) => p[0]));
  const t1 = Math.max(to ?? Math.max(...points.map((p) => p[0])), t0 + 1);
  const maxY = niceMax(Math.max(...points.map((p) => p[1])));
  const svg = frame(title, yFormat, maxY, t0, t1);
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * iw;
  const y = (v) => PAD.top + ih - (v / maxY) * ih;
  series.forEach((ser, i) => {
    const pts = [...ser.points].sort((a, b) => a[0] - b[0]);
    if (!pts.length) return;
    const cls = "s" + (i % 8);
    if (pts.length === 1) {
      svg.appendChild(s("circle", { class: cls, cx: x(pts[0][0]), cy: y(pts[0][1]), r: 3 }, s("title", {}, ser.name)));
      return;
    }
    const path = pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    svg.appendChild(s("polyline", { class: "line " + cls, points: path }, s("title", {}, ser.name)));
  });
  fig.appendChild(svg);
  const l = legend(series.map((x) => x.name));
  if (l) fig.appendChild(l);
  return fig;
}

/**
 * Stacked bars per time bucket. `buckets`: sorted times (ms); `series`:
 * [{name, values: Map(timeMs → value)}].
 */
export function barChart({ title, buckets, series, yFormat }) {
  const fig = h("figure", { class: "chart" }, h("figcaption", {}, title));
  const totals = buckets.map((b) => series.reduce((sum, ser) => sum + (ser.values.get(b) || 0), 0));
  if (!buckets.length || !totals.some((t) => t > 0)) {
    fig.appendChild(empty(title));
    return fig;
  }
  const step = buckets.length > 1 ? Math.min(...buckets.slice(1).map((b, i) => b - buckets[i])) : 3600e3;
  const t0 = buckets[0];
  const t1 = buckets[buckets.length - 1] + step;
  const maxY = niceMax(Math.max(...totals));
  const svg = frame(title, yFormat, maxY, t0, t1);
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const bw = Math.max(1, (step / (t1 - t0)) * iw - 2);
  buckets.forEach((b) => {
    let acc = 0;
    const x = PAD.left + ((b - t0) / (t1 - t0)) * iw + 1;
    series.forEach((ser, i) => {
      const v = ser.values.get(b) || 0;
      if (!v) return;
      const hgt = (v / maxY) * ih;
      const yTop = PAD.top + ih - ((acc + v) / maxY) * ih;
      acc += v;
      svg.appendChild(s("rect", { class: "s" + (i % 8), x: x.toFixed(1), y: yTop.toFixed(1), width: bw.toFixed(1), height: hgt.toFixed(1) },
        s("title", {}, `${ser.name}: ${(yFormat || shortNum)(v)}`)));
    });
  });
  fig.appendChild(svg);
  const l = legend(series.map((x) => x.name));
  if (l) fig.appendChild(l);
  return fig;
}
