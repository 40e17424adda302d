// Requests: the live tail (each request as it finishes, over Server-Sent
// Events) above a search of the request store (upstream, model, client,
// status, text), and a detail view per request. Without the store (off, or
// not in this build) the page says so.

import { get, query, storeMissing } from "../api.js";
import { cell, clear, h, messageBox, ms, num, usd, when, clock, put } from "../dom.js";
import { storeText } from "./overview.js";

const MAX_ROWS = 500;

function statusBadge(status) {
  const kind = status < 400 ? "ok" : status < 500 ? "warn" : "bad";
  return h("span", { class: "badge " + kind }, String(status));
}

const FIELDS = [
  ["id", "Id"], ["time", "Time"], ["endpoint", "Endpoint"], ["route", "Route"], ["upstream", "Upstream"],
  ["key", "Key (masked)"], ["model", "Requested model"], ["upstreamModel", "Upstream model"], ["stream", "Stream"],
  ["status", "Status"], ["errorType", "Error type"], ["errorMessage", "Error"], ["latencyMs", "Latency"],
  ["ttfbMs", "Time to first byte"], ["inputTokens", "Input tokens"], ["outputTokens", "Output tokens"],
  ["cacheReadTokens", "Cache read tokens"], ["cacheWriteTokens", "Cache write tokens"], ["retries", "Retries"],
  ["upstreamsTried", "Upstreams tried"], ["clientGone", "Client went away"], ["client", "Client"], ["costUsd", "Cost"],
];

