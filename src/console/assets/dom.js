// DOM helpers. Everything that comes from data is inserted as text (text
// nodes, `textContent`, `value`); no HTML string is ever parsed.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") {
      // `onclick: fn` → a listener, never an attribute holding code.
      el.addEventListener(name.replace(/^on/, ""), value);
    } else if (name === "value" || name === "checked" || name === "disabled" || name === "selected") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends text, nodes and (nested) arrays of them; null is skipped. */
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

/** `put(el, a, b, …)`: appends like [`append`]; null and false add nothing
 * (the DOM's own `append` would write them as text). */
export function put(el, ...children) {
  return append(el, children);
}

/** An HTML element: `h("td", {class: "num"}, text)`. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** A status line whose text can be set later (`set(text, kind)`). */
export function messageBox() {
  const el = h("p", { class: "message", role: "status", "aria-live": "polite" });
  el.set = (text, kind) => {
    el.className = "message" + (kind ? " " + kind : "");
    el.textContent = text || "";
  };
  return el;
}

export function table(head, rows, opts = {}) {
  const numeric = opts.numeric || [];
  return h("div", { class: "table-wrap" },
    h("table", {},
      opts.caption ? h("caption", { class: "muted" }, opts.caption) : null,
      h("thead", {}, h("tr", {}, head.map((t, i) => h("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, t)))),
      h("tbody", {}, rows)));
}

export function cell(content, numeric) {
  return h("td", { class: numeric ? "num" : null }, content);
}

const nf = new Intl.NumberFormat();
export function num(n) {
  return n === null || n === undefined ? "–" : nf.format(n);
}
export function ms(n) {
  if (n === null || n === undefined) return "–";
  return n >= 10000 ? (n / 1000).toFixed(1) + " s" : Math.round(n) + " ms";
}
export function usd(n) {
  if (n === null || n === undefined) return "–";
  if (n === 0) return "$0";
  return n < 0.01 ? "$" + n.toFixed(4) : "$" + n.toFixed(2);
}
export function pct(n) {
  return n === null || n === undefined || !isFinite(n) ? "–" : (n * 100).toFixed(1) + " %";
}
export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}
export function clock(iso) {
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleTimeString();
}
export function duration(seconds) {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), mm = Math.floor(s % 3600 / 60);
  if (d) return `${d} d ${hh} h`;
  if (hh) return `${hh} h ${mm} min`;
  if (mm) return `${mm} min ${s % 60} s`;
  return `${s} s`;
}
