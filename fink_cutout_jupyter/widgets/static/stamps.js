// The stamps of one alert, drawn from their float32 pixels (after colours.js and controls.js): cuts, stretch, colormap, linked zoom
// and pan, blink, hover readout, colorbars and compass all happen here, without the kernel.

const SIZES = { small: 160, medium: 240, large: 360 };
const MAX_ZOOM = 16;

function intervalLimits(model, stamp, stats) {
  const interval = model.get("interval");
  if (interval === "manual") {
    const cut = model.get("cuts")[stamp.kind];
    if (cut) return cut;
  }
  if (interval === "zscale") return stamp.zscale;
  if (interval === "minmax") return [stats.sorted[0], stats.sorted[stats.sorted.length - 1]];
  return [percentile(stats.sorted, model.get("pmin")), percentile(stats.sorted, model.get("pmax"))];
}

function isSymmetric(model, kind) {
  return kind === "Difference" && model.get("difference_symmetric");
}



function lookupTable(model, kind) {
  const name = kind === "Difference" ? model.get("difference_colormap") : model.get("colormap");
  const table = model.get("colormaps")[name];
  return new Uint8Array(table.buffer, table.byteOffset, table.byteLength);
}











function render({ model, el }) {
  const root = element("div", "fink-stamps");
  root.tabIndex = 0;
  const row = element("div", "fink-panels");
  const readout = element("div", "fink-readout", "Move the pointer over a stamp.");
  readout.setAttribute("aria-live", "polite");
  const orientation = element("div", "fink-orientation");
  const controls = element("div", "fink-controls");
  root.append(row, readout, orientation, controls);
  el.append(root);

  let prepared = []; // per stamp: pixels, statistics, its RGBA image, cuts
  let panels = [];
  let hover = null; // [column, row] of the pixel under the pointer
  let blinkStep = 0;
  let blinkTimer = null;
  let drag = null;

  function set(name, value) {
    model.set(name, value);
    model.save_changes();
  }

  function viewSize() {
    return SIZES[model.get("size")] || SIZES.medium;
  }

  function shownIndex(panelIndex) {
    // While blinking, the first panel cycles through the blinked kinds.
    if (panelIndex !== 0 || !model.get("blinking")) return panelIndex;
    const kinds = model.get("blink_kinds");
    const kind = kinds[blinkStep % kinds.length];
    const found = prepared.findIndex((p) => p.stamp.kind === kind);
    return found < 0 ? 0 : found;
  }

  function prepare() {
    prepared = model.get("stamps").map((stamp) => {
      if (!stamp.pixels) return { stamp };
      const pixels = floats(stamp.pixels);
      return { stamp, pixels, stats: statistics(pixels) };
    });
  }

  function computeCuts() {
    const cuts = {};
    for (const item of prepared) {
      if (!item.pixels) continue;
      let [low, high] = intervalLimits(model, item.stamp, item.stats);
      if (isSymmetric(model, item.stamp.kind) && model.get("interval") !== "manual") {
        const reach = Math.max(Math.abs(low), Math.abs(high));
        [low, high] = [-reach, reach];
      }
      cuts[item.stamp.kind] = [low, high];
    }
    if (model.get("share_cuts") && cuts.Science && cuts.Template) cuts.Template = cuts.Science;
    return cuts;
  }

  function paintImages(cuts) {
    for (const item of prepared) {
      if (!item.pixels) continue;
      const { width, height, kind } = item.stamp;
      let [low, high] = cuts[kind];
      if (!(high > low)) [low, high] = [low - 0.5, low + 0.5];
      const stretch = stretchFunction(model.get("stretch"), item.stats, low, high);
      const level = levelFunction(stretch, low, high, isSymmetric(model, kind));
      const lut = lookupTable(model, kind);
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
    }
  }

  // The view shared by the three stamps: pixels of the first stamp's grid; others scale to it.
  function transform(item) {
    const size = viewSize();
    const base = prepared.find((p) => p.pixels)?.stamp || item.stamp;
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

  function drawPanel(panel, panelIndex) {
    const item = prepared[shownIndex(panelIndex)];
    const size = viewSize();
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
    panel.title.textContent = item.stamp.kind;
    if (!item.canvas) {
      panel.error.textContent = item.stamp.error || "";
      return;
    }
    panel.error.textContent = "";
    const view = transform(item);
    const [x0, y0] = view.toScreen(0, 0);
    context.imageSmoothingEnabled = false;
    context.save();
    context.translate(x0, y0);
    context.scale(view.scale, model.get("flip") ? -view.scale : view.scale);
    context.drawImage(item.canvas, 0, 0);
    context.restore();
    if (hover) drawCrosshair(context, view, hover);
    drawCompass(context, item.stamp.compass, size);
    drawColorbar(panel, item);
  }

  function drawCrosshair(context, view, [column, row]) {
    const [left, top] = view.toScreen(column * view.ratio, row * view.ratio);
    const [right, bottom] = view.toScreen((column + 1) * view.ratio, (row + 1) * view.ratio);
    const [x, y] = [(left + right) / 2, (top + bottom) / 2];
    context.strokeStyle = "rgba(0, 200, 255, 0.9)";
    context.lineWidth = 1;
    context.strokeRect(Math.min(left, right), Math.min(top, bottom), Math.abs(right - left), Math.abs(bottom - top));
    context.beginPath();
    context.moveTo(x, y - 12);
    context.lineTo(x, y - 4);
    context.moveTo(x, y + 4);
    context.lineTo(x, y + 12);
    context.moveTo(x - 12, y);
    context.lineTo(x - 4, y);
    context.moveTo(x + 4, y);
    context.lineTo(x + 12, y);
    context.stroke();
  }

  function drawCompass(context, compass, size) {
    if (!compass) return;
    const origin = [size - 34, size - 34];
    const flip = model.get("flip") ? -1 : 1;
    context.font = "11px sans-serif";
    context.lineWidth = 1.5;
    for (const [label, vector, hue] of [["N", compass.north, "#ffcc00"], ["E", compass.east, "#00e0ff"]]) {
      const end = [origin[0] + vector[0] * 22, origin[1] + flip * vector[1] * 22];
      context.strokeStyle = context.fillStyle = hue;
      context.beginPath();
      context.moveTo(...origin);
      context.lineTo(...end);
      context.stroke();
      context.fillText(label, end[0] + (vector[0] >= 0 ? 2 : -9), end[1] + (flip * vector[1] >= 0 ? 10 : -2));
    }
  }

  function drawColorbar(panel, item) {
    const size = viewSize();
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
    const interval = model.get("interval");
    const how =
      interval === "percentile" ? `percentile ${model.get("pmin")}–${model.get("pmax")}` : interval;
    panel.cuts.textContent = `cuts ${formatValue(low)} … ${formatValue(high)}${unit} (${how}${
      isSymmetric(model, item.stamp.kind) ? ", symmetric about 0" : ""
    })`;
  }

  function drawAll() {
    panels.forEach(drawPanel);
  }

  function redraw() {
    const started = performance.now();
    const cuts = computeCuts();
    paintImages(cuts);
    drawAll();
    const elapsed = performance.now() - started;
    root.dataset.renderMs = elapsed.toFixed(3);
    root.dataset.renders = String(Number(root.dataset.renders || 0) + 1);
    const shown = JSON.stringify(cuts);
    if (JSON.stringify(model.get("cuts")) !== shown && model.get("interval") !== "manual") {
      set("cuts", cuts);
    }
  }

  function readoutText([column, row]) {
    const parts = [`column ${column}, row ${row}`];
    for (const item of prepared) {
      if (!item.pixels) continue;
      const c = Math.floor(column * (item.stamp.width / prepared.find((p) => p.pixels).stamp.width));
      const r = Math.floor(row * (item.stamp.height / prepared.find((p) => p.pixels).stamp.height));
      const value = item.pixels[r * item.stamp.width + c];
      const unit = item.stamp.unit ? ` ${item.stamp.unit}` : "";
      parts.push(`${item.stamp.kind} ${formatValue(value)}${unit}`);
    }
    const first = prepared.find((p) => p.pixels);
    const sky = first.stamp.sky;
    if (sky && sky.ra) {
      const at = row * first.stamp.width + column;
      const ra = new Float64Array(sky.ra.buffer.slice(sky.ra.byteOffset, sky.ra.byteOffset + sky.ra.byteLength));
      const dec = new Float64Array(sky.dec.buffer.slice(sky.dec.byteOffset, sky.dec.byteOffset + sky.dec.byteLength));
      parts.push(`RA ${ra[at].toFixed(6)}°, Dec ${signed(dec[at], 6)}° (${sky.frame})`);
    } else if (sky) {
      const dx = (column + 0.5 - sky.center[0]) * sky.scale;
      const dy = (row + 0.5 - sky.center[1]) * sky.scale;
      parts.push(`offset from alert position: ${signed(dx)}″ along columns, ${signed(dy)}″ along rows`);
    }
    return parts.join(" · ");
  }

  function pointerPixel(panelIndex, event) {
    const item = prepared[shownIndex(panelIndex)];
    if (!item.pixels) return null;
    const view = transform(item);
    const [x, y] = view.toPixel(...pointerOffset(panels[panelIndex].canvas, event));
    const column = Math.floor(x / view.ratio);
    const row = Math.floor(y / view.ratio);
    const base = prepared.find((p) => p.pixels).stamp;
    if (column < 0 || row < 0 || column >= base.width || row >= base.height) return null;
    return [column, row];
  }

  function zoomAbout(panelIndex, factor, event) {
    const item = prepared[shownIndex(panelIndex)];
    const zoom = Math.max(1, Math.min(MAX_ZOOM, model.get("zoom") * factor));
    const base = prepared.find((p) => p.pixels).stamp;
    let center = model.get("center");
    if (event && item.pixels) {
      const view = transform(item);
      const [sx, sy] = pointerOffset(panels[panelIndex].canvas, event);
      const [x, y] = view.toPixel(sx, sy).map((v) => v / view.ratio);
      const scale = (viewSize() / Math.max(base.width, base.height)) * zoom;
      const size = viewSize();
      const flip = model.get("flip");
      center = [x - (sx - size / 2) / scale, flip ? y + (sy - size / 2) / scale : y - (sy - size / 2) / scale];
    }
    if (zoom === 1) center = [base.width / 2, base.height / 2];
    model.set("zoom", zoom);
    set("center", center);
  }

  function resetView() {
    const base = prepared.find((p) => p.pixels)?.stamp;
    if (!base) return;
    model.set("zoom", 1);
    set("center", [base.width / 2, base.height / 2]);
  }

  function buildPanels() {
    row.replaceChildren();
    panels = prepared.map((_, index) => {
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
      panel.canvas.addEventListener("pointermove", (event) => {
        if (drag) {
          const item = prepared[shownIndex(index)];
          const scale = transform(item).scale / transform(item).ratio;
          const flip = model.get("flip") ? -1 : 1;
          const [cx, cy] = drag.center;
          set("center", [cx - (event.clientX - drag.x) / scale, cy - (flip * (event.clientY - drag.y)) / scale]);
          return;
        }
        hover = pointerPixel(index, event);
        readout.textContent = hover ? readoutText(hover) : "Move the pointer over a stamp.";
        drawAll();
      });
      panel.canvas.addEventListener("pointerleave", () => {
        hover = null;
        drawAll();
      });
      panel.canvas.addEventListener("pointerdown", (event) => {
        drag = { x: event.clientX, y: event.clientY, center: model.get("center") };
        panel.canvas.setPointerCapture(event.pointerId);
      });
      panel.canvas.addEventListener("pointerup", () => {
        drag = null;
      });
      panel.canvas.addEventListener("wheel", (event) => {
        event.preventDefault();
        zoomAbout(index, event.deltaY < 0 ? 1.25 : 0.8, event);
      });
      panel.canvas.addEventListener("dblclick", resetView);
      row.append(panel.box);
      return panel;
    });
  }

  function updateBlink() {
    clearInterval(blinkTimer);
    blinkTimer = null;
    blinkButton.textContent = model.get("blinking") ? "■ stop blink" : "▶ blink";
    blinkButton.setAttribute("aria-pressed", String(model.get("blinking")));
    if (model.get("blinking")) {
      blinkTimer = setInterval(() => {
        blinkStep += 1;
        drawPanel(panels[0], 0);
      }, Math.max(50, 1000 * model.get("blink_interval")));
    } else {
      blinkStep = 0;
    }
    drawAll();
  }

  const stretch = choice("stretch", ["linear", "sqrt", "log", "asinh", "power", "sigmoid"], model.get("stretch"), (v) => set("stretch", v));
  const interval = choice("interval", ["percentile", "zscale", "minmax", "manual"], model.get("interval"), (v) => set("interval", v));
  const pmin = numberInput("lower %", model.get("pmin"), 0.1, (v) => set("pmin", v));
  const pmax = numberInput("upper %", model.get("pmax"), 0.1, (v) => set("pmax", v));
  const colormap = choice("colormap", Object.keys(model.get("colormaps")), model.get("colormap"), (v) => set("colormap", v));
  const differenceColormap = choice("difference colormap", Object.keys(model.get("colormaps")), model.get("difference_colormap"), (v) => set("difference_colormap", v));
  const symmetric = checkbox("difference symmetric about 0", model.get("difference_symmetric"), (v) => set("difference_symmetric", v));
  const share = checkbox("same cuts for Science and Template", model.get("share_cuts"), (v) => set("share_cuts", v));
  const flip = checkbox("flip vertically", model.get("flip"), (v) => set("flip", v));
  const size = choice("size", Object.keys(SIZES), model.get("size"), (v) => set("size", v));
  const blinkButton = button("▶ blink", "blink Science and Template in the first panel (key b)", () => set("blinking", !model.get("blinking")));
  const blinkInterval = numberInput("every (s)", model.get("blink_interval"), 0.1, (v) => set("blink_interval", v));
  const zoomIn = button("+", "zoom in", () => zoomAbout(0, 2));
  const zoomOut = button("-", "zoom out", () => zoomAbout(0, 0.5));
  const zoomReset = button("1:1", "show the whole stamp (or double-click)", resetView);
  const zoomLabel = element("span", "fink-zoom");
  controls.append(
    element("div", "fink-control-row"),
    element("div", "fink-control-row"),
    element("div", "fink-control-row"),
  );
  controls.children[0].append(stretch.wrap, interval.wrap, pmin.wrap, pmax.wrap);
  controls.children[1].append(colormap.wrap, differenceColormap.wrap, symmetric.wrap, share.wrap);
  controls.children[2].append(zoomOut, zoomLabel, zoomIn, zoomReset, size.wrap, flip.wrap, blinkButton, blinkInterval.wrap);

  function syncControls() {
    const names = Object.keys(model.get("colormaps"));
    for (const select of [colormap.input, differenceColormap.input]) {
      if ([...select.options].map((o) => o.value).join() !== names.join()) {
        select.replaceChildren(...names.map((name) => new Option(name, name)));
      }
    }
    stretch.input.value = model.get("stretch");
    interval.input.value = model.get("interval");
    pmin.input.value = model.get("pmin");
    pmax.input.value = model.get("pmax");
    pmin.input.disabled = pmax.input.disabled = model.get("interval") !== "percentile";
    colormap.input.value = model.get("colormap");
    differenceColormap.input.value = model.get("difference_colormap");
    symmetric.input.checked = model.get("difference_symmetric");
    share.input.checked = model.get("share_cuts");
    flip.input.checked = model.get("flip");
    size.input.value = model.get("size");
    blinkInterval.input.value = model.get("blink_interval");
    zoomLabel.textContent = `zoom ${model.get("zoom").toFixed(2)}×`;
  }

  function showOrientation() {
    orientation.textContent = model.get("orientation");
  }

  root.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select")) return;
    if (event.key === "b") set("blinking", !model.get("blinking"));
    else if (event.key === "+" || event.key === "=") zoomAbout(0, 2);
    else if (event.key === "-") zoomAbout(0, 0.5);
    else if (event.key === "0") resetView();
    else return;
    event.preventDefault();
  });

  function newStamps() {
    prepare();
    buildPanels();
    hover = null;
    redraw();
  }

  const onView = () => {
    syncControls();
    drawAll();
  };
  const onRendering = () => {
    syncControls();
    redraw();
  };
  model.on("change:stamps", newStamps);
  model.on("change:colormaps", onRendering);
  for (const name of ["stretch", "interval", "pmin", "pmax", "colormap", "difference_colormap", "difference_symmetric", "share_cuts"]) {
    model.on(`change:${name}`, onRendering);
  }
  model.on("change:cuts", () => {
    if (model.get("interval") === "manual") redraw();
  });
  for (const name of ["zoom", "center", "flip", "size"]) model.on(`change:${name}`, onView);
  model.on("change:blinking", updateBlink);
  model.on("change:blink_interval", updateBlink);
  model.on("change:blink_kinds", updateBlink);
  model.on("change:orientation", showOrientation);

  showOrientation();
  syncControls();
  newStamps();
  updateBlink();
  return () => clearInterval(blinkTimer);
}

export default { render };
