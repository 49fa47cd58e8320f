// The stamps of one alert, drawn from their float32 pixels: cuts, stretches, colormap, linked zoom
// and pan, blink, hover readout, colorbars, compass, reticle, scale bar and catalog markers all
// happen here, without the kernel (which may set a panel's cuts, stretch curve and colormap).
// This module wires the model's changes and the pointer to the other stamp_*.js modules.

import { element } from "./controls.js";
import { buildControls, showBlinking, syncControls } from "./stamp_controls.js";
import { drawAll, drawPanel, paintImages, panelElements } from "./stamp_drawing.js";
import { panTo, pointerPixel, resetView, zoomAbout } from "./stamp_geometry.js";
import { prepareMarkers, showMarkerControls } from "./stamp_markers.js";
import { READOUT_HINT, readoutText } from "./stamp_readout.js";
import { newStampsState, prepareStamps, saveTrait, stampCuts } from "./stamp_state.js";

const RENDERING = [
  "stretch",
  "difference_stretch",
  "interval",
  "pmin",
  "pmax",
  "colormap",
  "difference_colormap",
  "difference_symmetric",
  "share_cuts",
  "renderings",
];
const VIEW = ["zoom", "center", "flip", "size", "reticle", "scale_bar"];
const BLINK = ["blinking", "blink_interval", "blink_kinds"];

function render({ model, el }) {
  const state = newStampsState(model, {
    root: element("div", "fink-stamps"),
    row: element("div", "fink-panels"),
    readout: element("div", "fink-readout", READOUT_HINT),
    orientation: element("div", "fink-orientation"),
    controls: element("div", "fink-controls"),
  });
  state.root.tabIndex = 0;
  state.readout.setAttribute("aria-live", "polite");
  state.root.append(state.row, state.readout, state.orientation, state.controls);
  el.append(state.root);
  const controls = buildControls(state);

  const newStamps = () => {
    prepareStamps(state);
    buildPanels(state);
    state.hover = null;
    redraw(state);
  };
  const onView = () => {
    syncControls(model, controls);
    drawAll(state);
  };
  const onRendering = () => {
    syncControls(model, controls);
    redraw(state);
  };
  const onBlink = () => updateBlink(state, controls);
  const onMarkers = () => {
    prepareMarkers(state);
    showMarkerControls(state);
    drawAll(state);
  };
  const showOrientation = () => {
    state.orientation.textContent = model.get("orientation");
  };
  model.on("change:stamps", newStamps);
  model.on("change:colormaps", onRendering);
  for (const name of RENDERING) model.on(`change:${name}`, onRendering);
  model.on("change:cuts", () => {
    if (model.get("interval") === "manual") redraw(state);
  });
  for (const name of VIEW) model.on(`change:${name}`, onView);
  for (const name of BLINK) model.on(`change:${name}`, onBlink);
  model.on("change:orientation", showOrientation);
  model.on("change:markers", onMarkers);

  showOrientation();
  syncControls(model, controls);
  prepareMarkers(state);
  showMarkerControls(state);
  newStamps();
  onBlink();
  return () => clearInterval(state.blinkTimer);
}

// The cuts, each stamp's image, the panels; the cuts go back to the kernel (unless manual).
function redraw(state) {
  const model = state.model;
  const started = performance.now();
  const cuts = stampCuts(state);
  paintImages(state, cuts);
  drawAll(state);
  const elapsed = performance.now() - started;
  state.root.dataset.renderMs = elapsed.toFixed(3);
  state.root.dataset.renders = String(Number(state.root.dataset.renders || 0) + 1);
  const shown = JSON.stringify(cuts);
  if (JSON.stringify(model.get("cuts")) !== shown && model.get("interval") !== "manual") {
    saveTrait(model, "cuts", cuts);
  }
}

// One panel per stamp, listening to the pointer: hover reads out, drag pans, the wheel zooms
// about the pointer, a double-click shows the whole stamp.
function buildPanels(state) {
  state.row.replaceChildren();
  state.panels = state.prepared.map((_, index) => {
    const panel = panelElements();
    const canvas = panel.canvas;
    canvas.addEventListener("pointermove", (event) => {
      if (state.drag) {
        panTo(state, index, event);
        return;
      }
      state.hover = pointerPixel(state, index, event);
      state.readout.textContent = state.hover ? readoutText(state, state.hover) : READOUT_HINT;
      drawAll(state, true);
    });
    canvas.addEventListener("pointerleave", () => {
      state.hover = null;
      drawAll(state, true);
    });
    canvas.addEventListener("pointerdown", (event) => {
      state.drag = { x: event.clientX, y: event.clientY, center: state.model.get("center") };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointerup", () => {
      state.drag = null;
    });
    canvas.addEventListener("wheel", (event) => {
      event.preventDefault();
      zoomAbout(state, index, event.deltaY < 0 ? 1.25 : 0.8, event);
    });
    canvas.addEventListener("dblclick", () => resetView(state));
    state.row.append(panel.box);
    return panel;
  });
}

// While blinking, the first panel steps through the blinked kinds every `blink_interval`.
function updateBlink(state, controls) {
  const model = state.model;
  clearInterval(state.blinkTimer);
  state.blinkTimer = null;
  showBlinking(model, controls);
  if (model.get("blinking")) {
    const every = Math.max(50, 1000 * model.get("blink_interval"));
    state.blinkTimer = setInterval(() => {
      state.blinkStep += 1;
      drawPanel(state, state.panels[0], 0);
    }, every);
  } else {
    state.blinkStep = 0;
  }
  drawAll(state);
}

export default { render };
