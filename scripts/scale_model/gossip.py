"""How a layout change spreads: the real LayoutGossip, its rules as an event model, a closed form.

The rules, read from ``rpc/layout_gossip.py`` and ``rpc/layout.py``:

- a node with news of its own (a local apply; its own trackers raised,
  as when it merges a state holding a newer version and acknowledges it
  in the same save) pushes the whole state to every connected peer;
- what a merge taught a node (another node's ``ack``) is not pushed on:
  the node it came from pushed it to every peer itself;
- pings (every 15 s) carry the state's digest; a differing digest makes the
  node pull the peer's state (the fallback when a push is lost). A change
  spreads by pushes within a second, before any ping: pings are left out.

(Until commit "Layout gossip pushes news only", every merge that taught a
node something was pushed on too: ``(n + (n - 1)^2) (n - 1)`` messages per
applied change instead of ``n (n - 1)``; ``docs/scale.rst`` has both.)

Three ways to the same figures, each checked against the previous one where
both run (``agree`` in the output):

- ``real``: the real LayoutManager + LayoutGossip objects of every node on
  the in-memory mesh (``fakenet.py``), the change staged, then applied, on
  node 0 (the apply is what is measured);
- ``event``: the rules above with a node's state as (version, set of nodes
  known to have acked), on the same mesh latencies; fast enough for a few
  hundred nodes;
- ``closed form``: with the cluster's latencies (strict triangle
  inequality, no ties) node ``j`` learns the new version from node 0 at
  ``lat(0, j)`` and the ack of node ``k`` straight from ``k`` at
  ``lat(0, k) + lat(k, j)``. So every node pushes once, to ``n - 1``
  peers: ``n (n - 1)`` messages of the whole state, and every node knows
  every ack after ``max over j, k of lat(0, k) + lat(k, j)``.

CPU per message is measured on the real objects at each size (decode,
merge that teaches an ack, merge that teaches nothing, encode per peer),
and multiplied by each node's messages: the clock of the simulation counts
network latency only, and a node handles its messages one at a time.
"""

import statistics
import time
from dataclasses import replace
from types import MappingProxyType, SimpleNamespace

from garage_twisted.db.memory import MemoryStore
from garage_twisted.net.mux import PRIO_HIGH
from garage_twisted.rpc.layout import LayoutManager, LayoutState, NodeRole, UpdateTrackers
from garage_twisted.rpc.layout_gossip import PUSH_PATH, LayoutGossip
from garage_twisted.util import codec

from scale_model.cluster import Cluster
from scale_model.fakenet import EventClock, Mesh, wire_bytes
from scale_model.layout_cost import EPOCH, RF


def settled(state: LayoutState, ids, version: int) -> LayoutState:
    """``state`` with every node's ack, sync and sync_ack at ``version``."""
    table = MappingProxyType({n: version for n in ids})
    return replace(state, trackers=UpdateTrackers(table, table, table))


def simulate_real(cluster: Cluster, base: LayoutState) -> dict:
    """Every node a real LayoutManager + LayoutGossip; node 0 applies a change."""
    clock = EventClock(EPOCH)
    mesh = Mesh(clock, cluster.latency)
    start = settled(base, cluster.ids, base.current.version)
    managers, reached, acked = [], {}, {}
    for nid in cluster.ids:
        endpoint = mesh.endpoint(nid)
        manager = LayoutManager(MemoryStore(), RF, nid, clock, sync_on_receipt=False)
        manager.merge_remote(start)
        LayoutGossip(manager, endpoint, SimpleNamespace(status_extras=[], on_peer_status=[]))
        managers.append(manager)
    for endpoint in mesh.endpoints.values():
        endpoint.connections.update({n: True for n in cluster.ids if n != endpoint.node_id})
    first = managers[0]
    target = start.current.version + 1

    def watch(manager):
        def changed(version):
            if version.version >= target:
                reached.setdefault(manager.local_node_id, clock.seconds())
                if manager.all_acked(target):
                    acked.setdefault(manager.local_node_id, clock.seconds())
        manager.on_change.append(changed)

    # The change: node n-1's capacity doubled, staged on node 0; the staging
    # spreads first (its own flood), then node 0 applies.
    last = cluster.size - 1
    first.stage_role(cluster.ids[last], NodeRole(cluster.role(last).zone,
                                                 cluster.capacity[last] * 2))
    clock.run()
    staging = {"pushes": mesh.calls[PUSH_PATH], "push_bytes": mesh.bytes[PUSH_PATH]}
    mesh.reset_counters()
    for manager in managers:
        watch(manager)
    t0 = clock.seconds()
    cpu = time.process_time()
    first.apply(target)
    clock.run()
    cpu = time.process_time() - cpu
    if len(reached) != cluster.size or len(acked) != cluster.size:
        raise AssertionError(f"the change reached {len(reached)} nodes, acked on "
                             f"{len(acked)}, of {cluster.size}")
    pushes = mesh.calls[PUSH_PATH]
    return {
        "method": "real",
        "reach_seconds": max(reached.values()) - t0,
        "all_acked_seconds": max(acked.values()) - t0,
        "push_messages": pushes,
        "push_bytes": mesh.bytes[PUSH_PATH],
        "cpu_seconds_whole_cluster": cpu,
        "staging_push_messages": staging["pushes"],
        "staging_push_bytes": staging["push_bytes"],
    }


