"""The table ``scripts/simulate-scale`` prints: one column per cluster size."""


def _si(value: float, unit: str = "") -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}".rstrip()
    return f"{value:.3g} {unit}".rstrip()


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.3g} ms"
    if value < 120:
        return f"{value:.3g} s"
    if value < 7200:
        return f"{value / 60:.3g} min"
    if value < 48 * 3600:
        return f"{value / 3600:.3g} h"
    return f"{value / 86400:.3g} days"


def _pct(value: float) -> str:
    return f"{value * 100:.3g}%"


ROWS = [
    ("Layout (rpc/assignment.py, real)", None),
    ("zones", lambda r: str(r["layout"]["zones"])),
    ("computation time (CPU)", lambda r: _seconds(r["layout"]["compute_seconds"])),
    ("computation peak memory", lambda r: "-" if r["layout"]["compute_peak_bytes"] is None
     else _si(r["layout"]["compute_peak_bytes"], "B")),
    ("stored layout state", lambda r: _si(r["layout"]["state_bytes"], "B")),
    ("partitions per node min/med/max", lambda r: "{}/{:g}/{}".format(
        r["layout"]["partitions_per_node_min"], r["layout"]["partitions_per_node_median"],
        r["layout"]["partitions_per_node_max"])),
    ("nodes holding no partition", lambda r: str(r["layout"]["nodes_holding_nothing"])),
    ("usable capacity / raw capacity / 3", lambda r: _pct(r["layout"]["usable_share_of_ideal"])),
    ("join: copies moved (share of data)", lambda r: "{} ({})".format(
        r["layout"]["join"]["moved_copies"], _pct(r["layout"]["join"]["moved_share"]))),
    ("join: copies on the newcomer", lambda r: str(r["layout"]["join"]["newcomer_copies"])),
    ("join: computation time", lambda r: _seconds(r["layout"]["join_seconds"])),
    ("leave: copies moved (share of data)", lambda r: "{} ({})".format(
        r["layout"]["leave"]["moved_copies"], _pct(r["layout"]["leave"]["moved_share"]))),
    ("leave: copies the leaver held", lambda r: str(r["layout"]["leave"]["leaver_copies"])),
    ("Gossip of one layout apply (rpc/layout_gossip.py)", None),
    ("simulated by", lambda r: r["gossip"]["methods"]),
    ("time to reach every node", lambda r: _seconds(r["gossip"]["reach_seconds"])),
    ("  + CPU of node 0's pushes and a merge",
     lambda r: "+" + _seconds(r["gossip"]["per_node"]["reach_cpu_seconds"])),
    ("time until every node knows every ack",
     lambda r: _seconds(r["gossip"]["all_acked_seconds"])),
    ("push messages, whole cluster", lambda r: _si(r["gossip"]["push_messages"])),
    ("one push (whole state)", lambda r: _si(r["gossip"]["costs"]["state_wire_bytes"], "B")),
    ("bytes sent, whole cluster", lambda r: _si(r["gossip"]["cluster_bytes"], "B")),
    ("per node: messages received", lambda r: _si(r["gossip"]["per_node"]["messages_received"])),
    ("per node: bytes sent", lambda r: _si(r["gossip"]["per_node"]["bytes_sent"], "B")),
    ("per node: CPU to handle them", lambda r: _seconds(r["gossip"]["per_node"]["cpu_seconds"])),
    ("CPU per push received (merge)",
     lambda r: _seconds(r["gossip"]["costs"]["decode_seconds"]
                        + r["gossip"]["costs"]["merge_change_seconds"])),
    ("Full mesh per node (net/*, real)", None),
    ("connections", lambda r: str(r["mesh"]["connections"])),
    ("Python memory of the connections", lambda r: _si(r["mesh"]["memory_bytes"], "B")),
    ("pings sent per second", lambda r: f"{r['mesh']['ping']['pings_sent_per_second']:.3g}"),
    ("ping bytes sent per second",
     lambda r: _si(r["mesh"]["ping"]["bytes_sent_per_second"], "B")),
    ("CPU per ping exchange (both ends)",
     lambda r: _seconds(r["mesh"]["ping"]["exchange_cpu_seconds"])),
    ("ping CPU, share of one core", lambda r: _pct(r["mesh"]["ping"]["cpu_share_of_a_core"])),
    ("  the same with digests cached (what-if)",
     lambda r: _pct(r["mesh"]["ping"]["cached_cpu_share_of_a_core"])),
    ("Anti-entropy (table/merkle.py, sync.py, real)", None),
    ("rows per partition (per replica)", lambda r: _si(r["antientropy"]["partition"]["rows"])
     + ("" if r["antientropy"]["partition"]["sample_scale"] == 1 else
        " (sampled 1/{:g})".format(r["antientropy"]["partition"]["sample_scale"]))),
    ("RTT between replicas", lambda r: _seconds(r["antientropy"]["partition"]["rtt_seconds"])),
    ("partition, no diff: calls / bytes", lambda r: "{} / {}".format(
        r["antientropy"]["partition"]["no_diff"]["roots_calls"],
        _si(r["antientropy"]["partition"]["no_diff"]["bytes"], "B"))),
    ("partition, 1% diff: Merkle nodes compared",
     lambda r: _si(r["antientropy"]["partition"]["diff"]["merkle_nodes_compared"])),
    ("partition, 1% diff: Merkle calls",
     lambda r: _si(r["antientropy"]["partition"]["diff"]["merkle_calls"])),
    ("partition, 1% diff: rows pushed",
     lambda r: _si(r["antientropy"]["partition"]["diff"]["rows_pushed"])),
    ("partition, 1% diff: bytes",
     lambda r: _si(r["antientropy"]["partition"]["diff"]["bytes"], "B")),
    ("partition, 1% diff: time (RTT-bound)",
     lambda r: _seconds(r["antientropy"]["partition"]["diff"]["seconds"])),
    ("partition, 1% diff: CPU",
     lambda r: _seconds(r["antientropy"]["partition"]["diff"]["cpu_seconds"])),
    ("node pass, no diff: calls / bytes / time", lambda r: "{:.3g} / {} / {}".format(
        r["antientropy"]["node"]["no_diff"]["calls"],
        _si(r["antientropy"]["node"]["no_diff"]["bytes"], "B"),
        _seconds(r["antientropy"]["node"]["no_diff"]["seconds"]))),
    ("node pass, 1% diff: Merkle nodes compared",
     lambda r: _si(r["antientropy"]["node"]["diff"]["merkle_nodes_compared"])),
    ("node pass, 1% diff: calls", lambda r: _si(r["antientropy"]["node"]["diff"]["calls"])),
    ("node pass, 1% diff: bytes", lambda r: _si(r["antientropy"]["node"]["diff"]["bytes"], "B")),
    ("node pass, 1% diff: time (every 10 min)",
     lambda r: _seconds(r["antientropy"]["node"]["diff"]["seconds"])),
]


def table(results: list) -> str:
    label = max(len(name) for name, _ in ROWS) + 2
    cells = []
    for name, fn in ROWS:
        cells.append((name, None if fn is None else [fn(r) for r in results]))
    widths = [max([len(f"{r['nodes']} nodes")] + [len(c[1][i]) for c in cells if c[1]])
              for i, r in enumerate(results)]
    lines = ["".ljust(label) + "  ".join(f"{r['nodes']} nodes".rjust(w)
                                         for r, w in zip(results, widths))]
    for name, values in cells:
        if values is None:
            lines.append(f"-- {name}")
            continue
        lines.append(name.ljust(label) + "  ".join(v.rjust(w) for v, w in zip(values, widths)))
    return "\n".join(lines)
