// Small SVG charts drawn from numbers (no chart library): a line of a value over time, bars per interval, and
// one bar split by share. Colours come from the stylesheet; each chart carries a text summary for screen readers.

import { svg } from "./dom.js";

export function line(points, { width = 320, height = 90, label = "", max = null } = {}) {
  const top = Math.max(1, max ?? Math.max(...points.map((p) => p.v), 1));
  const pad = 4;
  const spanT = points.length > 1 ? points[points.length - 1].t - points[0].t : 1;
  const x = (p) => pad + ((p.t - points[0].t) / (spanT || 1)) * (width - 2 * pad);
  const y = (p) => height - pad - (p.v / top) * (height - 2 * pad - 12);
  const path = points.map((p) => `${x(p).toFixed(1)},${y(p).toFixed(1)}`).join(" ");
  const area = points.length ? `${pad},${height - pad} ${path} ${x(points[points.length - 1]).toFixed(1)},${height - pad}` : "";
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "chart line", role: "img", "aria-label": label },
    svg("title", {}, label),
    svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }),
    svg("text", { x: pad, y: 11, class: "tick" }, String(top)),
    points.length ? svg("polygon", { points: area, class: "area" }) : null,
    points.length ? svg("polyline", { points: path, class: "stroke" }) : null,
  );
}

export function bars(items, { width = 320, height = 110, label = "", max = 100, goal = null } = {}) {
  const pad = 4;
  const n = Math.max(items.length, 1);
  const slot = (width - 2 * pad) / n;
  const scale = (v) => ((v ?? 0) / max) * (height - 28);
  const goalY = goal === null ? null : height - 16 - scale(goal);
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "chart bars", role: "img", "aria-label": label },
    svg("title", {}, label),
    items.map((item, i) => {
      const barHeight = scale(item.value);
      const cls = item.value === null ? "bar none" : goal !== null && item.value < goal ? "bar low" : "bar";
      return [
        svg("rect", { x: pad + i * slot + 2, y: height - 16 - barHeight, width: Math.max(2, slot - 4), height: barHeight, class: cls }),
        svg("text", { x: pad + i * slot + slot / 2, y: height - 3, class: "tick", "text-anchor": "middle" }, item.label),
      ];
    }),
    goalY === null ? null : svg("line", { x1: pad, y1: goalY, x2: width - pad, y2: goalY, class: "goal" }),
  );
}

export function split(parts, { width = 320, height = 22, label = "" } = {}) {
  const total = parts.reduce((sum, p) => sum + p.value, 0) || 1;
  let at = 0;
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "chart split", role: "img", "aria-label": label },
    svg("title", {}, label),
    parts.map((p) => {
      const w = (p.value / total) * width;
      const rect = svg("rect", { x: at, y: 0, width: w, height, class: `part ${p.cls}` });
      at += w;
      return rect;
    }),
  );
}
