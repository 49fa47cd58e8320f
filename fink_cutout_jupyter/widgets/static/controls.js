// Small DOM builders shared by the widgets' controls.

// The pointer in the canvas's own coordinates (inside its border).
export function pointerOffset(canvas, event) {
  const box = canvas.getBoundingClientRect();
  return [event.clientX - box.left - canvas.clientLeft, event.clientY - box.top - canvas.clientTop];
}

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function choice(label, options, value, onChange) {
  const wrap = element("label", "fink-control");
  wrap.append(element("span", "", label));
  const select = element("select");
  select.setAttribute("aria-label", label);
  for (const option of options) select.append(new Option(option, option));
  select.value = value;
  select.addEventListener("change", () => onChange(select.value));
  wrap.append(select);
  return { wrap, input: select };
}

export function numberInput(label, value, step, onChange) {
  const wrap = element("label", "fink-control");
  wrap.append(element("span", "", label));
  const input = element("input");
  input.type = "number";
  input.step = step;
  input.value = value;
  input.setAttribute("aria-label", label);
  input.addEventListener("change", () => onChange(Number(input.value)));
  wrap.append(input);
  return { wrap, input };
}

export function checkbox(label, value, onChange) {
  const wrap = element("label", "fink-control");
  const input = element("input");
  input.type = "checkbox";
  input.checked = value;
  input.addEventListener("change", () => onChange(input.checked));
  wrap.append(input, element("span", "", label));
  return { wrap, input };
}

export function button(label, title, onClick) {
  const node = element("button", "fink-button", label);
  node.type = "button";
  node.title = title;
  node.setAttribute("aria-label", title);
  node.addEventListener("click", onClick);
  return node;
}