def simulate_events(cluster: Cluster) -> dict:
    """The rules of the module docstring on the mesh latencies (no objects)."""
    n = cluster.size
    clock = EventClock(0.0)
    latency = cluster.latency
    version = [1] * n
    mask = [0] * n
    reached, acked = [None] * n, [None] * n
    full = (1 << n) - 1
    messages = [0]

    def push(i):
        v, m = version[i], mask[i]
        messages[0] += n - 1
        for j in range(n):
            if j != i:
                clock.callLater(latency(i, j), receive, j, v, m)

    def receive(j, v, m):
        if v > version[j]:
            version[j], mask[j] = v, m
        elif v == version[j]:
            mask[j] |= m
        news = False
        if version[j] == 2:
            if not mask[j] >> j & 1:
                mask[j] |= 1 << j  # its own ack: news
                news = True
            if reached[j] is None:
                reached[j] = clock.seconds()
            if mask[j] == full and acked[j] is None:
                acked[j] = clock.seconds()
        if news:
            push(j)

    version[0], mask[0], reached[0] = 2, 1, 0.0
    push(0)
    clock.run()
    return {
        "method": "event",
        "reach_seconds": max(reached),
        "all_acked_seconds": max(acked),
        "push_messages": messages[0],
    }


def closed_form(cluster: Cluster) -> dict:
    n = cluster.size
    lat = cluster.latency
    first = [lat(0, j) for j in range(n)]
    all_acked = 0.0
    for j in range(n):
        known = first[j]
        for k in range(1, n):
            if k != j:
                known = max(known, first[k] + lat(k, j))
        all_acked = max(all_acked, known)
    return {
        "method": "closed form",
        "reach_seconds": max(first),
        "all_acked_seconds": all_acked,
        "push_messages": n * (n - 1),
    }


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        setup = fn()
        start = time.process_time()
        setup()
        times.append(time.process_time() - start)
    return statistics.median(times)


def message_costs(cluster: Cluster, two_versions: LayoutState, repeat: int = 3) -> dict:
    """CPU of one push, on the real objects, with the state of this size.

    ``two_versions``: a state with the old and the new version both active
    (the state pushed during a change). Half the nodes have acked the new one.
    """
    ids = list(two_versions.storage_nodes())
    new = two_versions.current.version
    half = {n: (new if i % 2 else new - 1) for i, n in enumerate(sorted(ids))}
    old = MappingProxyType({n: new - 1 for n in ids})
    sender_state = replace(two_versions, trackers=UpdateTrackers(MappingProxyType(half),
                                                                 old, old))
    receiver = sorted(ids)[0]  # acked nothing yet: the pushed state teaches it
    message = sender_state.to_cbor()
    head = codec.dumps([PRIO_HIGH, PUSH_PATH, message, False])

    def manager_with(state):
        manager = LayoutManager(MemoryStore(), RF, receiver, _FixedClock(),
                                sync_on_receipt=False)
        manager.state = state  # as loaded: skip the save and its hooks
        return manager

    minus_one = dict(half)
    learnt = next(n for n in sorted(ids) if half[n] == new and n != receiver)
    minus_one[learnt] = new - 1
    receiver_state = replace(sender_state, trackers=UpdateTrackers(
        MappingProxyType({**minus_one, receiver: new}), old, old))
    same_state = replace(sender_state, trackers=UpdateTrackers(
        MappingProxyType({**half, receiver: new}), old, old))

    def decode():
        return lambda: LayoutState.from_cbor(codec.loads(head)[2])

    def merge_change():
        manager, decoded = manager_with(receiver_state), LayoutState.from_cbor(message)
        return lambda: manager.merge_remote(decoded)

    def merge_noop():
        manager, decoded = manager_with(same_state), \
            LayoutState.from_cbor(same_state.to_cbor())
        return lambda: manager.merge_remote(decoded)

    def encode_per_peer():
        state = sender_state
        return lambda: codec.dumps([PRIO_HIGH, PUSH_PATH, state.to_cbor(), False])

    return {
        "state_wire_bytes": wire_bytes(len(head)),
        "decode_seconds": _median_time(decode, repeat),
        "merge_change_seconds": _median_time(merge_change, repeat),
        "merge_noop_seconds": _median_time(merge_noop, repeat),
        "encode_seconds": _median_time(encode_per_peer, repeat),
    }


class _FixedClock:
    def seconds(self):
        return EPOCH + 3600


def per_node(n: int, costs: dict) -> dict:
    """Per node, for one layout change (closed-form counts, measured costs):
    messages received and sent, bytes sent, CPU."""
    pushes = 1  # every node pushes once: node 0 the version, the others their ack
    received = n - 1  # one push of every other node
    teaching = n - 1  # each teaches the version or an ack
    cpu = (received * costs["decode_seconds"] + teaching * costs["merge_change_seconds"]
           + (received - teaching) * costs["merge_noop_seconds"]
           + pushes * (n - 1) * costs["encode_seconds"])
    # Node 0 encodes the state once per peer, one peer after the other, on
    # its reactor: the last peer's copy leaves after n - 1 encodings.
    reach_cpu = (n - 1) * costs["encode_seconds"] + costs["decode_seconds"] \
        + costs["merge_change_seconds"]
    return {
        "reach_cpu_seconds": reach_cpu,
        "pushes_sent": pushes,
        "messages_received": received,
        "bytes_sent": pushes * (n - 1) * costs["state_wire_bytes"],
        "cpu_seconds": cpu,
    }
