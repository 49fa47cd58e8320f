// CutoutTimeline's frames: the frame's stamps (one kind or all side by side), its alert and date.
// The pixels come a page at a time as custom messages' buffers, asked for when the kernel has
// frames this model lacks (`loaded`), and are kept per model: a frame is drawn from them alone,
// so playing needs no kernel. Each kind is drawn with the kernel's fixed cuts, stretch curve and
// colormap (`renderings`); the frame's alert id goes to `shown` (linked to the light curve's
// ring in the browser).

import { colour, curveLevel, floats, formatValue, NAN_RGB } from "./colours.js";
import { choice, element } from "./controls.js";

// Each model's pages (start -> {count, height, width, kinds, pixels}), shared by its views:
// keyed by the model's `key` (initialize and render are not handed the same model object).
const stores = new Map();

function storeOf(model) {
  const key = model.get("key");
  let store = stores.get(key);
  if (!store) {
    store = { pages: new Map(), asking: false, views: new Set() };
    stores.set(key, store);
  }
  return store;
}

function framesHeld(store) {
  let held = 0;
  for (const page of store.pages.values()) held += page.count;
  return held;
}

// Ask the kernel for the pages this model lacks, one request at a time.
function askForPages(model, store) {
  if (store.asking || framesHeld(store) >= model.get("loaded")) return;
  store.asking = true;
  model.send({ type: "pages", have: [...store.pages.keys()] });
}

function pageOf(store, frame) {
  for (const [start, page] of store.pages) {
    if (frame >= start && frame < start + page.count) return { start, page };
  }
  return null;
}

// A value -> a level: the cuts (widened when they do not increase), then the kernel's curve
// (colours.js's curveLevel, as the stamps draw a rendering).
function levelOf(rendering) {
  let [low, high] = rendering.cuts;
  if (!(high > low)) [low, high] = [low - 0.5, low + 0.5];
  return curveLevel(floats(rendering.curve), low, high);
}

function colormapTable(model, name) {
  const table = model.get("colormaps")[name] || model.get("colormaps").gray;
  return new Uint8Array(table.buffer, table.byteOffset, table.byteLength);
}

// One stamp of a frame at its native resolution (row 0 at the top); CSS enlarges it.
function paint(canvas, pixels, width, height, rendering, lut) {
  const image = new ImageData(width, height);
  const level = levelOf(rendering);
  for (let i = 0; i < pixels.length; i++) {
    const value = pixels[i];
    const rgb = Number.isFinite(value) ? colour(lut, level(value)) : NAN_RGB;
    image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * i);
  }
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(image, 0, 0);
}

function initialize({ model }) {
  const store = storeOf(model);
  model.on("msg:custom", (message, buffers) => {
    if (message.type === "page") {
      store.pages.set(message.start, { ...message, pixels: floats(buffers[0]) });
    } else if (message.type === "sent") {
      store.asking = false;
      askForPages(model, store);
    }
    for (const draw of store.views) draw();
  });
  model.on("change:loaded", () => askForPages(model, store));
  // The frame's alert, for the light curve's ring (linked in the browser).
  model.on("change:frame", () => {
    const alert = model.get("alerts")[model.get("frame")];
    if (alert && alert.alertId !== model.get("shown")) model.set("shown", alert.alertId);
  });
  askForPages(model, store);
  return () => stores.delete(model.get("key"));
}

function render({ model, el }) {
  const store = storeOf(model);
  const root = element("div", "fink-timeline");
  const label = element("div", "fink-timeline-label");
  label.setAttribute("aria-live", "polite");
  const panels = element("div", "fink-timeline-panels");
  const kinds = model.get("kinds");
  const menu = choice("stamps", ["All", ...kinds], model.get("kind"), (value) => {
    model.set("kind", value);
    model.save_changes();
  });
  menu.wrap.classList.add("fink-timeline-kind");
  root.append(label, panels);
  if (kinds.length > 1) root.append(menu.wrap);
  el.append(root);
  const built = new Map(); // kind -> {panel, canvas, cuts}

  function panelFor(kind) {
    let parts = built.get(kind);
    if (!parts) {
      const panel = element("div", "fink-timeline-panel");
      const canvas = element("canvas", "fink-timeline-canvas");
      canvas.dataset.kind = kind;
      canvas.setAttribute("role", "img");
      const cuts = element("div", "fink-timeline-cuts");
      panel.append(element("div", "fink-timeline-title", kind), canvas, cuts);
      parts = { panel, canvas, cuts };
      built.set(kind, parts);
    }
    return parts;
  }

  function draw() {
    const alerts = model.get("alerts");
    const frame = model.get("frame");
    const alert = alerts[frame];
    const found = pageOf(store, frame);
    const chosen = model.get("kind");
    const kinds = model.get("kinds").filter((k) => chosen === "All" || k === chosen);
    menu.input.value = chosen;
    root.dataset.frame = String(frame);
    root.dataset.state = found ? "drawn" : "loading";
    label.dataset.alertId = alert ? alert.alertId : "";
    label.textContent = alert
      ? `frame ${frame + 1} / ${alerts.length} · alert ${alert.alertId} · ${alert.date}` +
        (found ? "" : " · loading…")
      : "no alert";
    panels.replaceChildren(...kinds.map((kind) => panelFor(kind).panel));
    if (!found) return;
    const { start, page } = found;
    const size = page.width * page.height;
    const renderings = model.get("renderings");
    const longer = Math.max(page.width, page.height);
    for (const kind of kinds) {
      const { canvas, cuts } = panelFor(kind);
      const rendering = renderings[kind];
      const position = page.kinds.indexOf(kind);
      if (!rendering || position < 0) continue;
      const first = ((frame - start) * page.kinds.length + position) * size;
      const pixels = page.pixels.subarray(first, first + size);
      const lut = colormapTable(model, rendering.colormap);
      paint(canvas, pixels, page.width, page.height, rendering, lut);
      canvas.style.width = `${(model.get("panel_pixels") * page.width) / longer}px`;
      canvas.style.height = `${(model.get("panel_pixels") * page.height) / longer}px`;
      canvas.setAttribute("aria-label", `${kind} of alert ${alert.alertId}`);
      const [low, high] = rendering.cuts;
      cuts.textContent = `cuts ${formatValue(low)} … ${formatValue(high)} (all frames)`;
    }
  }

  store.views.add(draw);
  for (const name of ["frame", "alerts", "kind", "kinds", "renderings", "colormaps"]) {
    model.on(`change:${name}`, draw);
  }
  model.on("change:panel_pixels", draw);
  draw();
  return () => store.views.delete(draw);
}

export default { initialize, render };
