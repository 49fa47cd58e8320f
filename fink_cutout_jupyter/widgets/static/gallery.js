// A page of thumbnails drawn from their float32 pixels, with keys to move, label, select and
// open. Labels and selections are sent to the kernel, which keeps them. How a thumbnail is
// coloured (percentiles, colormap per kind, which kinds are symmetric) comes from the kernel too.

import { colour, floats, intervalCuts, NAN_RGB, statistics } from "./colours.js";
import { element } from "./controls.js";

function draw(canvas, pixels, width, height, kind, tables, colouring) {
  const { pmin, pmax } = colouring;
  const symmetric = colouring.symmetric.includes(kind);
  let [low, high] = intervalCuts("percentile", statistics(pixels), { pmin, pmax, symmetric });
  if (!(high > low)) [low, high] = [low - 0.5, low + 0.5];
  const table = tables[colouring.colormaps[kind]];
  const lut = new Uint8Array(table.buffer, table.byteOffset, table.byteLength);
  const image = new ImageData(width, height);
  for (let i = 0; i < pixels.length; i++) {
    const value = pixels[i];
    const rgb = Number.isFinite(value) ? colour(lut, (value - low) / (high - low)) : NAN_RGB;
    image.data.set([...rgb, 255], 4 * i);
  }
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(image, 0, 0);
}

function render({ model, el }) {
  const root = element("div", "fink-gallery");
  root.tabIndex = 0;
  const bar = element("div", "fink-gallery-bar");
  const status = element("span", "fink-gallery-status");
  const previous = element("button", "fink-button", "◀ page");
  const next = element("button", "fink-button", "page ▶");
  previous.title = "previous page (key p)";
  next.title = "next page (key n)";
  const labelButtons = element("span", "fink-gallery-labels");
  const grid = element("div", "fink-gallery-grid");
  const help = element(
    "div",
    "fink-gallery-help",
    "Keys: arrows move, 1-9 label, 0 clears, space selects, Enter opens, n / p change page.",
  );
  bar.append(previous, status, next, labelButtons);
  root.append(bar, grid, help);
  el.append(root);

  const send = (message) => model.send(message);
  const tiles = () => model.get("tiles");
  const currentId = () => tiles()[model.get("current")]?.id;

  function move(to) {
    const count = tiles().length;
    if (!count) return;
    model.set("current", Math.max(0, Math.min(count - 1, to)));
    model.save_changes();
  }

  function columns() {
    const boxes = [...grid.children];
    if (boxes.length < 2) return 1;
    const top = boxes[0].offsetTop;
    const second = boxes.findIndex((box) => box.offsetTop !== top);
    return second < 0 ? boxes.length : second;
  }

  function label(name) {
    const id = currentId();
    if (id === undefined) return;
    const given = model.get("labels")[id];
    send({ event: "label", id, label: given === name ? null : name });
  }

  function toggleSelected(id) {
    const selected = new Set(model.get("selected"));
    selected.has(id) ? selected.delete(id) : selected.add(id);
    model.set("selected", [...selected]);
    model.save_changes();
  }

  function drawTiles() {
    const tables = model.get("colormaps");
    const colouring = model.get("colouring");
    const size = model.get("tile_size");
    grid.replaceChildren();
    grid.style.gridTemplateColumns = `repeat(auto-fill, minmax(${size + 12}px, 1fr))`;
    tiles().forEach((tile, index) => {
      const box = element("div", "fink-tile");
      box.dataset.id = tile.id;
      box.dataset.index = String(index);
      const images = element("div", "fink-tile-images");
      if (tile.stamps?.length) {
        tile.stamps.forEach((view, position) => {
          const canvas = element("canvas", "fink-thumbnail");
          canvas.style.width = canvas.style.height = `${size / Math.sqrt(tile.stamps.length)}px`;
          const kind = tile.kinds[position];
          draw(canvas, floats(view), tile.width, tile.height, kind, tables, colouring);
          images.append(canvas);
        });
      } else {
        const missing = element("div", "fink-tile-missing", tile.status);
        missing.style.width = missing.style.height = `${size}px`;
        images.append(missing);
      }
      const caption = element("div", "fink-tile-caption");
      for (const line of tile.caption) caption.append(element("div", "", line));
      const badge = element("div", "fink-tile-label");
      box.append(images, caption, badge);
      box.addEventListener("click", (event) => {
        move(index);
        if (event.shiftKey || event.ctrlKey || event.metaKey) toggleSelected(tile.id);
        else send({ event: "open", id: tile.id });
      });
      grid.append(box);
    });
    decorate();
  }

  function decorate() {
    const labels = model.get("labels");
    const selected = new Set(model.get("selected"));
    const current = model.get("current");
    for (const box of grid.children) {
      const id = box.dataset.id;
      box.classList.toggle("fink-tile-current", Number(box.dataset.index) === current);
      box.classList.toggle("fink-tile-selected", selected.has(id));
      const given = labels[id];
      const badge = box.querySelector(".fink-tile-label");
      badge.textContent = given || "";
      badge.dataset.label = given || "";
    }
    status.textContent = `page ${model.get("page") + 1} of ${model.get("pages")} · ${model.get(
      "count",
    )} ids · ${Object.keys(labels).length} labelled · ${selected.size} selected`;
    previous.disabled = model.get("page") === 0;
    next.disabled = model.get("page") >= model.get("pages") - 1;
  }

  function drawLabelButtons() {
    labelButtons.replaceChildren();
    model.get("label_names").forEach((name, position) => {
      const button = element("button", "fink-button", `${position + 1} ${name}`);
      button.title = `label the current candidate "${name}" (key ${position + 1})`;
      button.addEventListener("click", () => label(name));
      labelButtons.append(button);
    });
  }

  previous.addEventListener("click", () => send({ event: "page", delta: -1 }));
  next.addEventListener("click", () => send({ event: "page", delta: 1 }));
  root.addEventListener("keydown", (event) => {
    const current = model.get("current");
    const names = model.get("label_names");
    if (event.key === "ArrowRight") move(current + 1);
    else if (event.key === "ArrowLeft") move(current - 1);
    else if (event.key === "ArrowDown") move(current + columns());
    else if (event.key === "ArrowUp") move(current - columns());
    else if (/^[1-9]$/.test(event.key) && Number(event.key) <= names.length)
      label(names[Number(event.key) - 1]);
    else if (event.key === "0" && currentId() !== undefined)
      send({ event: "label", id: currentId(), label: null });
    else if (event.key === " " && currentId() !== undefined) toggleSelected(currentId());
    else if (event.key === "Enter" && currentId() !== undefined)
      send({ event: "open", id: currentId() });
    else if (event.key === "n") send({ event: "page", delta: 1 });
    else if (event.key === "p") send({ event: "page", delta: -1 });
    else return;
    event.preventDefault();
  });

  model.on("change:tiles", () => {
    drawTiles();
    root.dataset.renders = String(Number(root.dataset.renders || 0) + 1);
  });
  for (const name of ["labels", "selected", "current", "page", "pages", "count"]) {
    model.on(`change:${name}`, decorate);
  }
  model.on("change:label_names", drawLabelButtons);
  drawLabelButtons();
  drawTiles();
  root.dataset.renders = "1";
}

export default { render };
