// The controls under the stamps (three rows: cuts, colours, view) and the keyboard shortcuts; each
// sets a trait, and `syncControls` shows the traits' values, whoever set them.

import { button, checkbox, choice, element, numberInput } from "./controls.js";
import { resetView, zoomAbout } from "./stamp_geometry.js";
import { saveTrait } from "./stamp_state.js";

export function buildControls(state) {
  const model = state.model;
  const set = (name) => (value) => saveTrait(model, name, value);
  const toggleBlink = () => saveTrait(model, "blinking", !model.get("blinking"));
  const colormaps = Object.keys(model.get("colormaps"));
  const { stretch, interval } = model.get("choices"); // the values the kernel accepts
  const controls = {
    stretch: choice("stretch", stretch, model.get("stretch"), set("stretch")),
    differenceStretch: choice(
      "difference stretch",
      stretch,
      model.get("difference_stretch"),
      set("difference_stretch"),
    ),
    interval: choice("interval", interval, model.get("interval"), set("interval")),
    pmin: numberInput("lower %", model.get("pmin"), 0.1, set("pmin")),
    pmax: numberInput("upper %", model.get("pmax"), 0.1, set("pmax")),
    colormap: choice("colormap", colormaps, model.get("colormap"), set("colormap")),
    differenceColormap: choice(
      "difference colormap",
      colormaps,
      model.get("difference_colormap"),
      set("difference_colormap"),
    ),
    symmetric: checkbox(
      "difference symmetric about 0",
      model.get("difference_symmetric"),
      set("difference_symmetric"),
    ),
    share: checkbox(
      "same cuts for Science and Template",
      model.get("share_cuts"),
      set("share_cuts"),
    ),
    flip: checkbox("flip vertically", model.get("flip"), set("flip")),
    reticle: checkbox("reticle", model.get("reticle"), set("reticle")),
    scaleBar: checkbox("scale bar", model.get("scale_bar"), set("scale_bar")),
    size: choice("size", Object.keys(model.get("size_pixels")), model.get("size"), set("size")),
    blinkButton: button(
      "▶ blink",
      "blink Science and Template in the first panel (key b)",
      toggleBlink,
    ),
    blinkInterval: numberInput(
      "every (s)",
      model.get("blink_interval"),
      0.1,
      set("blink_interval"),
    ),
    zoomIn: button("+", "zoom in", () => zoomAbout(state, 0, 2)),
    zoomOut: button("-", "zoom out", () => zoomAbout(state, 0, 0.5)),
    zoomReset: button("1:1", "show the whole stamp (or double-click)", () => resetView(state)),
    zoomLabel: element("span", "fink-zoom"),
  };
  const c = controls;
  const cutsRow = [
    c.stretch.wrap,
    c.differenceStretch.wrap,
    c.interval.wrap,
    c.pmin.wrap,
    c.pmax.wrap,
  ];
  const coloursRow = [c.colormap.wrap, c.differenceColormap.wrap, c.symmetric.wrap, c.share.wrap];
  const viewRow = [
    c.zoomOut,
    c.zoomLabel,
    c.zoomIn,
    c.zoomReset,
    c.size.wrap,
    c.flip.wrap,
    c.reticle.wrap,
    c.scaleBar.wrap,
    c.blinkButton,
    c.blinkInterval.wrap,
  ];
  for (const items of [cutsRow, coloursRow, viewRow]) {
    const row = element("div", "fink-control-row");
    row.append(...items);
    state.controls.append(row);
  }
  state.root.addEventListener("keydown", (event) => onKey(state, event, toggleBlink));
  return controls;
}

function onKey(state, event, toggleBlink) {
  if (event.target.closest("input, select")) return;
  if (event.key === "b") toggleBlink();
  else if (event.key === "+" || event.key === "=") zoomAbout(state, 0, 2);
  else if (event.key === "-") zoomAbout(state, 0, 0.5);
  else if (event.key === "0") resetView(state);
  else return;
  event.preventDefault();
}

export function syncControls(model, controls) {
  const c = controls;
  const names = Object.keys(model.get("colormaps"));
  for (const select of [c.colormap.input, c.differenceColormap.input]) {
    if ([...select.options].map((o) => o.value).join() !== names.join()) {
      select.replaceChildren(...names.map((name) => new Option(name, name)));
    }
  }
  c.stretch.input.value = model.get("stretch");
  c.differenceStretch.input.value = model.get("difference_stretch");
  c.interval.input.value = model.get("interval");
  c.pmin.input.value = model.get("pmin");
  c.pmax.input.value = model.get("pmax");
  c.pmin.input.disabled = c.pmax.input.disabled = model.get("interval") !== "percentile";
  c.colormap.input.value = model.get("colormap");
  c.differenceColormap.input.value = model.get("difference_colormap");
  c.symmetric.input.checked = model.get("difference_symmetric");
  c.share.input.checked = model.get("share_cuts");
  c.flip.input.checked = model.get("flip");
  c.reticle.input.checked = model.get("reticle");
  c.scaleBar.input.checked = model.get("scale_bar");
  c.size.input.value = model.get("size");
  c.blinkInterval.input.value = model.get("blink_interval");
  c.zoomLabel.textContent = `zoom ${model.get("zoom").toFixed(2)}×`;
}

export function showBlinking(model, controls) {
  const blinking = model.get("blinking");
  controls.blinkButton.textContent = blinking ? "■ stop blink" : "▶ blink";
  controls.blinkButton.setAttribute("aria-pressed", String(blinking));
}
