// Activity: live charts of S3 requests/s, error rate, p50/p99 latency and
// bytes in/out per node, every few seconds. Figures are the increase of
// counters between two scrapes (Prometheus text, read generically by
// prom.js). Every node's text comes through this node (GetNodeMetrics with
// node=*); a token that may not call it gets this node's /metrics alone.

import { ApiError, call, getToken, perNode } from "../api.js";
import { lineChart } from "../chart.js";
import { clear, formatBytes, h, shortId } from "../dom.js";
import { buckets, parsePrometheus, pick, quantile, sum } from "../prom.js";

const KEEP_SECONDS = 300;
const REQUESTS = ["api_s3_request_counter"];
const DURATION = "api_s3_request_duration_seconds";
// The first present is charted (its name is in the legend): S3 body bytes
// if /metrics has them, else what the block store wrote and read.
const BYTES_IN = ["api_s3_request_body_bytes", "api_s3_bytes_received", "block_bytes_written"];
const BYTES_OUT = ["api_s3_response_body_bytes", "api_s3_bytes_sent", "block_bytes_read"];

function firstName(metrics, names) {
  for (const name of names) {
    for (const candidate of [name, `${name}_total`]) {
      if (metrics.has(candidate)) return candidate;
    }
  }
  return null;
}

function rate(a, b, dt, names, filter) {
  const before = sum(pick(a, names), filter);
  const after = sum(pick(b, names), filter);
  if (before === null || after === null || after < before) return null;
  return (after - before) / dt;
}

function nodeSeries(samples) {
  const out = { requests: [], errors: [], p50: [], p99: [], in: [], out: [] };
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = b.t - a.t;
    if (dt <= 0) continue;
    const total = rate(a.metrics, b.metrics, dt, REQUESTS);
    out.requests.push([b.t, total]);
    const errors = rate(a.metrics, b.metrics, dt, REQUESTS,
                        (l) => l.status_class === "4xx" || l.status_class === "5xx");
    out.errors.push([b.t, total > 0 && errors !== null ? (100 * errors) / total : 0]);
    const before = buckets(a.metrics, DURATION);
    const after = buckets(b.metrics, DURATION);
    const p50 = quantile(0.5, before, after);
    const p99 = quantile(0.99, before, after);
    out.p50.push([b.t, p50 === null ? NaN : p50 * 1000]);
    out.p99.push([b.t, p99 === null ? NaN : p99 * 1000]);
    out.in.push([b.t, rate(a.metrics, b.metrics, dt, BYTES_IN)]);
    out.out.push([b.t, rate(a.metrics, b.metrics, dt, BYTES_OUT)]);
  }
  return out;
}

// One chart per figure, one line (or two) per node.
function charts_(history, names) {
  const nodes = [...history.keys()].filter((id) => history.get(id).length >= 2);
  let first = Infinity;
  let last = -Infinity;
  for (const id of nodes) {
    const samples = history.get(id);
    first = Math.min(first, samples[0].t);
    last = Math.max(last, samples[samples.length - 1].t);
  }
  // The charts span what was scraped, from one to five minutes.
  const span = Math.min(KEEP_SECONDS, Math.max(60, last - first));
  const per = new Map(nodes.map((id) => [id, nodeSeries(history.get(id))]));
  const lines = (pick, suffix = "") => nodes.map(
    (id) => ({ name: `${names.get(id) || shortId(id)}${suffix}`, points: pick(per.get(id)) }));
  const anyLast = nodes.length ? history.get(nodes[0]).slice(-1)[0].metrics : new Map();
  const inName = firstName(anyLast, BYTES_IN) || "–";
  const outName = firstName(anyLast, BYTES_OUT) || "–";
  return [
    lineChart({ title: "S3 requests per second", format: (v) => v.toFixed(v < 10 ? 2 : 0), span,
                series: lines((o) => o.requests) }),
    lineChart({ title: "Error rate (4xx and 5xx, % of requests)",
                format: (v) => `${v.toFixed(1)}%`, span, series: lines((o) => o.errors) }),
    lineChart({ title: "Latency", format: (v) => `${v.toFixed(v < 10 ? 1 : 0)} ms`, span,
                series: [...lines((o) => o.p50, " p50"), ...lines((o) => o.p99, " p99")] }),
    lineChart({ title: `Bytes per second (in: ${inName}, out: ${outName})`,
                format: (v) => `${formatBytes(Math.round(v))}/s`, span, floor: 1024,
                series: [...lines((o) => o.in, " in"), ...lines((o) => o.out, " out")] }),
  ];
}

