// DOM helpers. Every piece of data reaches the page as a text node or an
// attribute value (textContent, setAttribute): nothing is ever parsed as
// HTML, so a bucket or object named "<img src=x onerror=...>" shows as
// those characters. There is no innerHTML in the console.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    } else if (name === "value" || name === "checked" || name === "disabled"
               || name === "selected" || name === "hidden") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function formatBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = Number(n);
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

// Capacities and disks in decimal units, as the layout takes them (and as
// `garage layout` and GetClusterStatistics write them).
export function formatSize(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let value = Number(n);
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatDate(value) {
  if (!value) return "–";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

export function shortId(id) {
  return id ? String(id).slice(0, 16) : "–";
}

// A table: headers, then rows of cells (strings, numbers or nodes).
export function table(headers, rows, attrs) {
  return h("table", attrs,
    h("thead", null, h("tr", null, headers.map((title) => h("th", null, title)))),
    h("tbody", null, rows.map((row) => row instanceof Node ? row
      : h("tr", null, row.map((cell) => h("td", null, cell))))));
}

// An area for a section's messages: ok(text), error(err), clear().
export function messages() {
  const el = h("div", { class: "messages", role: "status" });
  return {
    el,
    ok(text) {
      clear(el).append(h("p", { class: "ok" }, text));
    },
    error(err) {
      clear(el).append(h("p", { class: "error", role: "alert" }, describe(err)));
    },
    clear() {
      clear(el);
    },
  };
}

export function describe(err) {
  if (!err) return "";
  if (err.code && err.message) return `${err.code}: ${err.message}`;
  return err.message || String(err);
}

// A button that asks to be clicked twice: the first click arms it for a
// few seconds (no browser dialog: the page stays scriptable and testable).
export function confirmButton(label, action, attrs) {
  let armed = null;
  const button = h("button", { type: "button", class: "danger", ...(attrs || {}) }, label);
  button.addEventListener("click", async () => {
    if (!armed) {
      button.textContent = `Confirm: ${label}`;
      button.classList.add("armed");
      armed = setTimeout(() => {
        armed = null;
        button.textContent = label;
        button.classList.remove("armed");
      }, 6000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.textContent = label;
    button.classList.remove("armed");
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

// Runs `action` on submit with the form's button disabled meanwhile.
export function form(attrs, fields, submitLabel, action) {
  const button = h("button", { type: "submit" }, submitLabel);
  const el = h("form", { ...(attrs || {}), autocomplete: "off" }, fields, button);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await action(el);
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

export function field(label, input) {
  return h("label", null, h("span", null, label), input);
}
