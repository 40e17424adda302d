// Upstreams: add, edit, remove; keys with their state (add, remove); the
// model mapping; the current upstream and the strategy; a test per
// upstream. Every change goes through the admin API, which writes
// config.json the way the CLI does; the page then shows the new state.
// A key typed into a form is sent once and the field emptied: keys come
// back from the API only masked.

import { api, get } from "../api.js";
import { cell, clear, clock, h, messageBox, ms, table, put } from "../dom.js";

const TYPES = ["openai", "openaiold", "gemini", "claude"];
const STRATEGIES = ["round-robin", "random", "failover"];

function path(name, rest) {
  return "upstreams/" + encodeURIComponent(name) + (rest || "");
}

function select(id, options, current, label) {
  return h("select", { id: id || null, "aria-label": label }, options.map((o) => h("option", { value: o, selected: o === current }, o)));
}

function field(label, input) {
  return h("label", {}, label, input);
}

function keyState(k) {
  if (k.state === "resting") {
    const until = k.restingUntil ? " until " + clock(k.restingUntil) : "";
    return h("span", { class: "badge warn" }, "resting" + until + (k.reason ? " (" + k.reason.replace("_", " ") + ")" : ""));
  }
  return h("span", { class: "badge ok" }, "healthy");
}

function circuitBadge(c) {
  const kind = c.state === "closed" ? "ok" : c.state === "open" ? "bad" : "warn";
  const until = c.openUntil ? " until " + clock(c.openUntil) : "";
  return h("span", { class: "badge " + kind, title: `opens after ${c.failures} failures` }, "circuit " + c.state + until);
}

