// Overview: the proxy at a glance (status cards) and, from the request
// store, requests per minute, error rate, latency and TTFB, tokens and
// cost, per upstream, for the last hour or day.

import { get, query, storeMissing } from "../api.js";
import { barChart, lineChart } from "../charts.js";
import { cell, clear, duration, h, messageBox, ms, num, pct, table, usd, put } from "../dom.js";

const RANGES = {
  hour: { label: "Last hour", span: 3600e3, bucket: "minute", step: 60e3 },
  day: { label: "Last day", span: 86400e3, bucket: "hour", step: 3600e3 },
};

/** The text the console shows for the store's state. */
export function storeText(store) {
  if (!store || store.state === "off") return "request store is off";
  if (store.error) return "request store error: " + store.error;
  const rows = store.rows === null || store.rows === undefined ? "" : ` · ${num(store.rows)} requests stored`;
  const dropped = store.dropped ? ` · ${num(store.dropped)} dropped` : "";
  return "request store is " + store.state + rows + dropped;
}

/** Request-weighted mean of a per-bucket figure (an estimate for percentiles). */
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

function sumCost(rows) {
  const known = rows.filter((r) => r.costUsd !== null && r.costUsd !== undefined);
  return known.length ? known.reduce((a, r) => a + r.costUsd, 0) : null;
}

