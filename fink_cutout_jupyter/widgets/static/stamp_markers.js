// Catalog markers over the panels (the kernel's `markers`): each catalog's positions, 0-based
// pixel centres of a panel's image (astropy's convention: view x = x + 0.5), drawn as a shape of
// a CSS colour and half-width, outlined; a checkbox per catalog sets its `visible`.
// A panel's markers are drawn on a layer of their own (a canvas the panel's size), drawn again
// only when the markers, the panel's image or the view (zoom, centre, flip, size) change: a
// pointer move puts the layer back over the stamp, however big the catalogs.

import { checkbox, element } from "./controls.js";
import { saveTrait } from "./stamp_state.js";

// The markers' positions, read once per change of the trait (which the layers then follow).
export function prepareMarkers(state) {
  state.markers = state.model.get("markers").map((entry) => ({
    ...entry,
    xs: float64s(entry.x),
    ys: float64s(entry.y),
  }));
  state.markersVersion = (state.markersVersion || 0) + 1;
}

// The layer of the panel's markers for `label` in `view` (`size` CSS px, `ratio` device px per
// CSS px), drawn again only if one of them changed since; null when no visible catalog is on
// the panel. `state.root.dataset.markerLayers` counts the layers drawn.
export function markerLayer(state, panel, label, view, size, ratio, outline) {
  const shown = (state.markers || []).filter(
    (entry) => entry.visible && (!entry.panels || entry.panels.includes(label)),
  );
  if (!shown.length) return null;
  // The view's affine map (zoom, centre, flip, the image's scale) by where it puts two points.
  const where = [...view.toScreen(0, 0), ...view.toScreen(1, 1)];
  const key = [state.markersVersion, label, ...where, size, ratio, outline].join(" ");
  panel.markerLayer = panel.markerLayer || { canvas: document.createElement("canvas"), key: "" };
  const layer = panel.markerLayer;
  if (layer.key !== key) {
    layer.canvas.width = layer.canvas.height = size * ratio;
    const context = layer.canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    drawMarkers(context, shown, view, size, outline);
    layer.key = key;
    state.root.dataset.markerLayers = String(Number(state.root.dataset.markerLayers || 0) + 1);
  }
  return layer.canvas;
}

// float64 little-endian values of a binary buffer (a DataView from the kernel), at any offset.
function float64s(view) {
  const values = new Float64Array(Math.floor(view.byteLength / 8));
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat64(8 * i, true);
  return values;
}

// The catalogs `shown`, at their image positions (those off the panel left out).
function drawMarkers(context, shown, view, size, outline) {
  for (const entry of shown) {
    const draw = SHAPES[entry.shape] || SHAPES.circle;
    const reach = entry.size + 4; // the shape and its outline
    context.beginPath();
    for (let i = 0; i < entry.xs.length; i++) {
      if (!Number.isFinite(entry.xs[i]) || !Number.isFinite(entry.ys[i])) continue;
      const [sx, sy] = view.toScreen(entry.xs[i] + 0.5, entry.ys[i] + 0.5);
      if (sx < -reach || sy < -reach || sx > size + reach || sy > size + reach) continue;
      draw(context, sx, sy, entry.size);
    }
    context.lineCap = "butt";
    context.lineJoin = "miter";
    context.strokeStyle = outline;
    context.lineWidth = 3.5;
    context.stroke();
    context.strokeStyle = entry.color;
    context.lineWidth = 1.5;
    context.stroke();
  }
}

// Each shape as sub-paths of the current path, centred on (x, y), `r` = the half-width.
const SHAPES = {
  circle: (c, x, y, r) => {
    c.moveTo(x + r, y);
    c.arc(x, y, r, 0, 2 * Math.PI);
    c.closePath(); // a join, not two line ends, where the circle starts
  },
  square: (c, x, y, r) => {
    c.rect(x - r, y - r, 2 * r, 2 * r);
  },
  diamond: (c, x, y, r) => {
    c.moveTo(x, y - r);
    c.lineTo(x + r, y);
    c.lineTo(x, y + r);
    c.lineTo(x - r, y);
    c.closePath();
  },
  plus: (c, x, y, r) => {
    c.moveTo(x - r, y);
    c.lineTo(x + r, y);
    c.moveTo(x, y - r);
    c.lineTo(x, y + r);
  },
  // Four ticks leaving the centre open (the source itself stays visible).
  crosshair: (c, x, y, r) => {
    const gap = r / 3;
    for (const [dx, dy] of [
      [1, 0],
      [-1, 0],
      [0, 1],
      [0, -1],
    ]) {
      c.moveTo(x + gap * dx, y + gap * dy);
      c.lineTo(x + r * dx, y + r * dy);
    }
  },
};

// A checkbox per catalog (none without markers): it sets the catalog's `visible` and saves it.
// The row is rebuilt only when the catalogs change, else its boxes are ticked as the trait says.
export function showMarkerControls(state) {
  const model = state.model;
  const catalogs = [];
  for (const entry of model.get("markers")) {
    if (!catalogs.some((shown) => shown.catalog === entry.catalog)) catalogs.push(entry);
  }
  if (!state.markerRow) {
    state.markerRow = element("div", "fink-control-row fink-marker-controls");
    state.controls.append(state.markerRow);
  }
  const row = state.markerRow;
  row.hidden = catalogs.length === 0;
  const names = JSON.stringify(catalogs.map((entry) => [entry.catalog, entry.color]));
  if (row.dataset.catalogs !== names) {
    row.dataset.catalogs = names;
    state.markerBoxes = {};
    row.replaceChildren(element("span", "fink-marker-heading", "markers"));
    for (const entry of catalogs) row.append(catalogBox(state, entry));
  }
  for (const entry of catalogs) state.markerBoxes[entry.catalog].checked = entry.visible;
}

function catalogBox(state, entry) {
  const model = state.model;
  const toggle = checkbox(entry.catalog, entry.visible, (visible) => {
    const markers = model
      .get("markers")
      .map((item) => (item.catalog === entry.catalog ? { ...item, visible } : item));
    saveTrait(model, "markers", markers);
  });
  toggle.wrap.dataset.catalog = entry.catalog;
  const swatch = element("span", "fink-marker-swatch");
  swatch.style.borderColor = entry.color;
  toggle.wrap.append(swatch);
  state.markerBoxes[entry.catalog] = toggle.input;
  return toggle.wrap;
}
