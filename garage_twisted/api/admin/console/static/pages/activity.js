// Activity: live charts of S3 requests/s, error rate, p50/p99 latency and
// bytes in/out, from /metrics scraped every few seconds. Figures are the
// increase of counters between two scrapes (Prometheus text, read
// generically by prom.js), for the node serving this console: /metrics
// says what its own node did (each node's console charts that node).

import { call, getToken } from "../api.js";
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

function series(samples, node) {
  // The charts span what was scraped, from one to five minutes.
  const span = Math.min(KEEP_SECONDS,
                        Math.max(60, samples[samples.length - 1].t - samples[0].t));
  const out = { requests: [], errors4: [], errors5: [], p50: [], p99: [], in: [], out: [] };
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = b.t - a.t;
    if (dt <= 0) continue;
    const total = rate(a.metrics, b.metrics, dt, REQUESTS);
    out.requests.push([b.t, total]);
    for (const [cls, list] of [["4xx", out.errors4], ["5xx", out.errors5]]) {
      const errors = rate(a.metrics, b.metrics, dt, REQUESTS, (l) => l.status_class === cls);
      list.push([b.t, total > 0 && errors !== null ? (100 * errors) / total : 0]);
    }
    const before = buckets(a.metrics, DURATION);
    const after = buckets(b.metrics, DURATION);
    const p50 = quantile(0.5, before, after);
    const p99 = quantile(0.99, before, after);
    out.p50.push([b.t, p50 === null ? NaN : p50 * 1000]);
    out.p99.push([b.t, p99 === null ? NaN : p99 * 1000]);
    out.in.push([b.t, rate(a.metrics, b.metrics, dt, BYTES_IN)]);
    out.out.push([b.t, rate(a.metrics, b.metrics, dt, BYTES_OUT)]);
  }
  const last = samples[samples.length - 1].metrics;
  return [
    lineChart({ title: "S3 requests per second", format: (v) => v.toFixed(v < 10 ? 2 : 0), span,
                series: [{ name: node, points: out.requests }] }),
    lineChart({ title: "Error rate (% of requests)", format: (v) => `${v.toFixed(1)}%`, span,
                series: [{ name: `${node} 4xx`, points: out.errors4 },
                         { name: `${node} 5xx`, points: out.errors5 }] }),
    lineChart({ title: "Latency", format: (v) => `${v.toFixed(v < 10 ? 1 : 0)} ms`, span,
                series: [{ name: `${node} p50`, points: out.p50 },
                         { name: `${node} p99`, points: out.p99 }] }),
    lineChart({ title: "Bytes per second", format: (v) => `${formatBytes(Math.round(v))}/s`,
                span, floor: 1024,
                series: [{ name: `${node} in (${firstName(last, BYTES_IN) || "–"})`,
                           points: out.in },
                         { name: `${node} out (${firstName(last, BYTES_OUT) || "–"})`,
                           points: out.out }] }),
  ];
}

async function thisNode() {
  try {
    const info = await call("GetNodeInfo", { query: { node: "self" } });
    const id = Object.keys(info.success || {})[0];
    let name = shortId(id);
    try {
      const status = await call("GetClusterStatus");
      const me = status.nodes.find((n) => n.id === id);
      if (me && me.hostname) name = `${me.hostname} (${shortId(id)})`;
    } catch (err) {
      // A scoped token may not read the status: the id is enough.
    }
    return name;
  } catch (err) {
    return "this node";
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

  const node = await thisNode();
  const samples = [];
  let timer = null;
  let stopped = false;

  async function scrape() {
    const token = metricsToken.value.trim() || getToken();
    let text;
    try {
      const response = await fetch("/metrics", { headers: { Authorization: `Bearer ${token}` },
                                                 credentials: "omit", cache: "no-store" });
      text = await response.text();
      if (!response.ok) {
        status.textContent = `/metrics answered ${response.status}: ${text.slice(0, 200)}`;
        status.className = "error";
        return;
      }
    } catch (err) {
      status.textContent = `/metrics did not answer: ${err.message}`;
      status.className = "error";
      return;
    }
    if (stopped) return;
    const t = Date.now() / 1000;
    const metrics = parsePrometheus(text);
    samples.push({ t, metrics });
    while (samples.length && samples[0].t < t - KEEP_SECONDS) samples.shift();
    status.className = "muted";
    status.textContent = `${samples.length} scrape${samples.length > 1 ? "s" : ""} of `
      + `${node}; last at ${new Date(t * 1000).toLocaleTimeString()}, `
      + `${metrics.size} metrics.`;
    if (samples.length >= 2) {
      clear(charts).append(...series(samples, node));
      charts.dataset.points = String(samples.length - 1);
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
