// Cluster: health, every node, the layout with its staged changes; assign,
// remove, preview, apply and revert (GetClusterHealth, GetClusterStatus,
// GetClusterLayout, GetClusterStatistics, UpdateClusterLayout,
// PreviewClusterLayoutChanges, ApplyClusterLayout, RevertClusterLayout).

import { call } from "../api.js";
import { clear, confirmButton, describe, field, form, formatBytes, formatSize, h, messages,
         shortId, table } from "../dom.js";

// "80.4 GB/270.6 GB (29.7%)": available / total.
const AVAIL = /([0-9.]+ ?[KMGTPE]?i?B)\/([0-9.]+ ?[KMGTPE]?i?B) \([0-9.]+%\)/g;
const UNITS = { GB: 1e9, TB: 1e12, GiB: 2 ** 30, TiB: 2 ** 40, MB: 1e6 };

// A call that may be refused (a scoped token): the error instead of a throw.
async function attempt(promise) {
  try {
    return { value: await promise };
  } catch (err) {
    return { error: err };
  }
}

function disk(space) {
  if (!space || !space.total) return null;
  return `${formatSize(space.available)} free of ${formatSize(space.total)}`;
}

// GetClusterStatistics' text has a row per storage node (our own format:
// "ID Hostname Zone Capacity Part. DataAvail MetaAvail"): the disk figures
// of the nodes whose GetClusterStatus entry has none (only the node asked
// knows its own).
function statisticsByNode(text) {
  const rows = new Map();
  for (const line of (text || "").split("\n")) {
    const match = /^\s+([0-9a-f]{16})\s/.exec(line);
    if (!match) continue;
    const avail = Array.from(line.matchAll(AVAIL), (m) => `${m[1]} free of ${m[2]}`);
    if (avail.length === 2) rows.set(match[1], { data: avail[0], metadata: avail[1] });
  }
  return rows;
}

function healthCard(health) {
  const status = health.status;
  return h("div", { class: "cards" },
    h("div", { class: `card status-${status}`, id: "cluster-health" },
      h("div", { class: "card-title" }, "Health"),
      h("div", { class: "card-value" }, status)),
    h("div", { class: "card" }, h("div", { class: "card-title" }, "Storage nodes up"),
      h("div", { class: "card-value" }, `${health.storageNodesOk} / ${health.storageNodes}`)),
    h("div", { class: "card" }, h("div", { class: "card-title" }, "Partitions with quorum"),
      h("div", { class: "card-value" }, `${health.partitionsQuorum} / ${health.partitions}`)),
    h("div", { class: "card" }, h("div", { class: "card-title" }, "Partitions all OK"),
      h("div", { class: "card-value" }, `${health.partitionsAllOk} / ${health.partitions}`)),
    h("div", { class: "card" }, h("div", { class: "card-title" }, "Connected nodes"),
      h("div", { class: "card-value" }, `${health.connectedNodes} / ${health.knownNodes}`)));
}

function nodeState(node) {
  if (node.isUp) {
    return h("span", { class: "badge up" },
      node.rttMsecs === null || node.rttMsecs === undefined ? "up" : `up · ${node.rttMsecs} ms`);
  }
  const seen = node.lastSeenSecsAgo === null || node.lastSeenSecsAgo === undefined
    ? "never seen" : `last seen ${node.lastSeenSecsAgo} s ago`;
  return h("span", { class: "badge down", title: node.lastError || "" }, `down · ${seen}`);
}

function roleText(role) {
  if (!role) return "no role";
  return role.capacity === null || role.capacity === undefined ? "gateway"
    : formatSize(role.capacity);
}

