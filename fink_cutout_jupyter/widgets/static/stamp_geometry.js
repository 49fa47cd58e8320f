// Stamp pixels <-> screen: the view the panels share (zoom, centre, flip, size) and the changes
// the pointer makes to it (zoom about a point, pan, reset).

import { pointerOffset } from "./controls.js";
import { firstDrawn, saveTrait, shownStamp } from "./stamp_state.js";

// CSS pixels of one panel (the kernel sends the sizes: `StampPanels.size_pixels`).
export function viewSize(model) {
  const sizes = model.get("size_pixels");
  return sizes[model.get("size")] || sizes.medium;
}

// The view shared by the stamps: pixels of the first stamp's grid; others scale to it.
export function viewTransform(state, item) {
  const model = state.model;
  const size = viewSize(model);
  const base = firstDrawn(state)?.stamp || item.stamp;
  const ratio = item.stamp.width / base.width;
  const [cx, cy] = model.get("center").map((c) => c * ratio);
  const scale = (size / Math.max(item.stamp.width, item.stamp.height)) * model.get("zoom");
  const flip = model.get("flip");
  return {
    scale,
    toScreen: (x, y) => [size / 2 + (x - cx) * scale, size / 2 + (flip ? cy - y : y - cy) * scale],
    toPixel: (sx, sy) => [
      (sx - size / 2) / scale + cx,
      flip ? cy - (sy - size / 2) / scale : (sy - size / 2) / scale + cy,
    ],
    ratio,
  };
}

// [column, row] of the first stamp's pixel under the pointer, or null outside the stamp.
export function pointerPixel(state, panelIndex, event) {
  const item = shownStamp(state, panelIndex);
  if (!item.pixels) return null;
  const view = viewTransform(state, item);
  const [x, y] = view.toPixel(...pointerOffset(state.panels[panelIndex].canvas, event));
  const column = Math.floor(x / view.ratio);
  const row = Math.floor(y / view.ratio);
  const base = firstDrawn(state).stamp;
  if (column < 0 || row < 0 || column >= base.width || row >= base.height) return null;
  return [column, row];
}

// Zoom by `factor`, keeping the pixel under the pointer in place (the centre without an event).
export function zoomAbout(state, panelIndex, factor, event) {
  const model = state.model;
  const item = shownStamp(state, panelIndex);
  const base = firstDrawn(state)?.stamp;
  if (!base) return; // no stamp has pixels: nothing to zoom
  const zoom = Math.max(1, Math.min(model.get("max_zoom"), model.get("zoom") * factor));
  let center = model.get("center");
  if (event && item.pixels) {
    const view = viewTransform(state, item);
    const [sx, sy] = pointerOffset(state.panels[panelIndex].canvas, event);
    const [x, y] = view.toPixel(sx, sy).map((v) => v / view.ratio);
    const size = viewSize(model);
    const scale = (size / Math.max(base.width, base.height)) * zoom;
    const dy = (sy - size / 2) / scale;
    center = [x - (sx - size / 2) / scale, model.get("flip") ? y + dy : y - dy];
  }
  if (zoom === 1) center = [base.width / 2, base.height / 2];
  model.set("zoom", zoom);
  saveTrait(model, "center", center);
}

export function resetView(state) {
  const base = firstDrawn(state)?.stamp;
  if (!base) return;
  state.model.set("zoom", 1);
  saveTrait(state.model, "center", [base.width / 2, base.height / 2]);
}

// Move the centre with a drag that started at `state.drag` (screen point and centre then).
export function panTo(state, panelIndex, event) {
  const model = state.model;
  const view = viewTransform(state, shownStamp(state, panelIndex));
  const scale = view.scale / view.ratio;
  const flip = model.get("flip") ? -1 : 1;
  const [cx, cy] = state.drag.center;
  saveTrait(model, "center", [
    cx - (event.clientX - state.drag.x) / scale,
    cy - (flip * (event.clientY - state.drag.y)) / scale,
  ]);
}
