// An object's history in SVG: detections (filled, a colour and marker per filter), forced
// photometry (hollow, smaller), upper limits (open triangles), error bars, a flux's zero line,
// the shown alert ringed; hover tells a point, a click on a detection whose alert is in the
// index opens it (in the kernel).
// The survey's facts come from the kernel: each filter's colour and marker (`styles`), and the
// Julian dates of MJD 0 and of 1970 (`time_origins`).

import { formatValue, niceTicks } from "./colours.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 520;
const HEIGHT = 240;
const MARGIN = { left: 66, right: 12, top: 12, bottom: 40 };
const UNKNOWN_FILTER = { colour: "#333", marker: "circle" };
const DAY_MS = 86400000;
const FORCED_TEXT = "forced photometry: no alert to open";
const UNINDEXED_TEXT = "not in the index: no stamps to open";

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function clock(origins) {
  const dateOf = (jd) => new Date((jd - origins.jd_of_unix_epoch) * DAY_MS);
  return {
    dateOf,
    // The time the kernel sent (astropy's UTC), else the Julian date's.
    iso: (jd, time) => time || dateOf(jd).toISOString(),
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

// The hover text of a point of `LightCurve.points`.
function describe(point, unit, when) {
  const digits = unit === "mag" ? 2 : 1;
  const value = `${point.magnitude.toFixed(digits)} ± ${(point.error || 0).toFixed(digits)} ${unit}`;
  const head = `${when} · ${point.filter} · ${value}`;
  if (point.kind === "forced") return `${head} · ${FORCED_TEXT}`;
  const alert = `${head} · detection · alert ${point.alertId}`;
  return point.indexed === false ? `${alert} · ${UNINDEXED_TEXT}` : alert;
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
  const note = document.createElement("div");
  note.className = "fink-lightcurve-note";
  root.append(plot, legend, readout, note);
  el.append(root);

  function drawLegend(points, limits, styles) {
    legend.replaceChildren();
    const present = new Set([...points, ...limits].map((p) => p.filter));
    const ordered = [...Object.keys(styles).filter((f) => present.has(f))];
    ordered.push(...[...present].filter((f) => !(f in styles)));
    const item = (text, colour) => {
      const span = document.createElement("span");
      span.className = "fink-legend-item";
      if (colour) span.style.color = colour;
      span.textContent = text;
      legend.append(span);
    };
    for (const filter of ordered) item(`● ${filter}`, (styles[filter] || UNKNOWN_FILTER).colour);
    if (points.some((p) => p.kind !== "forced")) item("● detections");
    if (points.some((p) => p.kind === "forced")) item("○ forced photometry");
    if (limits.length) item("▽ upper limits");
  }

  function draw() {
    const points = model.get("points");
    const limits = model.get("limits");
    const unit = model.get("unit");
    const flux = unit !== "mag";
    const styles = model.get("styles");
    const styleOf = (filter) => styles[filter] || UNKNOWN_FILTER;
    const { dateOf, iso, mjd } = clock(model.get("time_origins"));
    const when = (jd, time) => `${iso(jd, time)} (MJD ${mjd(jd)})`;
    const forcedCount = points.filter((p) => p.kind === "forced").length;
    plot.replaceChildren();
    plot.setAttribute(
      "aria-label",
      `light curve: ${points.length - forcedCount} detections, ${forcedCount} forced photometry, ${limits.length} upper limits`,
    );
    note.textContent = model.get("note");
    drawLegend(points, limits, styles);
    if (!points.length && !limits.length) return;
    const values = points.flatMap((p) => [
      p.magnitude - (p.error || 0),
      p.magnitude + (p.error || 0),
    ]);
    values.push(...limits.map((l) => l.limit));
    if (flux) values.push(0); // the zero line is always in sight
    const times = [...points.map((p) => p.jd), ...limits.map((l) => l.jd)];
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
    const middle = MARGIN.top + (HEIGHT - MARGIN.top - MARGIN.bottom) / 2;
    const title = svg("text", {
      x: 12,
      y: middle,
      stroke: "none",
      transform: `rotate(-90 12 ${middle})`,
      "text-anchor": "middle",
    });
    title.textContent = flux ? `flux (${unit})` : "magnitude";
    const xTitle = svg("text", {
      x: (WIDTH + MARGIN.left) / 2,
      y: HEIGHT - 6,
      stroke: "none",
      "text-anchor": "middle",
    });
    xTitle.textContent = "date (UTC)";
    axes.append(title, xTitle);
    if (flux) {
      axes.append(
        svg("line", {
          class: "fink-zero",
          x1: MARGIN.left,
          x2: WIDTH - MARGIN.right,
          y1: y(0),
          y2: y(0),
          stroke: "#888",
          "stroke-dasharray": "4 3",
        }),
      );
    }
    plot.append(axes);

    const hoverable = (node, text) => {
      node.addEventListener("pointerenter", () => {
        readout.textContent = text();
      });
      return node;
    };
    const errorBar = (point, cx, colour, attributes) =>
      svg("line", {
        x1: cx,
        x2: cx,
        y1: y(point.magnitude - point.error),
        y2: y(point.magnitude + point.error),
        stroke: colour,
        ...attributes,
      });

    // Forced photometry first, under the detections.
    for (const point of points.filter((p) => p.kind === "forced")) {
      const { colour, marker: shape } = styleOf(point.filter);
      const cx = x(point.jd);
      if (point.error) plot.append(errorBar(point, cx, colour, { "stroke-opacity": 0.5 }));
      const ring = marker(shape, cx, y(point.magnitude), 3, {
        fill: "none",
        stroke: colour,
        "stroke-width": 1.2,
        "pointer-events": "visible",
        class: "fink-forced",
        "data-filter": point.filter,
      });
      plot.append(hoverable(ring, () => describe(point, unit, when(point.jd, point.time))));
    }
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
        "data-filter": limit.filter,
        opacity: 0.7,
      });
      const text = () =>
        `${when(limit.jd, limit.time)} · ${limit.filter} · upper limit ${limit.limit.toFixed(2)} ${unit}`;
      plot.append(hoverable(shape, text));
    }
    const shown = model.get("shown");
    for (const point of points.filter((p) => p.kind !== "forced")) {
      const { colour, marker: shape } = styleOf(point.filter);
      const cx = x(point.jd);
      const cy = y(point.magnitude);
      if (point.error) plot.append(errorBar(point, cx, colour, {}));
      if (shown && point.alertId === shown) {
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
      const openable = point.indexed !== false;
      const dot = marker(shape, cx, cy, 4, {
        fill: colour,
        stroke: "#fff",
        class: "fink-point",
        "data-alert-id": point.alertId,
        "data-filter": point.filter,
        "data-indexed": String(openable),
      });
      if (openable) {
        dot.style.cursor = "pointer";
        dot.addEventListener("click", () => {
          model.set("clicked", point.alertId);
          model.save_changes();
        });
      }
      plot.append(hoverable(dot, () => describe(point, unit, when(point.jd, point.time))));
    }
  }

  for (const name of ["points", "limits", "shown", "unit", "styles", "time_origins", "note"]) {
    model.on(`change:${name}`, draw);
  }
  draw();
}

export default { render };
