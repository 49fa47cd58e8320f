// Drawing: each stamp's image at its cuts (the kernel's cuts, stretch curve and colormap for the
// panels it renders), then each panel (the image in the shared view, the catalogs' markers, the
// crosshair, the reticle on the alert's position, the scale bar, the compass, the colorbar with
// its ticks and the cuts it used).

import {
  colour,
  curveLevel,
  floats,
  formatValue,
  levelFunction,
  NAN_RGB,
  niceTicks,
  stretchFunction,
} from "./colours.js";
import { element } from "./controls.js";
import { viewSize, viewTransform } from "./stamp_geometry.js";
import { markerLayer } from "./stamp_markers.js";
import { isSymmetric, labelOf, renderingOf, shownStamp } from "./stamp_state.js";

// The panels' elements, one per stamp (the caller adds the pointer's listeners).
export function panelElements() {
  const panel = {
    box: element("div", "fink-panel"),
    title: element("div", "fink-panel-title"),
    canvas: element("canvas", "fink-stamp-canvas"),
    colorbar: element("canvas", "fink-colorbar"),
    ticks: element("div", "fink-ticks"),
    cuts: element("div", "fink-cuts"),
    error: element("div", "fink-error"),
  };
  panel.canvas.setAttribute("role", "img");
  panel.box.append(panel.title, panel.canvas, panel.colorbar, panel.ticks, panel.cuts, panel.error);
  return panel;
}

// Each stamp's pixels at its stamp-sized canvas: cuts, stretch, colormap (NaN in magenta).
export function paintImages(state, cuts) {
  const model = state.model;
  for (const item of state.prepared) {
    if (!item.pixels) continue;
    const { width, height, kind } = item.stamp;
    const rendering = renderingOf(model, item.stamp);
    let [low, high] = rendering ? rendering.cuts : cuts[labelOf(item.stamp)];
    if (!(high > low)) [low, high] = [low - 0.5, low + 0.5];
    let level;
    let lut;
    if (rendering) {
      level = curveLevel(floats(rendering.curve), low, high);
      lut = colormapTable(model, rendering.colormap);
    } else {
      const stretch = stretchFunction(stretchOf(model, kind), item.stats, low, high);
      level = levelFunction(stretch, low, high, isSymmetric(model, kind));
      lut = lookupTable(model, kind);
    }
    const image = new ImageData(width, height);
    const data = image.data;
    for (let i = 0; i < item.pixels.length; i++) {
      const value = item.pixels[i];
      const rgb = Number.isFinite(value) ? colour(lut, level(value)) : NAN_RGB;
      data[4 * i] = rgb[0];
      data[4 * i + 1] = rgb[1];
      data[4 * i + 2] = rgb[2];
      data[4 * i + 3] = 255;
    }
    item.canvas = item.canvas || document.createElement("canvas");
    item.canvas.width = width;
    item.canvas.height = height;
    item.canvas.getContext("2d").putImageData(image, 0, 0);
    item.cuts = [low, high];
    item.level = level;
    item.lut = lut;
    item.rendering = rendering;
  }
}

// Science and Template share a stretch; Difference has its own (Rubin's: linear).
export function stretchOf(model, kind) {
  return kind === "Difference" ? model.get("difference_stretch") : model.get("stretch");
}

function lookupTable(model, kind) {
  const name = kind === "Difference" ? model.get("difference_colormap") : model.get("colormap");
  return colormapTable(model, name);
}

// The colormap's 256 RGB levels (the kernel sends every colormap a trait or rendering names).
function colormapTable(model, name) {
  const table = model.get("colormaps")[name] || model.get("colormaps").gray;
  return new Uint8Array(table.buffer, table.byteOffset, table.byteLength);
}

// Every panel; `hovering`: only the pointer moved (the colorbars stay as they are).
export function drawAll(state, hovering = false) {
  state.panels.forEach((panel, index) => {
    drawPanel(state, panel, index, hovering);
  });
}

