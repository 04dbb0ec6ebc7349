// Background work on every node: workers (scrub progress and the last
// lifecycle run among them), the resync queue and the blocks whose resync
// keeps failing, with a retry. ListWorkers, ListBlockErrors and
// RetryBlockResync with ?node=* (or one node), GetNodeStatistics,
// GetClusterStatus for the nodes' names.

import { call, perNode } from "../api.js";
import { confirmButton, describe, formatDate, h, messages, shortId, table } from "../dom.js";

function stateText(state) {
  if (state && typeof state === "object" && state.throttled) {
    return `throttled ${state.throttled.durationSecs} s`;
  }
  return String(state);
}

async function names() {
  try {
    const status = await call("GetClusterStatus");
    return new Map(status.nodes.map((n) => [n.id, n.hostname || shortId(n.id)]));
  } catch (err) {
    return new Map();
  }
}

// The lifecycle worker's status: its last pass (a day number since the
// epoch, as the worker keeps it) as a date, and its counts.
function lifecycleText(worker) {
  const parts = (worker.freeform || []).map((line) => {
    const match = /^last_pass_day: (\d+)$/.exec(line);
    if (!match) return line;
    return `last pass ${new Date(Number(match[1]) * 86400000).toISOString().slice(0, 10)}`;
  });
  return parts.join(", ") || stateText(worker.state);
}

function nodeLabel(nodeNames, id) {
  const name = nodeNames.get(id);
  return name ? `${name} (${shortId(id)})` : shortId(id);
}

export async function render(root, ctx) {
  const notes = messages();
  root.append(h("h1", null, "Background work"), notes.el,
    h("button", { type: "button", onclick: () => ctx.refresh() }, "Refresh"));
  const [nodeNames, workers, errors, stats] = await Promise.all([
    names(),
    call("ListWorkers", { query: { node: "*" }, body: {} }).catch((e) => ({ failed: e })),
    call("ListBlockErrors", { query: { node: "*" } }).catch((e) => ({ failed: e })),
    call("GetNodeStatistics", { query: { node: "*" } }).catch((e) => ({ failed: e })),
  ]);

  // -- highlights: scrub, lifecycle, resync queue -------------------------------
  root.append(h("h2", null, "Summary"));
  if (workers.failed) {
    root.append(h("p", { class: "error" }, `Workers: ${describe(workers.failed)}`));
  } else {
    const rows = [];
    const answers = perNode(workers);
    for (const [node, list] of Object.entries(answers.success)) {
      const scrub = list.find((w) => /scrub/i.test(w.name));
      const lifecycle = list.find((w) => /lifecycle/i.test(w.name));
      const resync = list.find((w) => /resync/i.test(w.name));
      rows.push([nodeLabel(nodeNames, node),
        scrub ? (scrub.progress || stateText(scrub.state)) : "–",
        lifecycle ? lifecycleText(lifecycle) : "–",
        resync ? String(resync.queueLength ?? "–") : "–",
        resync ? String(resync.persistentErrors ?? "–") : "–"]);
    }
    for (const [node, message] of Object.entries(answers.error)) {
      rows.push([nodeLabel(nodeNames, node), h("span", { class: "error" }, message), "", "", ""]);
    }
    root.append(table(["Node", "Scrub", "Lifecycle", "Resync queue", "Blocks with errors"],
                      rows, { id: "work-summary" }));
  }

  // -- resync errors ---------------------------------------------------------------
  root.append(h("h2", null, "Blocks whose resync failed"));
  if (errors.failed) {
    root.append(h("p", { class: "error" }, describe(errors.failed)));
  } else {
    const answers = perNode(errors);
    let any = false;
    for (const [node, list] of Object.entries(answers.success)) {
      if (list.length === 0) continue;
      any = true;
      const retry = async (body) => {
        try {
          const answer = await call("RetryBlockResync", { query: { node }, body });
          const counts = Object.values(perNode(answer).success).map((a) => a.count);
          ctx.flash(`${counts.reduce((a, b) => a + b, 0)} block(s) queued for resync again.`);
          ctx.refresh();
        } catch (err) {
          notes.error(err);
        }
      };
      root.append(h("h3", null, nodeLabel(nodeNames, node), " ",
        confirmButton("Retry all", () => retry({ all: true }), { class: "small" })),
      table(["Block", "Refs", "Errors", "Last try", "Next try", "Last error", ""],
        list.map((e) => [h("span", { class: "mono", title: e.blockHash }, shortId(e.blockHash)),
          String(e.refcount), String(e.errorCount), `${e.lastTrySecsAgo} s ago`,
          `in ${e.nextTryInSecs} s`, e.lastError || "",
          h("button", { type: "button", class: "small",
                        onclick: () => retry({ blockHashes: [e.blockHash] }) }, "Retry")])));
    }
    for (const [node, message] of Object.entries(answers.error)) {
      any = true;
      root.append(h("p", { class: "error" }, `${nodeLabel(nodeNames, node)}: ${message}`));
    }
    if (!any) root.append(h("p", { class: "muted", id: "no-block-errors" }, "None."));
  }

  // -- every worker ---------------------------------------------------------------
  root.append(h("h2", null, "Workers"));
  if (!workers.failed) {
    for (const [node, list] of Object.entries(perNode(workers).success)) {
      root.append(h("h3", null, nodeLabel(nodeNames, node)), table(
        ["ID", "Worker", "State", "Errors", "Last error", "Queue", "Progress", "Tranquility"],
        list.map((w) => [String(w.id), w.name, stateText(w.state),
          `${w.errors}${w.consecutiveErrors ? ` (${w.consecutiveErrors} in a row)` : ""}`,
          w.lastError ? `${w.lastError.message} (${w.lastError.secsAgo} s ago)` : "",
          w.queueLength === null || w.queueLength === undefined ? "" : String(w.queueLength),
          w.progress || "", w.tranquility === null || w.tranquility === undefined ? ""
            : String(w.tranquility)]),
        { class: "workers" }));
    }
  }

  // -- node statistics -------------------------------------------------------------
  if (!stats.failed) {
    root.append(h("h2", null, "Node statistics"));
    for (const [node, answer] of Object.entries(perNode(stats).success)) {
      root.append(h("details", null, h("summary", null, nodeLabel(nodeNames, node)),
        h("pre", { class: "freeform" }, answer.freeform)));
    }
  }
  root.append(h("p", { class: "muted" }, `As of ${formatDate(new Date().toISOString())}.`));
}
