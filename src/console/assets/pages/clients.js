// Clients: the named client keys of config.json — their state, limits and
// what they used this minute, today and this month — with create, edit,
// rotate, disable/enable and remove. Every change goes through the admin
// API (which writes config.json like `claude-proxy config client`).
//
// A new or rotated key is in the API's answer once: it is shown in a box
// until the box is dismissed or the page is left, and kept nowhere else
// (not in a field, not in a variable after dismissal).

import { api, get } from "../api.js";
import { cell, clear, h, messageBox, num, put, table, usd, when } from "../dom.js";

/** Usage is refreshed this often while the page is shown. */
const REFRESH_MS = 5000;

function path(name, rest) {
  return "clients/" + encodeURIComponent(name) + (rest || "");
}

function field(label, input) {
  return h("label", {}, label, input);
}

function stateBadge(c) {
  const kind = c.state === "active" ? "ok" : c.state === "expired" ? "warn" : "bad";
  return h("span", { class: "badge state " + kind }, c.state);
}

function list(values) {
  return values && values.length ? values.join(", ") : "all";
}

/** "n of cap (m left)", or "n" with "no cap". */
function against(used, cap, left, fmt) {
  if (cap === null || cap === undefined) return [fmt(used), h("span", { class: "muted" }, " · no cap")];
  return [fmt(used), h("span", { class: "muted" }, " of " + fmt(cap)), h("br"), h("span", { class: "muted remaining" }, fmt(left) + " left")];
}

/** Text to a whole number, null for empty, or an error naming the field. */
function count(text, what) {
  const t = text.trim();
  if (!t) return { value: null };
  if (!/^[0-9]+$/.test(t) || Number(t) < 1) return { error: `${what}: a whole number of at least 1, or empty for no limit.` };
  return { value: Number(t) };
}

function dollars(text, what) {
  const t = text.trim();
  if (!t) return { value: null };
  const n = Number(t);
  if (!isFinite(n) || n <= 0) return { error: `${what}: a positive number of US$, or empty for no budget.` };
  return { value: n };
}

/** A comma-separated list (commas inside a glob's {a,b} stay), or null. */
function names(text) {
  const xs = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "{") depth++;
    if (ch === "}" && depth > 0) depth--;
    if (ch === "," && depth === 0) {
      xs.push(cur);
      cur = "";
    } else {
      cur += ch;
    }
  }
  xs.push(cur);
  const out = xs.map((x) => x.trim()).filter((x) => x);
  return out.length ? out : null;
}

/** The form fields of a client's limits, filled from `c` (or empty). */
function limitFields(prefix, c) {
  const v = (x) => (x === null || x === undefined ? "" : String(x));
  const input = (name, value, attrs) => h("input", { id: prefix + name, class: "f-" + name, value, autocomplete: "off", ...attrs });
  return {
    models: input("models", c && c.models ? c.models.join(", ") : "", { placeholder: "all (e.g. claude-haiku-*, claude-sonnet-*)" }),
    upstreams: input("upstreams", c && c.upstreams ? c.upstreams.join(", ") : "", { placeholder: "all" }),
    rpm: input("rpm", v(c && c.rpm), { inputmode: "numeric", placeholder: "no limit" }),
    tpm: input("tpm", v(c && c.tpm), { inputmode: "numeric", placeholder: "no limit" }),
    dailyTokens: input("daily-tokens", v(c && c.dailyTokens), { inputmode: "numeric", placeholder: "no budget" }),
    monthlyCostUsd: input("monthly-cost", v(c && c.monthlyCostUsd), { inputmode: "decimal", placeholder: "no budget" }),
    expires: input("expires", v(c && c.expires), { placeholder: "never (e.g. 2027-06-30)" }),
  };
}

function limitLabels(f) {
  return [
    field("Models (globs, comma-separated)", f.models),
    field("Upstreams (comma-separated)", f.upstreams),
    field("Requests per minute", f.rpm),
    field("Tokens per minute", f.tpm),
    field("Tokens per day", f.dailyTokens),
    field("US$ per month", f.monthlyCostUsd),
    field("Expires", f.expires),
  ];
}