export function drawPanel(state, panel, panelIndex, hovering = false) {
  const model = state.model;
  const item = shownStamp(state, panelIndex);
  const size = viewSize(model);
  const ratio = window.devicePixelRatio || 1;
  const canvas = panel.canvas;
  if (canvas.width !== size * ratio) {
    canvas.width = canvas.height = size * ratio;
    canvas.style.width = canvas.style.height = `${size}px`;
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.fillStyle = "#f4f4f4";
  context.fillRect(0, 0, size, size);
  panel.title.textContent = labelOf(item.stamp);
  if (!item.canvas) {
    panel.error.textContent = item.stamp.error || "";
    return;
  }
  panel.error.textContent = "";
  const view = viewTransform(state, item);
  const [x0, y0] = view.toScreen(0, 0);
  context.imageSmoothingEnabled = false;
  context.save();
  context.translate(x0, y0);
  context.scale(view.scale, model.get("flip") ? -view.scale : view.scale);
  context.drawImage(item.canvas, 0, 0);
  context.restore();
  const colours = model.get("overlay_colours");
  const markers = markerLayer(
    state,
    panel,
    labelOf(item.stamp),
    view,
    size,
    ratio,
    colours.outline,
  );
  if (markers) {
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.drawImage(markers, 0, 0);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
  }
  if (state.hover) drawCrosshair(context, view, state.hover);
  if (model.get("reticle") && item.stamp.alert_position) {
    drawReticle(context, view, item.stamp.alert_position, colours);
  }
  if (model.get("scale_bar") && item.stamp.arcsec_per_pixel) {
    drawScaleBar(context, view, item.stamp.arcsec_per_pixel, size, model, colours);
  }
  drawCompass(context, item.stamp.compass, size, model.get("flip"));
  if (!hovering || panel.colorbarOf !== item) drawColorbar(model, panel, item);
  panel.colorbarOf = item;
}

function drawCrosshair(context, view, [column, row]) {
  const [left, top] = view.toScreen(column * view.ratio, row * view.ratio);
  const [right, bottom] = view.toScreen((column + 1) * view.ratio, (row + 1) * view.ratio);
  const [x, y] = [(left + right) / 2, (top + bottom) / 2];
  context.strokeStyle = "rgba(0, 200, 255, 0.9)";
  context.lineWidth = 1;
  context.strokeRect(
    Math.min(left, right),
    Math.min(top, bottom),
    Math.abs(right - left),
    Math.abs(bottom - top),
  );
  context.beginPath();
  for (const [dx, dy] of [
    [0, -1],
    [0, 1],
    [-1, 0],
    [1, 0],
  ]) {
    context.moveTo(x + 4 * dx, y + 4 * dy);
    context.lineTo(x + 12 * dx, y + 12 * dy);
  }
  context.stroke();
}

// Four ticks around the alert's position (the stamp's own pixel grid, pixel c from c to c + 1),
// leaving its pixel in view at every zoom.
function drawReticle(context, view, [x, y], colours) {
  const [sx, sy] = view.toScreen(x, y);
  const gap = Math.max(5, 0.75 * view.scale);
  const reach = gap + 10;
  context.beginPath();
  for (const [dx, dy] of [
    [0, -1],
    [0, 1],
    [-1, 0],
    [1, 0],
  ]) {
    context.moveTo(sx + gap * dx, sy + gap * dy);
    context.lineTo(sx + reach * dx, sy + reach * dy);
  }
  context.lineCap = "butt";
  context.strokeStyle = colours.outline;
  context.lineWidth = 4;
  context.stroke();
  context.strokeStyle = colours.reticle;
  context.lineWidth = 2;
  context.stroke();
}

// The longest of the kernel's lengths (arcsec) within a quarter of the view, else the shortest:
// stamp_display.scale_bar_arcsec's choice.
export function scaleBarArcsec(lengths, visibleArcsec) {
  const fitting = lengths.filter((length) => length <= visibleArcsec / 4);
  return fitting.length ? fitting[fitting.length - 1] : lengths[0];
}

function drawScaleBar(context, view, arcsecPerPixel, size, model, colours) {
  const visible = (size / view.scale) * arcsecPerPixel;
  const length = scaleBarArcsec(model.get("scale_bar_lengths"), visible);
  const [left, bottom] = [8, size - 8];
  const width = (length / arcsecPerPixel) * view.scale;
  context.fillStyle = colours.outline;
  context.fillRect(left - 1, bottom - 3, width + 2, 6);
  context.fillStyle = colours.scale_bar;
  context.fillRect(left, bottom - 2, width, 4);
  context.font = "bold 11px sans-serif";
  context.textBaseline = "alphabetic";
  context.lineWidth = 3;
  context.strokeStyle = colours.outline;
  const label = `${length}″`;
  context.strokeText(label, left, bottom - 6);
  context.fillText(label, left, bottom - 6);
}

function drawCompass(context, compass, size, flipped) {
  if (!compass) return;
  const origin = [size - 34, size - 34];
  const flip = flipped ? -1 : 1;
  context.font = "11px sans-serif";
  context.lineWidth = 1.5;
  for (const [label, vector, hue] of [
    ["N", compass.north, "#ffcc00"],
    ["E", compass.east, "#00e0ff"],
  ]) {
    const end = [origin[0] + vector[0] * 22, origin[1] + flip * vector[1] * 22];
    context.strokeStyle = context.fillStyle = hue;
    context.beginPath();
    context.moveTo(...origin);
    context.lineTo(...end);
    context.stroke();
    const [dx, dy] = [vector[0] >= 0 ? 2 : -9, flip * vector[1] >= 0 ? 10 : -2];
    context.fillText(label, end[0] + dx, end[1] + dy);
  }
}

function drawColorbar(model, panel, item) {
  const size = viewSize(model);
  const bar = panel.colorbar;
  bar.width = size;
  bar.height = 10;
  bar.style.width = `${size}px`;
  const context = bar.getContext("2d");
  const [low, high] = item.cuts;
  for (let x = 0; x < size; x++) {
    const rgb = colour(item.lut, item.level(low + ((high - low) * (x + 0.5)) / size));
    context.fillStyle = `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
    context.fillRect(x, 0, 1, 10);
  }
  panel.ticks.replaceChildren();
  panel.ticks.style.width = `${size}px`;
  for (const tick of niceTicks(low, high)) {
    const label = element("span", "fink-tick", formatValue(tick));
    label.style.left = `${(100 * (tick - low)) / (high - low)}%`;
    panel.ticks.append(label);
  }
  const unit = item.stamp.unit ? ` ${item.stamp.unit}` : "";
  if (item.rendering) {
    const how = `${item.rendering.colormap}, set in the kernel`;
    panel.cuts.textContent = `cuts ${formatValue(low)} … ${formatValue(high)}${unit} (${how})`;
    return;
  }
  const interval = model.get("interval");
  const how =
    interval === "percentile" ? `percentile ${model.get("pmin")}–${model.get("pmax")}` : interval;
  const symmetric = isSymmetric(model, item.stamp.kind) ? ", symmetric about 0" : "";
  panel.cuts.textContent = `cuts ${formatValue(low)} … ${formatValue(high)}${unit} (${how}${symmetric})`;
}
