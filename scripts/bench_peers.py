"""Peers side by side: run ../shared/bench/peers.sh against our endpoint and
print each figure as a ratio to the best peer of the same run.

Used by ``scripts/bench-node`` and ``scripts/bench-cluster`` (``--peers
moto,s3rver,fakes3``): the node or cluster they started is peers.sh's
``--target``, so every server is measured by the same load generator, in
one run, one after the other on the same cores. Absolute figures drift
between runs on these shared machines; the ratio to the best peer of the
same run is the figure the speed targets are set in.
"""

import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_SH = os.path.join(HERE, "..", "..", "shared", "bench", "peers.sh")

# s3bench result, unit, higher is better?
FIGURES = (
    ("a_put", "ops_per_s", "4 KiB PUT, ops/s", True),
    ("a_get", "ops_per_s", "4 KiB GET, ops/s", True),
    ("b_put", "MB_per_s", "64 MiB PUT, MB/s", True),
    ("b_get", "MB_per_s", "64 MiB GET, MB/s", True),
    ("d_list", "seconds", "list 10,000 keys, s", False),
    ("e_delete", "ops_per_s", "DELETE, ops/s", True),
)


def run_peers(peers: str, runs: int, workloads: str, out_dir: str, target: dict) -> dict:
    """Run peers.sh (``peers``: comma-separated names) and our ``target``
    (``endpoint``, ``key``, ``secret``, ``bucket``, ``region``, ``name``);
    returns ``{server name: s3bench results}``."""
    if not os.path.exists(PEERS_SH):
        sys.exit(f"bench: {PEERS_SH} not found (the shared bench directory)")
    env = dict(os.environ, PEERS=peers, RUNS=str(runs), WORKLOADS=workloads, OUT=out_dir,
               PYTHON=sys.executable)
    subprocess.run(["bash", PEERS_SH, "--target", target["endpoint"],
                    "--target-key", target["key"], "--target-secret", target["secret"],
                    "--target-bucket", target["bucket"], "--target-region", target["region"],
                    "--target-name", target["name"]], env=env, check=True)
    results = {}
    for path in glob.glob(os.path.join(out_dir, "*.json")):
        with open(path) as f:
            data = json.load(f)
        if isinstance(data, dict) and "results" in data:
            results[data.get("name") or os.path.basename(path)[:-5]] = data["results"]
    return results


def ratio_rows(results: dict, ours: str) -> list:
    """``[(figure, best peer name, best peer value, our value, ratio)]``;
    the ratio is ours / best (best / ours for times), > 1 when we lead."""
    rows = []
    for phase, unit, label, higher in FIGURES:
        ours_value = results.get(ours, {}).get(phase, {}).get(unit)
        peers = [(name, r[phase][unit]) for name, r in results.items()
                 if name != ours and name != "null" and r.get(phase, {}).get(unit)]
        if ours_value is None or not peers:
            continue
        best_name, best = (max if higher else min)(peers, key=lambda p: p[1])
        ratio = ours_value / best if higher else best / ours_value
        rows.append((label, best_name, best, ours_value, ratio))
    return rows


def _figure(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def format_rows(rows: list, ours: str) -> str:
    lines = [f"| figure | best peer | {ours} | ratio |", "|---|---|---|---|"]
    for label, name, best, value, ratio in rows:
        lines.append(f"| {label} | {_figure(best)} ({name}) | {_figure(value)} | x{ratio:.2f} |")
    return "\n".join(lines)
