// An object's light curve in SVG: one colour and marker per filter, error bars, upper limits,
// the shown alert ringed; hover tells a point, a click opens its alert (in the kernel).
// The survey's facts come from the kernel: each filter's colour and marker (`styles`), and the
// Julian dates of MJD 0 and of 1970 (`time_origins`).

import { formatValue, niceTicks } from "./colours.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 520;
const HEIGHT = 240;
const MARGIN = { left: 56, right: 12, top: 12, bottom: 40 };
const UNKNOWN_FILTER = { colour: "#333", marker: "circle" };
const DAY_MS = 86400000;

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function clock(origins) {
  const dateOf = (jd) => new Date((jd - origins.jd_of_unix_epoch) * DAY_MS);
  return {
    dateOf,
    isoMinute: (jd) => dateOf(jd).toISOString().slice(0, 16).replace("T", " "),
    mjd: (jd) => (jd - origins.jd_of_mjd_zero).toFixed(5),
  };
}

function marker(shape, x, y, size, attributes) {
  if (shape === "square") {
    return svg("rect", {
      x: x - size,
      y: y - size,
      width: 2 * size,
      height: 2 * size,
      ...attributes,
    });
  }
  if (shape === "diamond") {
    const points = `${x},${y - size * 1.3} ${x + size * 1.3},${y} ${x},${y + size * 1.3} ${x - size * 1.3},${y}`;
    return svg("polygon", { points, ...attributes });
  }
  if (shape === "triangle") {
    const points = `${x},${y - size * 1.3} ${x + size * 1.2},${y + size} ${x - size * 1.2},${y + size}`;
    return svg("polygon", { points, ...attributes });
  }
  return svg("circle", { cx: x, cy: y, r: size, ...attributes });
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "fink-lightcurve";
  const plot = svg("svg", { width: WIDTH, height: HEIGHT, role: "img" });
  const readout = document.createElement("div");
  readout.className = "fink-lightcurve-readout";
  readout.setAttribute("aria-live", "polite");
  const legend = document.createElement("div");
  legend.className = "fink-lightcurve-legend";
  root.append(plot, legend, readout);
  el.append(root);

  function draw() {
    const points = model.get("points");
    const limits = model.get("limits");
    const flux = model.get("unit") !== "mag";
    const styles = model.get("styles");
    const styleOf = (filter) => styles[filter] || UNKNOWN_FILTER;
    const { dateOf, isoMinute, mjd } = clock(model.get("time_origins"));
    plot.replaceChildren();
    plot.setAttribute("aria-label", `light curve: ${points.length} detections`);
    const values = points.flatMap((p) => [
      p.magnitude - (p.error || 0),
      p.magnitude + (p.error || 0),
    ]);
    values.push(...limits.map((l) => l.limit));
    const times = [...points.map((p) => p.jd), ...limits.map((l) => l.jd)];
    if (!points.length && !limits.length) return;
    let [t0, t1] = [Math.min(...times), Math.max(...times)];
    if (t1 - t0 < 1) [t0, t1] = [t0 - 0.5, t1 + 0.5];
    const pad = (t1 - t0) * 0.05;
    [t0, t1] = [t0 - pad, t1 + pad];
    let [v0, v1] = [Math.min(...values), Math.max(...values)];
    if (v1 - v0 < 0.2) [v0, v1] = [v0 - 0.1, v1 + 0.1];
    const vpad = (v1 - v0) * 0.08;
    [v0, v1] = [v0 - vpad, v1 + vpad];
    const x = (jd) => MARGIN.left + ((jd - t0) / (t1 - t0)) * (WIDTH - MARGIN.left - MARGIN.right);
    // Magnitudes grow downwards (brighter is up); fluxes upwards.
    const y = (v) => {
      const fraction = (v - v0) / (v1 - v0);
      const height = HEIGHT - MARGIN.top - MARGIN.bottom;
      return flux ? HEIGHT - MARGIN.bottom - fraction * height : MARGIN.top + fraction * height;
    };
    const axes = svg("g", { class: "fink-axes", stroke: "#444", "font-size": "10" });
    axes.append(
      svg("line", {
        x1: MARGIN.left,
        y1: HEIGHT - MARGIN.bottom,
        x2: WIDTH - MARGIN.right,
        y2: HEIGHT - MARGIN.bottom,
      }),
    );
    axes.append(
      svg("line", { x1: MARGIN.left, y1: MARGIN.top, x2: MARGIN.left, y2: HEIGHT - MARGIN.bottom }),
    );
    const dates = niceTicks(t0, t1, 5);
    const days = dates.length > 1 ? dates[1] - dates[0] : t1 - t0;
    for (const t of dates) {
      const tick = svg("text", {
        x: x(t),
        y: HEIGHT - MARGIN.bottom + 14,
        "text-anchor": "middle",
        stroke: "none",
      });
      tick.textContent = dateOf(t)
        .toISOString()
        .slice(0, days < 1 ? 16 : 10)
        .replace("T", " ");
      axes.append(
        tick,
        svg("line", {
          x1: x(t),
          x2: x(t),
          y1: HEIGHT - MARGIN.bottom,
          y2: HEIGHT - MARGIN.bottom + 4,
        }),
      );
    }
    for (const v of niceTicks(v0, v1, 4)) {
      const tick = svg("text", {
        x: MARGIN.left - 6,
        y: y(v) + 3,
        "text-anchor": "end",
        stroke: "none",
      });
      tick.textContent = formatValue(v);
      axes.append(tick, svg("line", { x1: MARGIN.left - 4, x2: MARGIN.left, y1: y(v), y2: y(v) }));
    }
    const title = svg("text", {
      x: 12,
      y: MARGIN.top + (HEIGHT - MARGIN.top - MARGIN.bottom) / 2,
      stroke: "none",
      transform: `rotate(-90 12 ${MARGIN.top + (HEIGHT - MARGIN.top - MARGIN.bottom) / 2})`,
      "text-anchor": "middle",
    });
    title.textContent = flux ? `flux (${model.get("unit")})` : "magnitude";
    const xTitle = svg("text", {
      x: (WIDTH + MARGIN.left) / 2,
      y: HEIGHT - 6,
      stroke: "none",
      "text-anchor": "middle",
    });
    xTitle.textContent = "date (UTC)";
    axes.append(title, xTitle);
    plot.append(axes);

    for (const limit of limits) {
      const colour = styleOf(limit.filter).colour;
      const cx = x(limit.jd);
      const cy = y(limit.limit);
      const down = flux ? -1 : 1;
      const shape = svg("polygon", {
        points: `${cx - 4},${cy} ${cx + 4},${cy} ${cx},${cy + 6 * down}`,
        fill: "none",
        stroke: colour,
        class: "fink-limit",
        opacity: 0.7,
      });
      shape.addEventListener("pointerenter", () => {
        readout.textContent = `${isoMinute(limit.jd)} UTC (MJD ${mjd(limit.jd)}) · ${limit.filter} · upper limit ${limit.limit.toFixed(2)} ${model.get("unit")}`;
      });
      plot.append(shape);
    }
    const shown = model.get("shown");
    for (const point of points) {
      const { colour, marker: shape } = styleOf(point.filter);
      const cx = x(point.jd);
      const cy = y(point.magnitude);
      if (point.error) {
        plot.append(
          svg("line", {
            x1: cx,
            x2: cx,
            y1: y(point.magnitude - point.error),
            y2: y(point.magnitude + point.error),
            stroke: colour,
          }),
        );
      }
      if (point.alertId === shown) {
        plot.append(
          svg("circle", {
            cx,
            cy,
            r: 9,
            fill: "none",
            stroke: "#000",
            "stroke-width": 2,
            class: "fink-shown",
          }),
        );
      }
      const dot = marker(shape, cx, cy, 4, {
        fill: colour,
        stroke: "#fff",
        class: "fink-point",
        "data-alert-id": point.alertId,
      });
      dot.style.cursor = "pointer";
      dot.addEventListener("pointerenter", () => {
        readout.textContent = `${isoMinute(point.jd)} UTC (MJD ${mjd(point.jd)}) · ${point.filter} · ${point.magnitude.toFixed(2)} ± ${(point.error || 0).toFixed(2)} ${model.get("unit")} · alert ${point.alertId}`;
      });
      dot.addEventListener("click", () => {
        model.set("clicked", point.alertId);
        model.save_changes();
      });
      plot.append(dot);
    }
    legend.replaceChildren();
    for (const filter of [...new Set(points.map((p) => p.filter))]) {
      const item = document.createElement("span");
      item.className = "fink-legend-item";
      item.style.color = styleOf(filter).colour;
      item.textContent = `● ${filter}`;
      legend.append(item);
    }
    if (limits.length) {
      const item = document.createElement("span");
      item.className = "fink-legend-item";
      item.textContent = "▽ upper limits";
      legend.append(item);
    }
  }

  for (const name of ["points", "limits", "shown", "unit", "styles", "time_origins"]) {
    model.on(`change:${name}`, draw);
  }
  draw();
}

export default { render };