export async function render(root, ctx) {
  const notes = messages();
  root.append(h("h1", null, "Cluster"), notes.el);
  const [health, status, layout, stats, self] = await Promise.all([
    attempt(call("GetClusterHealth")), attempt(call("GetClusterStatus")),
    attempt(call("GetClusterLayout")), attempt(call("GetClusterStatistics")),
    attempt(call("GetNodeInfo", { query: { node: "self" } }))]);
  const selfId = self.value ? Object.keys(self.value.success || {})[0] : null;

  if (health.value) root.append(healthCard(health.value));
  else root.append(h("p", { class: "error" }, `Health: ${describe(health.error)}`));

  // -- nodes ---------------------------------------------------------------
  root.append(h("h2", null, "Nodes"));
  const nodes = status.value ? status.value.nodes : [];
  const fromStats = statisticsByNode(stats.value && stats.value.freeform);
  if (status.error) {
    root.append(h("p", { class: "error" }, `Nodes: ${describe(status.error)}`));
  } else {
    root.append(table(
      ["Node", "Hostname", "Address", "Zone", "Capacity", "State", "Data disk", "Metadata disk",
       "Version"],
      nodes.map((node) => {
        const known = fromStats.get(node.id.slice(0, 16)) || {};
        return h("tr", { dataset: { node: node.id } },
          h("td", { class: "mono", title: node.id }, shortId(node.id)),
          h("td", null, node.hostname || "–",
            node.id === selfId ? h("span", { class: "muted" }, " · this console") : null),
          h("td", { class: "mono" }, node.addr || "–"),
          h("td", null, node.role ? node.role.zone : "–"),
          h("td", null, roleText(node.role)),
          h("td", null, nodeState(node)),
          h("td", { class: "nowrap" }, disk(node.dataPartition) || known.data || "–"),
          h("td", { class: "nowrap" }, disk(node.metadataPartition) || known.metadata || "–"),
          h("td", null, node.garageVersion || "–"));
      }), { class: "nodes", id: "nodes" }));
  }

  // -- layout --------------------------------------------------------------
  root.append(h("h2", null, "Layout"));
  if (layout.error) {
    root.append(h("p", { class: "error" }, `Layout: ${describe(layout.error)}`));
    return;
  }
  const current = layout.value;
  const redundancy = current.parameters && current.parameters.zoneRedundancy;
  root.append(h("p", { id: "layout-version" },
    `Current layout version ${current.version}`,
    ` · zone redundancy ${redundancy === "maximum" ? "maximum"
      : redundancy ? `at least ${redundancy.atLeast}` : "–"}`,
    ` · partition size ${formatBytes(current.partitionSize)}`));
  const hostnames = new Map(nodes.map((n) => [n.id, n.hostname]));
  const layoutNotes = messages();

  async function stage(change) {
    try {
      await call("UpdateClusterLayout", { body: { roles: [change] } });
      ctx.refresh();
    } catch (err) {
      layoutNotes.error(err);
    }
  }

  root.append(table(
    ["Node", "Hostname", "Zone", "Capacity", "Tags", "Partitions", "Usable", ""],
    current.roles.map((role) => h("tr", { dataset: { node: role.id } },
      h("td", { class: "mono", title: role.id }, shortId(role.id)),
      h("td", null, hostnames.get(role.id) || "–"),
      h("td", null, role.zone),
      h("td", null, roleText(role)),
      h("td", null, (role.tags || []).join(", ")),
      h("td", null, role.storedPartitions === null ? "–" : String(role.storedPartitions)),
      h("td", null, formatSize(role.usableCapacity)),
      h("td", null, h("button", { type: "button", class: "small",
                                  onclick: () => stage({ id: role.id, remove: true }) },
                      "Stage removal")))),
    { id: "layout-roles" }));

  // -- staged changes -----------------------------------------------------------
  const staged = current.stagedRoleChanges || [];
  const stagedBox = h("div", { class: "staged", id: "staged" });
  root.append(h("h3", null, "Staged changes"), stagedBox, layoutNotes.el);
  if (staged.length === 0 && !current.stagedParameters) {
    stagedBox.append(h("p", { class: "muted" }, "No staged changes."));
  } else {
    stagedBox.append(table(["Node", "Change"], staged.map((change) => [
      h("span", { class: "mono", title: change.id }, shortId(change.id)),
      change.remove ? "remove"
        : `zone ${change.zone}, ${change.capacity === null ? "gateway"
          : formatSize(change.capacity)}${change.tags && change.tags.length
          ? `, tags ${change.tags.join(", ")}` : ""}`]), { id: "staged-changes" }));
    const preview = h("div", { id: "layout-preview" });
    stagedBox.append(
      h("div", { class: "actions" },
        h("button", { type: "button", id: "layout-preview-button", onclick: async () => {
          try {
            const answer = await call("PreviewClusterLayoutChanges", { body: {} });
            clear(preview);
            if (answer.error) {
              preview.append(h("p", { class: "error" }, answer.error));
            } else {
              preview.append(h("pre", null, (answer.message || []).join("\n")));
              if (answer.partitionsMoved !== undefined) {
                preview.append(h("p", null, `Partitions moved: ${answer.partitionsMoved}`));
              }
            }
          } catch (err) {
            layoutNotes.error(err);
          }
        } }, "Preview"),
        h("button", { type: "button", id: "layout-apply", class: "primary", onclick: async () => {
          try {
            const answer = await call("ApplyClusterLayout",
                                      { body: { version: current.version + 1 } });
            ctx.flash((answer.message || []).join(" "));
            ctx.refresh();
          } catch (err) {
            layoutNotes.error(err);
          }
        } }, `Apply as version ${current.version + 1}`),
        confirmButton("Revert", async () => {
          try {
            await call("RevertClusterLayout", { body: {} });
            ctx.refresh();
          } catch (err) {
            layoutNotes.error(err);
          }
        }, { id: "layout-revert" })),
      preview);
  }

  // -- assign ----------------------------------------------------------------
  const nodeSelect = h("select", { id: "assign-node", required: true },
    nodes.map((node) => h("option", { value: node.id },
      `${shortId(node.id)} ${node.hostname || ""}`)));
  const zone = h("input", { id: "assign-zone", required: true, placeholder: "dc1" });
  const capacity = h("input", { id: "assign-capacity", type: "number", min: "0", step: "any",
                                placeholder: "100" });
  const unit = h("select", { id: "assign-unit" },
    Object.keys(UNITS).map((name) => h("option", { value: name }, name)));
  const gateway = h("input", { id: "assign-gateway", type: "checkbox" });
  const tags = h("input", { id: "assign-tags", placeholder: "rack1, ssd" });
  nodeSelect.addEventListener("change", () => {
    const role = (nodes.find((n) => n.id === nodeSelect.value) || {}).role;
    if (role) {
      zone.value = role.zone;
      tags.value = (role.tags || []).join(", ");
    }
  });
  root.append(h("h3", null, "Assign a role"), form({ id: "assign-form", class: "inline" }, [
    field("Node", nodeSelect), field("Zone", zone),
    field("Capacity", h("span", { class: "with-unit" }, capacity, unit)),
    field("Gateway (no data)", gateway), field("Tags", tags),
  ], "Stage", async () => {
    if (!gateway.checked && !(Number(capacity.value) > 0)) {
      layoutNotes.error(new Error("give a capacity, or make the node a gateway"));
      return;
    }
    await stage({
      id: nodeSelect.value, zone: zone.value.trim(),
      capacity: gateway.checked ? null : Math.round(Number(capacity.value) * UNITS[unit.value]),
      tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
    });
  }));

  if (stats.value) {
    root.append(h("h2", null, "Statistics"),
                h("pre", { class: "freeform" }, stats.value.freeform));
  }
  notes.clear();
}