// Node id -> "hostname (short id)", as far as the token may read them.
async function nodeNames() {
  const names = new Map();
  try {
    const status = await call("GetClusterStatus");
    for (const n of status.nodes || []) {
      names.set(n.id, n.hostname ? `${n.hostname} (${shortId(n.id)})` : shortId(n.id));
    }
  } catch (err) {
    // A scoped token may not read the status: short ids then.
  }
  return names;
}

async function thisNodeId() {
  try {
    const info = await call("GetNodeInfo", { query: { node: "self" } });
    return Object.keys(info.success || {})[0] || "self";
  } catch (err) {
    return "self";
  }
}

export async function render(root) {
  const interval = h("select", { id: "activity-interval" },
    [2, 5, 10, 30].map((s) => h("option", { value: String(s), selected: s === 5 }, `${s} s`)));
  const metricsToken = h("input", { type: "password", id: "metrics-token", autocomplete: "off",
                                    placeholder: "only if /metrics refuses the admin token" });
  const status = h("p", { id: "activity-status", class: "muted", role: "status" },
                   "Waiting for the first two scrapes…");
  const charts = h("div", { class: "charts", id: "activity-charts" });
  root.append(h("h1", null, "Activity"),
    h("div", { class: "inline" },
      h("label", null, h("span", null, "Scrape every"), interval),
      h("label", null, h("span", null, "Metrics token"), metricsToken)),
    status, charts);

  const names = await nodeNames();
  // Node id -> [{t, metrics}], oldest first.
  const history = new Map();
  let timer = null;
  let stopped = false;
  // Every node's figures through this one (GetNodeMetrics, node=*), or
  // this node's /metrics when the token may not call GetNodeMetrics.
  let everyNode = true;
  let selfId = null;

  async function fetchTexts() {
    if (everyNode) {
      try {
        const answer = perNode(await call("GetNodeMetrics", { query: { node: "*" } }));
        const texts = new Map(Object.entries(answer.success).map(([id, a]) => [id, a.metrics]));
        return { texts, errors: answer.error };
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 403) throw err;
        everyNode = false;
      }
    }
    if (selfId === null) selfId = await thisNodeId();
    const token = metricsToken.value.trim() || getToken();
    const response = await fetch("/metrics", { headers: { Authorization: `Bearer ${token}` },
                                               credentials: "omit", cache: "no-store" });
    const text = await response.text();
    if (!response.ok) throw new Error(`/metrics answered ${response.status}: ${text.slice(0, 200)}`);
    return { texts: new Map([[selfId, text]]), errors: {} };
  }

  async function scrape() {
    let got;
    try {
      got = await fetchTexts();
    } catch (err) {
      status.textContent = `Metrics could not be read: ${err.message}`;
      status.className = "error";
      return;
    }
    if (stopped) return;
    const t = Date.now() / 1000;
    for (const [id, text] of got.texts) {
      if (!history.has(id)) history.set(id, []);
      const samples = history.get(id);
      samples.push({ t, metrics: parsePrometheus(text) });
      while (samples.length && samples[0].t < t - KEEP_SECONDS) samples.shift();
    }
    const failed = Object.entries(got.errors)
      .map(([id, message]) => `${names.get(id) || shortId(id)}: ${message}`);
    const scrapes = Math.max(0, ...[...history.values()].map((s) => s.length));
    status.className = failed.length ? "error" : "muted";
    status.textContent = `${scrapes} scrape${scrapes === 1 ? "" : "s"} of `
      + `${got.texts.size} node${got.texts.size === 1 ? "" : "s"}`
      + `${everyNode ? "" : " (this node's /metrics: the token may not call GetNodeMetrics)"}`
      + `; last at ${new Date(t * 1000).toLocaleTimeString()}.`
      + (failed.length ? ` Not answering: ${failed.join("; ")}` : "");
    if (scrapes >= 2) {
      clear(charts).append(...charts_(history, names));
      charts.dataset.points = String(scrapes - 1);
    }
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = setInterval(scrape, Number(interval.value) * 1000);
  }
  interval.addEventListener("change", () => {
    schedule();
    scrape();
  });
  schedule();
  await scrape();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