function show(field, v) {
  if (v === null || v === undefined || v === "") return "–";
  if (field === "time") return when(v);
  if (field === "latencyMs" || field === "ttfbMs") return ms(v);
  if (field === "costUsd") return usd(v);
  if (typeof v === "number") return num(v);
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

export function render(main) {
  const note = messageBox();
  const liveNote = h("span", { class: "muted", id: "live-state", role: "status" }, "");
  const detail = h("div", { id: "request-detail" });
  const tbody = h("tbody", { id: "request-rows" });
  const more = h("button", { type: "button", id: "load-more", hidden: true }, "Load older");
  const inputs = {
    upstream: h("input", { id: "f-upstream", autocomplete: "off" }),
    model: h("input", { id: "f-model", autocomplete: "off" }),
    client: h("input", { id: "f-client", autocomplete: "off", placeholder: "a client key's name" }),
    status: h("input", { id: "f-status", inputmode: "numeric", placeholder: "200, 429, …", autocomplete: "off" }),
    q: h("input", { id: "f-q", type: "search", placeholder: "error text, id, …", autocomplete: "off" }),
  };
  const live = h("input", { type: "checkbox", id: "live-toggle", checked: true });
  let source = null;
  let nextBefore = null;
  let stopped = false;

  const filters = () => ({
    upstream: inputs.upstream.value.trim(),
    model: inputs.model.value.trim(),
    client: inputs.client.value.trim(),
    status: inputs.status.value.trim(),
    q: inputs.q.value.trim(),
  });

  // The live tail shows what the search would: the same filters, here.
  function matches(row) {
    const f = filters();
    if (f.upstream && row.upstream !== f.upstream) return false;
    if (f.model && row.model !== f.model && row.upstreamModel !== f.model) return false;
    if (f.client && row.client !== f.client) return false;
    if (f.status && String(row.status) !== f.status) return false;
    if (f.q) {
      const hay = [row.id, row.model, row.upstreamModel, row.upstream, row.errorMessage, row.errorType, row.client].join(" ").toLowerCase();
      if (!hay.includes(f.q.toLowerCase())) return false;
    }
    return true;
  }

  function rowOf(r, fresh) {
    const mapped = r.upstreamModel && r.upstreamModel !== r.model ? h("span", { class: "muted" }, " → " + r.upstreamModel) : null;
    const tr = h("tr", { class: "request-row clickable" + (fresh ? " fresh" : ""), "data-id": r.id },
      h("td", {}, h("button", { type: "button", class: "link", "aria-label": "Details of request " + r.id, onclick: () => openDetail(r.id, r) }, clock(r.time))),
      h("td", { class: "upstream" }, r.upstream || "–"),
      h("td", { class: "client" }, r.client || "–"),
      h("td", { class: "model cell" }, h("span", { class: "requested-model" }, r.model || "–"), mapped),
      h("td", {}, statusBadge(r.status)),
      cell(ms(r.latencyMs), true),
      cell(ms(r.ttfbMs), true),
      cell(num(r.inputTokens) + " / " + num(r.outputTokens), true),
      cell(usd(r.costUsd), true));
    tr.addEventListener("click", (ev) => {
      if (ev.target.closest("button")) return;
      openDetail(r.id, r);
    });
    return tr;
  }

  // `known` is the row as the list or the live tail has it: a request that
  // just finished may not be written to the store yet (the writer batches),
  // so its detail is drawn from that row until the store has it.
  async function openDetail(id, known) {
    clear(detail).appendChild(h("p", { class: "muted" }, "Loading…"));
    let r;
    try {
      r = await get("requests/" + encodeURIComponent(id));
    } catch (e) {
      if (!known) {
        clear(detail).appendChild(h("p", { class: "message error" }, "Cannot read the request: " + e.message));
        return;
      }
      r = known;
    }
    const close = h("button", { type: "button", onclick: () => clear(detail) }, "Close");
    clear(detail).appendChild(h("section", { class: "panel", "aria-labelledby": "detail-title" },
      h("header", {}, h("h3", { id: "detail-title" }, "Request " + r.id), close),
      h("dl", { class: "detail" }, FIELDS.map(([f, label]) => [h("dt", {}, label), h("dd", { "data-field": f }, show(f, r[f]))])),
      r.requestBody ? [h("h4", {}, "Request body"), h("pre", { class: "body" }, typeof r.requestBody === "string" ? r.requestBody : JSON.stringify(r.requestBody, null, 2))] : null,
      r.responseBody ? [h("h4", {}, "Response body"), h("pre", { class: "body" }, typeof r.responseBody === "string" ? r.responseBody : JSON.stringify(r.responseBody, null, 2))] : null));
    close.focus();
  }

  async function search(append) {
    let page;
    try {
      page = await get("requests" + query({ limit: 50, before: append ? nextBefore : null, ...filters() }));
    } catch (e) {
      if (stopped) return;
      if (storeMissing(e)) {
        let state = null;
        try {
          state = (await get("status")).store;
        } catch (_) {
          state = null;
        }
        note.set(`Nothing to search: the ${storeText(state)}. Requests are stored only while it is on (DATA_DIR).`, "");
      } else {
        note.set("Cannot search the requests: " + e.message, "error");
      }
      more.hidden = true;
      return;
    }
    if (stopped) return;
    note.set(page.data.length || append ? "" : "No stored request matches.", "");
    if (!append) clear(tbody);
    for (const r of page.data) tbody.appendChild(rowOf(r, false));
    nextBefore = page.nextBefore;
    more.hidden = !page.hasMore;
  }

  function connect() {
    if (source || stopped) return;
    source = new EventSource("/admin/api/requests/live");
    liveNote.textContent = "Live: connecting…";
    source.addEventListener("open", () => {
      liveNote.textContent = "Live: on";
    });
    source.addEventListener("request", (ev) => {
      let r;
      try {
        r = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (!matches(r)) return;
      const dup = [...tbody.children].find((tr) => tr.dataset.id === r.id);
      if (dup) dup.remove();
      tbody.insertBefore(rowOf(r, true), tbody.firstChild);
      while (tbody.children.length > MAX_ROWS) tbody.lastChild.remove();
      note.set("");
    });
    source.addEventListener("error", () => {
      if (!source) return;
      // A refused stream (the store is off or absent) is closed for good;
      // a dropped one reconnects by itself.
      liveNote.textContent = source.readyState === EventSource.CLOSED
        ? "Live tail unavailable (the request store is off or not in this build)"
        : "Live: reconnecting…";
      if (source.readyState === EventSource.CLOSED) disconnect();
    });
  }

  function disconnect() {
    if (source) source.close();
    source = null;
  }

  live.addEventListener("change", () => {
    if (live.checked) connect();
    else {
      disconnect();
      liveNote.textContent = "Live: paused";
    }
  });
  more.addEventListener("click", () => search(true));

  put(main, 
    h("h2", {}, "Requests"),
    h("section", { class: "panel" },
      h("form", {
        class: "grid",
        id: "request-search",
        role: "search",
        onsubmit: (ev) => {
          ev.preventDefault();
          search(false);
        },
      },
      h("label", { for: "f-upstream" }, "Upstream", inputs.upstream),
      h("label", { for: "f-model" }, "Model", inputs.model),
      h("label", { for: "f-client" }, "Client", inputs.client),
      h("label", { for: "f-status" }, "Status", inputs.status),
      h("label", { for: "f-q" }, "Text", inputs.q),
      h("button", { type: "submit", class: "primary" }, "Search")),
      h("div", { class: "row" }, h("label", { class: "check" }, live, "Live tail"), liveNote)),
    detail,
    note,
    h("section", { class: "panel" },
      h("div", { class: "table-wrap" },
        h("table", { id: "requests-table" },
          h("thead", {}, h("tr", {}, ["Time", "Upstream", "Client", "Model", "Status", "Latency", "TTFB", "Tokens in / out", "Cost"].map((t, i) =>
            h("th", { scope: "col", class: i >= 5 ? "num" : null }, t)))),
          tbody)),
      more));

  search(false);
  connect();
  return () => {
    stopped = true;
    disconnect();
  };
}
