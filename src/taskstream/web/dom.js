// Tiny DOM helpers: build elements without innerHTML (user text is always set as text).

let uid = 0;

/** A unique id for label/for and aria-describedby pairs. */
export function nextId(prefix = "el") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** h("button", {class: "x", onclick}, "text", child) → element. `null`/`false` children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value") el.value = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  if ("value" in (attrs || {}) && tag === "select") el.value = attrs.value;
  return el;
}

/** A labelled form field: <div class="field"><label for>…</label>control hint</div>. */
export function field(labelText, control, hint) {
  if (!control.id) control.id = nextId("f");
  const parts = [h("label", { for: control.id }, labelText), control];
  if (hint) {
    const hintEl = h("p", { class: "hint", id: nextId("hint") }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field" }, ...parts);
}

/** <select> with [value, label] options and the given value selected. */
export function select(options, value, attrs = {}) {
  const el = h("select", attrs, ...options.map(([v, label]) => h("option", { value: v }, label)));
  el.value = value;
  return el;
}

const announcer = () => document.getElementById("announcer");

/** Say `text` through the polite ARIA live region (screen readers; nothing visible). */
export function announce(text) {
  const region = announcer();
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = text;
  }, 30);
}