export function render(main) {
  const status = messageBox();
  status.id = "upstreams-message";
  const list = h("div", { id: "upstream-list" });
  const settings = h("div", { class: "row" });
  put(main, 
    h("h2", {}, "Upstreams"),
    status,
    h("section", { class: "panel", "aria-labelledby": "settings-title" },
      h("header", {}, h("h3", { id: "settings-title" }, "Routing")), settings),
    list,
    addForm());

  // Re-reads the status and draws the list again (after every change).
  async function refresh() {
    let s;
    try {
      s = await get("status");
    } catch (e) {
      status.set("Cannot read the upstreams: " + e.message, "error");
      return;
    }
    drawSettings(s);
    clear(list);
    if (!s.upstreams.length) {
      list.appendChild(h("p", { class: "panel muted", id: "no-upstreams" }, "No upstream is configured yet. Add one below."));
    }
    for (const u of s.upstreams) list.appendChild(upstreamPanel(u, s));
  }

  /** Runs a change; on success shows its message and redraws. */
  async function change(method, route, body, box) {
    try {
      const r = await api(method, route, body);
      status.set(r && r.message ? r.message : "Done.", "ok");
      await refresh();
      return true;
    } catch (e) {
      (box || status).set(e.message, "error");
      return false;
    }
  }

  function drawSettings(s) {
    const strategy = select("strategy", STRATEGIES, s.loadBalance, "Key strategy");
    const router = s.router
      ? h("p", { class: "muted" }, "A router is configured: its default route decides where requests go (see `claude-proxy config router show`).")
      : null;
    put(clear(settings), 
      field("Key strategy (loadBalance)", strategy),
      h("button", { type: "button", id: "save-strategy", onclick: () => change("PUT", "balance", { loadBalance: strategy.value }) }, "Save strategy"),
      h("span", { class: "muted grow" }, s.currentUpstream ? "Current upstream: " : "No current upstream", s.currentUpstream ? h("strong", {}, s.currentUpstream.name) : null),
      router);
  }

  function upstreamPanel(u, s) {
    const box = messageBox();
    const results = h("div", { class: "results" });
    const editArea = h("div");
    const panel = h("article", { class: "panel upstream", id: "upstream-" + u.index, "data-name": u.name, "aria-labelledby": "upstream-title-" + u.index });
    const removeBtn = h("button", { type: "button", class: "danger remove-upstream" }, "Remove");
    removeBtn.addEventListener("click", async () => {
      if (removeBtn.dataset.armed !== "1") {
        removeBtn.dataset.armed = "1";
        removeBtn.textContent = "Confirm removal";
        box.set(`Remove ${u.name}? Click “Confirm removal” again to remove it from config.json.`, "");
        return;
      }
      await change("DELETE", path(u.name), undefined, box);
    });
    const test = (deep) => async (ev) => {
      const btn = ev.currentTarget;
      btn.disabled = true;
      clear(results).appendChild(h("p", { class: "muted", role: "status" }, deep ? "Probing features… (several real requests)" : "Sending one tiny request through each key…"));
      try {
        const r = await api("POST", path(u.name, "/test"), { deep });
        clear(results).appendChild(testReport(r));
      } catch (e) {
        clear(results);
        box.set(e.message, "error");
      } finally {
        btn.disabled = false;
      }
    };
    const actions = h("div", { class: "row" },
      u.current ? null : h("button", { type: "button", class: "make-current", onclick: () => change("PUT", "current", { upstream: u.name }, box) }, "Make current"),
      h("button", { type: "button", class: "test-upstream", onclick: test(false) }, "Test keys"),
      h("button", { type: "button", class: "deep-test-upstream", onclick: test(true) }, "Deep test"),
      h("button", { type: "button", class: "edit-upstream", "aria-expanded": "false", onclick: (ev) => toggleEdit(ev.currentTarget) }, "Edit"),
      removeBtn);
    function toggleEdit(btn) {
      if (editArea.firstChild) {
        clear(editArea);
        btn.setAttribute("aria-expanded", "false");
        return;
      }
      btn.setAttribute("aria-expanded", "true");
      editArea.appendChild(editForm(u, box));
    }
    put(panel, 
      h("header", {},
        h("h3", { id: "upstream-title-" + u.index, class: "upstream-name" }, u.name),
        u.current ? h("span", { class: "badge accent" }, "current") : null,
        h("span", { class: "badge" }, u.serviceType),
        circuitBadge(u.circuit)),
      h("div", { class: "meta" },
        h("span", { class: "mono base-url" }, u.baseUrl),
        u.description ? h("span", { class: "description" }, u.description) : null,
        u.maxTokens ? h("span", {}, "max tokens " + u.maxTokens) : null,
        u.fallback && u.fallback.length ? h("span", {}, "fallback: " + u.fallback.join(", ")) : null,
        h("span", {}, "keys: " + u.loadBalance),
        u.insecureSkipVerify ? h("span", { class: "badge bad" }, "TLS checks off") : null),
      actions, box, editArea, results,
      keysSection(u, box),
      mappingSection(u, box));
    return panel;
  }

  function editForm(u, box) {
    const name = h("input", { value: u.name, required: true, class: "edit-name" });
    const url = h("input", { value: u.baseUrl, required: true, type: "url", class: "edit-url" });
    const type = select("", TYPES, u.serviceType, "Service type");
    const description = h("input", { value: u.description || "", class: "edit-description" });
    const maxTokens = h("input", { value: u.maxTokens ? String(u.maxTokens) : "", inputmode: "numeric", placeholder: "no cap" });
    const insecure = h("input", { type: "checkbox", checked: u.insecureSkipVerify });
    return h("form", {
      class: "grid edit",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = {};
        if (name.value.trim() !== u.name) body.name = name.value;
        if (url.value.trim() !== u.baseUrl) body.baseUrl = url.value;
        if (type.value !== u.serviceType) body.serviceType = type.value;
        if (description.value.trim() !== (u.description || "")) body.description = description.value.trim() || null;
        const cap = maxTokens.value.trim();
        if (cap !== (u.maxTokens ? String(u.maxTokens) : "")) {
          if (cap && !/^[0-9]+$/.test(cap)) return box.set("Max tokens: a whole number, or empty for no cap.", "error");
          body.maxTokens = cap ? Number(cap) : null;
        }
        if (insecure.checked !== u.insecureSkipVerify) body.insecureSkipVerify = insecure.checked;
        if (!Object.keys(body).length) return box.set("Nothing changed.", "");
        await change("PATCH", path(u.name), body, box);
      },
    },
    field("Name", name), field("Base URL", url), field("Type", type), field("Description", description),
    field("Max tokens", maxTokens), h("label", { class: "check" }, insecure, "Skip TLS certificate checks"),
    h("button", { type: "submit", class: "primary" }, "Save changes"));
  }

  function keysSection(u, box) {
    const rows = u.keys.map((k) => h("tr", { "data-index": k.index },
      cell(String(k.index), true),
      h("td", { class: "mono key" }, k.key),
      h("td", {}, keyState(k)),
      cell(String(k.consecutiveFailures), true),
      h("td", {}, h("button", {
        type: "button",
        class: "danger remove-key",
        "aria-label": `Remove key ${k.index} (${k.key})`,
        onclick: () => change("DELETE", path(u.name, "/keys/" + k.index), undefined, box),
      }, "Remove"))));
    const input = h("input", { type: "password", class: "new-key", autocomplete: "off", placeholder: "sk-…", "aria-label": `New key for ${u.name}` });
    const form = h("form", {
      class: "row add-key-form",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const key = input.value;
        // The key leaves the page now; it is not kept in any field.
        input.value = "";
        if (!key.trim()) return box.set("Type or paste a key first.", "error");
        await change("POST", path(u.name, "/keys"), { keys: [key] }, box);
      },
    }, input, h("button", { type: "submit", class: "add-key" }, "Add key"));
    return h("section", {},
      h("h4", {}, `Keys (${u.keys.length})`),
      u.keys.length
        ? table(["#", "Key", "State", "Failures", ""], rows, { numeric: [0, 3] })
        : h("p", { class: "muted" }, "No keys: requests go out without an auth header (a local server)."),
      form);
  }

  function mappingSection(u, box) {
    const entries = Object.entries(u.modelMapping || {});
    const view = entries.length
      ? table(["Requested model", "Upstream model"], entries.map(([from, to]) =>
        h("tr", {}, h("td", { class: "mono map-from" }, from), h("td", { class: "mono map-to" }, to))))
      : h("p", { class: "muted" }, "No mapping: models pass through unchanged.");
    const editor = h("div");
    const toggle = h("button", {
      type: "button",
      class: "edit-mapping",
      "aria-expanded": "false",
      onclick: () => {
        if (editor.firstChild) {
          clear(editor);
          toggle.setAttribute("aria-expanded", "false");
        } else {
          toggle.setAttribute("aria-expanded", "true");
          editor.appendChild(mappingEditor(u, entries, box));
        }
      },
    }, "Edit mapping");
    return h("section", {}, h("h4", {}, "Model mapping"), view, h("div", { class: "row" }, toggle), editor);
  }

  function mappingEditor(u, entries, box) {
    const rows = h("div", { class: "mapping-rows" });
    const addRow = (from, to) => {
      const row = h("div", { class: "row mapping-row" },
        h("input", { value: from, placeholder: "sonnet, haiku, opus, * or a model", class: "map-from-input", "aria-label": "Requested model" }),
        h("span", { "aria-hidden": "true" }, "→"),
        h("input", { value: to, placeholder: "upstream model", class: "map-to-input", "aria-label": "Upstream model" }),
        h("button", { type: "button", class: "danger", onclick: () => row.remove() }, "Remove"));
      rows.appendChild(row);
    };
    for (const [from, to] of entries) addRow(from, to);
    if (!entries.length) addRow("", "");
    return h("form", {
      class: "mapping-editor",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const modelMapping = {};
        for (const row of rows.querySelectorAll(".mapping-row")) {
          const [from, to] = row.querySelectorAll("input");
          if (!from.value.trim() && !to.value.trim()) continue;
          modelMapping[from.value.trim()] = to.value.trim();
        }
        await change("PUT", path(u.name, "/mapping"), { modelMapping }, box);
      },
    }, rows, h("div", { class: "row" },
      h("button", { type: "button", onclick: () => addRow("", "") }, "Add row"),
      h("button", { type: "submit", class: "primary save-mapping" }, "Save mapping")));
  }

  function testReport(r) {
    const keyRows = r.keys.map((k) => h("tr", {},
      cell(k.key ? `#${k.index} ${k.key}` : "(no key)"),
      h("td", {}, h("span", { class: "badge " + (k.ok ? "ok" : "bad") }, k.ok ? "ok" : "error")),
      cell(ms(k.latencyMs), true),
      h("td", { class: "cell" }, k.error || "")));
    const parts = [
      h("p", { class: "muted" }, `Model ${r.model} → ${r.upstreamModel}`),
      table(["Key", "Result", "Latency", "Error"], keyRows, { numeric: [2] }),
    ];
    if (r.deep) {
      if (r.deep.error) parts.push(h("p", { class: "message error" }, r.deep.error));
      else {
        const kind = { works: "ok", unsupported: "warn", fails: "bad" };
        parts.push(h("p", { class: "muted" }, `Feature probe through key #${r.deep.keyIndex}${r.deep.key ? " " + r.deep.key : ""}:`));
        parts.push(table(["Feature", "Result", "Latency", "Detail"], r.deep.probes.map((p) => h("tr", { class: "probe" },
          cell(p.name.replace(/_/g, " ")),
          h("td", {}, h("span", { class: "badge " + kind[p.result] }, p.result)),
          cell(ms(p.latencyMs), true),
          h("td", { class: "cell" }, p.detail || ""))), { numeric: [2] }));
      }
    }
    return h("div", { class: "test-report" }, parts);
  }

  function addForm() {
    const box = messageBox();
    const name = h("input", { id: "new-name", required: true, autocomplete: "off" });
    const type = select("new-type", TYPES, "openai", "Service type");
    const url = h("input", { id: "new-url", required: true, placeholder: "https://api.openai.com/v1", autocomplete: "off" });
    const key = h("input", { id: "new-key", type: "password", autocomplete: "off", placeholder: "optional" });
    const description = h("input", { id: "new-description", autocomplete: "off" });
    const maxTokens = h("input", { id: "new-max-tokens", inputmode: "numeric", placeholder: "no cap" });
    return h("section", { class: "panel", "aria-labelledby": "add-title" },
      h("header", {}, h("h3", { id: "add-title" }, "Add an upstream")),
      h("form", {
        class: "grid",
        id: "add-upstream",
        onsubmit: async (ev) => {
          ev.preventDefault();
          const body = { name: name.value, serviceType: type.value, baseUrl: url.value };
          if (key.value.trim()) body.apiKeys = [key.value];
          key.value = "";
          if (description.value.trim()) body.description = description.value.trim();
          if (maxTokens.value.trim()) {
            if (!/^[0-9]+$/.test(maxTokens.value.trim())) return box.set("Max tokens: a whole number.", "error");
            body.maxTokens = Number(maxTokens.value.trim());
          }
          if (await change("POST", "upstreams", body, box)) {
            name.value = url.value = description.value = maxTokens.value = "";
            box.set("");
          }
        },
      },
      h("label", { for: "new-name" }, "Name", name),
      h("label", { for: "new-type" }, "Type", type),
      h("label", { for: "new-url" }, "Base URL", url),
      h("label", { for: "new-key" }, "API key", key),
      h("label", { for: "new-description" }, "Description", description),
      h("label", { for: "new-max-tokens" }, "Max tokens", maxTokens),
      h("button", { type: "submit", class: "primary", id: "add-upstream-submit" }, "Add upstream")),
      box);
  }

  refresh();
  return null;
}