/** The fields as an API body: every field when `c` is null (empty ones
 * left out), else only those that differ from `c` (empty → null, which
 * removes the limit). `{error}` when a value is not valid. */
function limitBody(f, c) {
  const values = {
    models: { value: names(f.models.value) },
    upstreams: { value: names(f.upstreams.value) },
    rpm: count(f.rpm.value, "Requests per minute"),
    tpm: count(f.tpm.value, "Tokens per minute"),
    dailyTokens: count(f.dailyTokens.value, "Tokens per day"),
    monthlyCostUsd: dollars(f.monthlyCostUsd.value, "US$ per month"),
    expires: { value: f.expires.value.trim() || null },
  };
  const body = {};
  for (const [k, r] of Object.entries(values)) {
    if (r.error) return { error: r.error };
    if (!c) {
      if (r.value !== null) body[k] = r.value;
      continue;
    }
    const was = c[k] === undefined ? null : c[k];
    if (JSON.stringify(was) !== JSON.stringify(r.value)) body[k] = r.value;
  }
  return { body };
}

export function render(main) {
  const status = messageBox();
  status.id = "clients-message";
  // The one-time key box; empty unless a key was just made.
  const keyBox = h("div", { id: "key-box-area" });
  const listArea = h("div", { id: "client-list" });
  const editArea = h("div", { id: "client-edit" });
  const updated = h("span", { class: "muted", id: "clients-updated" }, "");
  let stopped = false;
  // The list read under way, if any.
  let inflight = null;
  let readFailed = false;
  // The row action waiting for its confirming click: {name, action}.
  let armed = null;
  let last = [];
  let lastSeen = null;

  put(main,
    h("h2", {}, "Clients"),
    h("p", { class: "muted" },
      "Named client keys: each has its own key, allowed models and upstreams, rate limits and budgets. " +
      "A client sends its key as x-api-key or Authorization: Bearer, in place of the proxy access key."),
    keyBox,
    status,
    h("section", { class: "panel", "aria-labelledby": "clients-title" },
      h("header", {}, h("h3", { id: "clients-title" }, "Clients"), updated),
      listArea),
    editArea,
    createForm());

  function hideKey() {
    clear(keyBox);
  }

  /** Shows `key` once, with a copy button; dismissing removes it from the page. */
  function showKey(name, key, verb) {
    const value = h("code", { id: "new-client-key", class: "mono secret" }, key);
    const copied = h("span", { class: "muted", id: "copy-state", role: "status", "aria-live": "polite" }, "");
    const copy = h("button", {
      type: "button",
      id: "copy-key",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(value.textContent);
          copied.textContent = "Copied.";
        } catch (_) {
          // No clipboard API (an http:// page): select it for Ctrl+C.
          const range = document.createRange();
          range.selectNodeContents(value);
          const sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          copied.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
        }
      },
    }, "Copy");
    const dismiss = h("button", { type: "button", id: "dismiss-key", class: "primary", onclick: () => {
      hideKey();
      status.set(`The key of ${name} is no longer shown.`, "");
    } }, "I have copied it — dismiss");
    put(clear(keyBox),
      h("section", { class: "panel key-box", id: "key-box", role: "alert", "aria-labelledby": "key-box-title" },
        h("header", {}, h("h3", { id: "key-box-title" }, `${verb} key of ${name}`)),
        h("p", { class: "key-note" }, h("strong", {}, "Shown only now."),
          " Copy it and give it to the client: the proxy keeps only its SHA-256 digest and cannot show it again. " +
          "If it is lost, rotate the key."),
        h("div", { class: "row" }, value, copy, copied),
        h("div", { class: "row" }, dismiss)));
    dismiss.focus();
  }

  /** Reads the list again (after a read under way, whose answer may
   * predate a change, has ended). */
  async function refresh() {
    while (inflight) await inflight;
    if (stopped) return;
    inflight = load().finally(() => {
      inflight = null;
    });
    await inflight;
  }

  /** The periodic read: skipped while one is under way. */
  function tick() {
    if (!inflight) refresh();
  }

  async function load() {
    let data;
    try {
      data = await get("clients");
    } catch (e) {
      if (!stopped) status.set("Cannot read the clients: " + e.message, "error");
      readFailed = true;
      return;
    }
    if (stopped) return;
    if (readFailed) status.set("");
    readFailed = false;
    updated.textContent = "updated " + new Date().toLocaleTimeString();
    const clients = data.clients || [];
    // Unchanged: the table stays as it is (and the focus where it is).
    const seen = JSON.stringify(clients);
    if (seen === lastSeen) return;
    lastSeen = seen;
    last = clients;
    draw();
  }

  /** Runs a change; on success shows its message (in the page's status
   * when `pageMessage`, else in `box`) and redraws. Errors go to `box`. */
  async function change(method, route, body, box, pageMessage) {
    armed = null;
    try {
      const r = await api(method, route, body);
      const done = pageMessage ? status : box || status;
      done.set(r && r.message ? r.message : "Done.", "ok");
      if (done !== status) status.set("");
      await refresh();
      return r;
    } catch (e) {
      (box || status).set(e.message, "error");
      // The list may have changed meanwhile (a 404: removed elsewhere).
      lastSeen = null;
      await refresh();
      return null;
    }
  }

  function actionButton(c, action, label, confirmLabel, run, cls) {
    const isArmed = armed && armed.name === c.name && armed.action === action;
    return h("button", {
      type: "button",
      class: (cls ? cls + " " : "") + action + "-client",
      "aria-label": `${isArmed ? confirmLabel : label} (${c.name})`,
      onclick: () => {
        if (confirmLabel && !isArmed) {
          armed = { name: c.name, action };
          status.set(action === "remove"
            ? `Remove ${c.name}? Its key stops working at once. Click “${confirmLabel}” to remove it from config.json.`
            : `Give ${c.name} a new key? The old key stops working at once. Click “${confirmLabel}” to rotate.`, "");
          draw();
          return;
        }
        run();
      },
    }, isArmed ? confirmLabel : label);
  }

  function row(c) {
    const u = c.usage || {};
    const rem = c.remaining || {};
    const limits = [
      c.rpm ? c.rpm + " req/min" : null,
      c.tpm ? num(c.tpm) + " tok/min" : null,
    ].filter((x) => x);
    const rotate = async () => {
      const r = await change("POST", path(c.name, "/rotate"));
      if (r && r.key) showKey(c.name, r.key, "New");
    };
    const created = c.created ? new Date(c.created) : null;
    // Two rows per client: its figures, then its actions (full width).
    return [
      h("tr", { class: "client-row", "data-name": c.name },
        h("td", { class: "name" }, h("strong", {}, c.name),
          created && !isNaN(created) ? h("div", { class: "muted", title: when(c.created) }, "since " + created.toLocaleDateString()) : null),
        h("td", {}, stateBadge(c), c.budgetSpent ? [" ", h("span", { class: "badge bad budget" }, "budget spent")] : null),
        h("td", { class: "mono key" }, c.key),
        h("td", { class: "mono models cell" }, list(c.models)),
        h("td", { class: "upstreams cell" }, list(c.upstreams)),
        h("td", { class: "limits" }, limits.length ? limits.join(", ") : h("span", { class: "muted" }, "none")),
        cell([num(u.minuteRequests) + " req", h("br"), num(u.minuteTokens) + " tok"], true),
        h("td", { class: "num day" }, against(u.dayTokens, c.dailyTokens, rem.dailyTokens, num)),
        h("td", { class: "num month" }, against(u.monthCostUsd, c.monthlyCostUsd, rem.monthlyCostUsd, usd)),
        h("td", { class: "expires" }, c.expires ? when(c.expires) : h("span", { class: "muted" }, "never"))),
      h("tr", { class: "client-actions", "data-name": c.name },
        h("td", { colspan: 10 }, h("div", { class: "row" },
          h("button", { type: "button", class: "edit-client", "aria-label": `Edit ${c.name}`, onclick: () => openEdit(c.name) }, "Edit limits"),
          actionButton(c, "rotate", "Rotate key", "Confirm rotation", rotate),
          c.disabled
            ? actionButton(c, "enable", "Enable", null, () => change("POST", path(c.name, "/enable")))
            : actionButton(c, "disable", "Disable", null, () => change("POST", path(c.name, "/disable"))),
          actionButton(c, "remove", "Remove", "Confirm removal", async () => {
            if (await change("DELETE", path(c.name))) {
              if (editArea.dataset.name === c.name) closeEdit();
            }
          }, "danger")))),
    ];
  }

  function draw() {
    if (stopped) return;
    // A redraw keeps the keyboard focus on the same button of the same row.
    const focused = document.activeElement;
    const focusRow = focused && listArea.contains(focused) ? focused.closest("tr[data-name]") : null;
    const focusAt = focusRow ? { name: focusRow.dataset.name, cls: focused.className } : null;
    drawTable();
    if (focusAt) {
      for (const tr of listArea.querySelectorAll("tr[data-name]")) {
        if (tr.dataset.name !== focusAt.name) continue;
        const again = [...tr.querySelectorAll("button")].find((x) => x.className === focusAt.cls);
        if (again) again.focus();
      }
    }
  }

  function drawTable() {
    if (!last.length) {
      clear(listArea).appendChild(h("p", { class: "muted", id: "no-clients" },
        "No client keys yet: every caller uses the proxy access key. Create one below."));
      return;
    }
    clear(listArea).appendChild(table(
      ["Name", "State", "Key", "Models", "Upstreams", "Rate limits", "This minute", "Tokens today", "US$ this month", "Expires"],
      last.map(row),
      { numeric: [6, 7, 8], caption: "Usage counts from the running proxy (seeded from the request store at start); it refreshes every " + REFRESH_MS / 1000 + " s." }));
  }

  function closeEdit() {
    clear(editArea);
    delete editArea.dataset.name;
  }

  function openEdit(name) {
    const c = last.find((x) => x.name === name);
    if (!c) return;
    if (armed) {
      armed = null;
      status.set("");
      draw();
    }
    const box = messageBox();
    const f = limitFields("edit-", c);
    editArea.dataset.name = name;
    put(clear(editArea),
      h("section", { class: "panel", id: "edit-client", "aria-labelledby": "edit-title" },
        h("header", {}, h("h3", { id: "edit-title" }, "Edit " + name),
          h("button", { type: "button", id: "close-edit", onclick: closeEdit }, "Close")),
        h("p", { class: "muted" }, "An empty field removes that limit."),
        h("form", {
          class: "grid",
          id: "edit-client-form",
          onsubmit: async (ev) => {
            ev.preventDefault();
            // Compared with the client as it is now, not as when opened.
            const now = last.find((x) => x.name === name) || c;
            const r = limitBody(f, now);
            if (r.error) return box.set(r.error, "error");
            if (!Object.keys(r.body).length) return box.set("Nothing changed.", "");
            await change("PATCH", path(name), r.body, box);
          },
        }, limitLabels(f), h("button", { type: "submit", class: "primary", id: "edit-client-submit" }, "Save limits")),
        box));
    f.models.focus();
  }

  function createForm() {
    const box = messageBox();
    box.id = "create-client-message";
    const name = h("input", { id: "new-client-name", required: true, autocomplete: "off", maxlength: 64, placeholder: "ci-bot, alice@example.com" });
    const f = limitFields("new-client-", null);
    return h("section", { class: "panel", "aria-labelledby": "create-title" },
      h("header", {}, h("h3", { id: "create-title" }, "Create a client")),
      h("p", { class: "muted" }, "Names use letters, digits, '.', '_', '-' and '@'. Empty fields mean no restriction."),
      h("form", {
        class: "grid",
        id: "create-client",
        onsubmit: async (ev) => {
          ev.preventDefault();
          const r = limitBody(f, null);
          if (r.error) return box.set(r.error, "error");
          const clientName = name.value.trim();
          box.set("");
          const created = await change("POST", "clients", { name: clientName, ...r.body }, box, true);
          if (created && created.key) {
            showKey(clientName, created.key, "The");
            name.value = "";
            for (const input of Object.values(f)) input.value = "";
          }
        },
      },
      field("Name", name), limitLabels(f),
      h("button", { type: "submit", class: "primary", id: "create-client-submit" }, "Create client")),
      box);
  }

  refresh();
  const timer = setInterval(tick, REFRESH_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
    hideKey();
  };
}