function card(label, value, id) {
  return h("div", { class: "card", id }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
}

export function render(main) {
  let range = "hour";
  let stopped = false;
  const cards = h("div", { class: "cards", id: "overview-cards" });
  const note = messageBox();
  const charts = h("div", { class: "charts", id: "overview-charts" });
  const perUpstream = h("div", { id: "overview-upstreams" });
  const buttons = Object.entries(RANGES).map(([key, r]) =>
    h("button", {
      type: "button",
      "aria-pressed": key === range ? "true" : "false",
      onclick: (ev) => {
        range = key;
        for (const b of buttons) b.setAttribute("aria-pressed", b === ev.currentTarget ? "true" : "false");
        load();
      },
    }, r.label));
  put(main, 
    h("h2", {}, "Overview"),
    cards,
    h("section", { class: "panel" },
      h("header", {}, h("h3", {}, "Traffic"), h("div", { class: "row", role: "group", "aria-label": "Time range" }, buttons)),
      note, charts, perUpstream));

  async function load() {
    let status;
    try {
      status = await get("status");
    } catch (e) {
      note.set("Cannot read the status: " + e.message, "error");
      return;
    }
    if (stopped) return;
    const resting = status.upstreams.reduce((a, u) => a + u.keys.filter((k) => k.state === "resting").length, 0);
    const keys = status.upstreams.reduce((a, u) => a + u.keys.length, 0);
    const open = status.upstreams.filter((u) => u.circuit.state !== "closed").length;
    put(clear(cards), 
      card("Current upstream", status.currentUpstream ? status.currentUpstream.name : "none", "card-current"),
      card("Upstreams", num(status.upstreams.length)),
      card("Keys resting", `${num(resting)} of ${num(keys)}`),
      card("Circuits not closed", num(open)),
      card("Strategy", status.loadBalance),
      card("Uptime", duration(status.uptimeSeconds)),
      card("Request store", storeText(status.store), "card-store"));

    const r = RANGES[range];
    const to = Date.now();
    const from = to - r.span;
    let data;
    try {
      data = await get("usage" + query({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), bucket: r.bucket, group: "upstream" }));
    } catch (e) {
      if (stopped) return;
      clear(charts);
      clear(perUpstream);
      if (storeMissing(e) || status.store.state === "off") {
        note.set(`No charts: the ${storeText(status.store)} (requests are recorded only when it is on; see DATA_DIR).`, "");
      } else {
        note.set("Cannot read usage: " + e.message, "error");
      }
      return;
    }
    if (stopped) return;
    note.set("");
    draw(data.rows || [], from, to, r);
  }

  function draw(rows, from, to, r) {
    const groups = [...new Set(rows.map((x) => x.group))].sort();
    const byGroup = (g) => rows.filter((x) => x.group === g);
    const t = (x) => Date.parse(x.bucketStart);
    const perMinute = r.step / 60e3;
    const buckets = [...new Set(rows.map(t))].sort((a, b) => a - b);
    const inBucket = (b) => rows.filter((x) => t(x) === b);
    const combined = (field) => buckets.map((b) => [b, weighted(inBucket(b), field)]).filter((p) => p[1] !== null);
    put(clear(charts), 
      lineChart({
        title: "Requests per minute",
        from, to,
        series: groups.map((g) => ({ name: g, points: byGroup(g).map((x) => [t(x), x.requests / perMinute]) })),
      }),
      lineChart({
        title: "Error rate",
        from, to,
        yFormat: (v) => Number((v * 100).toFixed(1)) + "%",
        series: [{ name: "errors", points: buckets.map((b) => {
          const xs = inBucket(b);
          const n = xs.reduce((a, x) => a + x.requests, 0);
          return [b, n ? xs.reduce((a, x) => a + x.errors, 0) / n : 0];
        }) }],
      }),
      lineChart({
        title: "Latency p50 / p95 (ms)",
        from, to,
        series: [{ name: "p50", points: combined("latencyP50Ms") }, { name: "p95", points: combined("latencyP95Ms") }],
      }),
      lineChart({
        title: "Time to first byte p50 / p95 (ms)",
        from, to,
        series: [{ name: "p50", points: combined("ttfbP50Ms") }, { name: "p95", points: combined("ttfbP95Ms") }],
      }),
      barChart({
        title: "Tokens",
        buckets,
        series: [
          { name: "input", values: new Map(buckets.map((b) => [b, inBucket(b).reduce((a, x) => a + x.inputTokens, 0)])) },
          { name: "output", values: new Map(buckets.map((b) => [b, inBucket(b).reduce((a, x) => a + x.outputTokens, 0)])) },
          { name: "cache read", values: new Map(buckets.map((b) => [b, inBucket(b).reduce((a, x) => a + (x.cacheReadTokens || 0), 0)])) },
        ],
      }),
      barChart({
        title: "Cost (US$)",
        buckets,
        yFormat: (v) => "$" + (v < 1 ? v.toFixed(3) : v.toFixed(2)),
        series: groups.map((g) => ({ name: g, values: new Map(byGroup(g).map((x) => [t(x), x.costUsd || 0])) })),
      }));
    const body = groups.map((g) => {
      const xs = byGroup(g);
      const n = xs.reduce((a, x) => a + x.requests, 0);
      const errors = xs.reduce((a, x) => a + x.errors, 0);
      return h("tr", {},
        cell(g),
        cell(num(n), true),
        cell(pct(n ? errors / n : null), true),
        cell(ms(weighted(xs, "latencyP50Ms")) + " / " + ms(weighted(xs, "latencyP95Ms")), true),
        cell(ms(weighted(xs, "ttfbP50Ms")) + " / " + ms(weighted(xs, "ttfbP95Ms")), true),
        cell(num(xs.reduce((a, x) => a + x.inputTokens, 0)), true),
        cell(num(xs.reduce((a, x) => a + x.outputTokens, 0)), true),
        cell(usd(sumCost(xs)), true));
    });
    clear(perUpstream).appendChild(body.length
      ? table(["Upstream", "Requests", "Errors", "Latency ≈p50 / p95", "TTFB ≈p50 / p95", "Input tokens", "Output tokens", "Cost"], body, {
        numeric: [1, 2, 3, 4, 5, 6, 7],
        caption: "Per upstream over the range; percentiles are request-weighted means of the per-bucket values.",
      })
      : h("p", { class: "muted" }, "No requests in this range."));
  }

  load();
  const timer = setInterval(load, 15000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
