// Usage: requests, errors, tokens and cost from the request store, per
// day (or hour), grouped by upstream, model, key or client, as charts and
// tables.

import { get, query, storeMissing } from "../api.js";
import { barChart } from "../charts.js";
import { cell, clear, h, messageBox, ms, num, pct, table, usd, when, put } from "../dom.js";
import { storeText } from "./overview.js";

const RANGES = [
  ["1", "Last 24 hours", "hour"],
  ["7", "Last 7 days", "day"],
  ["30", "Last 30 days", "day"],
];
const GROUPS = ["upstream", "model", "key", "client"];

function weighted(rows, field) {
  let n = 0;
  let sum = 0;
  for (const r of rows) {
    if (r[field] === null || r[field] === undefined) continue;
    n += r.requests;
    sum += r[field] * r.requests;
  }
  return n ? sum / n : null;
}

function total(rows, field) {
  return rows.reduce((a, r) => a + (r[field] || 0), 0);
}

function cost(rows) {
  const known = rows.filter((r) => r.costUsd !== null && r.costUsd !== undefined);
  return known.length ? known.reduce((a, r) => a + r.costUsd, 0) : null;
}

export function render(main) {
  const note = messageBox();
  const out = h("div", { id: "usage-out" });
  const range = h("select", { id: "u-range" }, RANGES.map(([v, label]) => h("option", { value: v, selected: v === "7" }, label)));
  const bucket = h("select", { id: "u-bucket" }, ["minute", "hour", "day"].map((b) => h("option", { value: b, selected: b === "day" }, b)));
  const group = h("select", { id: "u-group" }, GROUPS.map((g) => h("option", { value: g }, g)));
  let stopped = false;
  range.addEventListener("change", () => {
    bucket.value = RANGES.find((r) => r[0] === range.value)[2];
    load();
  });
  bucket.addEventListener("change", load);
  group.addEventListener("change", load);

  put(main, 
    h("h2", {}, "Usage"),
    h("section", { class: "panel" },
      h("div", { class: "row" },
        h("label", { for: "u-range" }, "Range", range),
        h("label", { for: "u-bucket" }, "Per", bucket),
        h("label", { for: "u-group" }, "Grouped by", group))),
    note,
    out);

  async function load() {
    const to = Date.now();
    const from = to - Number(range.value) * 86400e3;
    let data;
    try {
      data = await get("usage" + query({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), bucket: bucket.value, group: group.value }));
    } catch (e) {
      if (stopped) return;
      clear(out);
      if (storeMissing(e)) {
        let state = null;
        try {
          state = (await get("status")).store;
        } catch (_) {
          state = null;
        }
        note.set(`No usage to show: the ${storeText(state)}. Usage is counted from stored requests (DATA_DIR).`, "");
      } else {
        note.set("Cannot read usage: " + e.message, "error");
      }
      return;
    }
    if (stopped) return;
    note.set((data.rows || []).length ? "" : "No requests in this range.", "");
    draw(data.rows || []);
  }

  function draw(rows) {
    const t = (r) => Date.parse(r.bucketStart);
    const groups = [...new Set(rows.map((r) => r.group))].sort();
    const buckets = [...new Set(rows.map(t))].sort((a, b) => a - b);
    const per = (field) => groups.map((g) => ({
      name: g,
      values: new Map(rows.filter((r) => r.group === g).map((r) => [t(r), field === "tokens" ? r.inputTokens + r.outputTokens : r[field] || 0])),
    }));
    const byGroup = groups.map((g) => {
      const xs = rows.filter((r) => r.group === g);
      const n = total(xs, "requests");
      return h("tr", {},
        cell(g),
        cell(num(n), true),
        cell(num(total(xs, "errors")), true),
        cell(pct(n ? total(xs, "errors") / n : null), true),
        cell(num(total(xs, "inputTokens")), true),
        cell(num(total(xs, "outputTokens")), true),
        cell(num(total(xs, "cacheReadTokens")), true),
        cell(num(total(xs, "cacheWriteTokens")), true),
        cell(usd(cost(xs)), true),
        cell(ms(weighted(xs, "latencyP50Ms")) + " / " + ms(weighted(xs, "latencyP95Ms")), true));
    });
    const byBucket = buckets.map((b) => {
      const xs = rows.filter((r) => t(r) === b);
      return h("tr", {},
        cell(bucket.value === "day" ? new Date(b).toLocaleDateString() : when(new Date(b).toISOString())),
        cell(num(total(xs, "requests")), true),
        cell(num(total(xs, "errors")), true),
        cell(num(total(xs, "inputTokens")), true),
        cell(num(total(xs, "outputTokens")), true),
        cell(usd(cost(xs)), true));
    });
    const g = group.value;
    put(clear(out), 
      h("section", { class: "panel" },
        h("div", { class: "charts" },
          barChart({ title: `Requests per ${bucket.value}, by ${g}`, buckets, series: per("requests") }),
          barChart({ title: `Tokens (input + output) by ${g}`, buckets, series: per("tokens") }),
          barChart({ title: `Cost (US$) by ${g}`, buckets, series: per("costUsd"), yFormat: (v) => "$" + (v < 1 ? v.toFixed(3) : v.toFixed(2)) }))),
      h("section", { class: "panel" },
        h("h3", {}, "By " + g),
        table([g[0].toUpperCase() + g.slice(1), "Requests", "Errors", "Error rate", "Input", "Output", "Cache read", "Cache write", "Cost", "Latency ≈p50 / p95"], byGroup, {
          numeric: [1, 2, 3, 4, 5, 6, 7, 8, 9],
          caption: "Cost is estimated from the prices in config.json; models without a price show –.",
        })),
      h("section", { class: "panel" },
        h("h3", {}, "Per " + bucket.value),
        table(["Starting", "Requests", "Errors", "Input", "Output", "Cost"], byBucket, { numeric: [1, 2, 3, 4, 5] })));
  }

  load();
  return () => {
    stopped = true;
  };
}
