"""Spreading the layout: digests in pings, pulls on difference, pushes on news.

Every ping a node sends or answers carries the digest of its
:class:`~garage_twisted.rpc.layout.LayoutState`. A node that sees a digest
other than its own pulls that peer's state and merges it. A node with news
of its own (a local stage, apply or revert, or its own trackers raised:
the acknowledgement of a version it received) pushes its state to every
connected peer at once, so a change reaches the cluster in about one round
trip instead of one ping interval.

What a merge taught a node is not pushed again: the node it came from
pushed it to every peer itself (the peers form a full mesh), and a peer
that missed it sees a different digest in the next ping and pulls. Pushing
every merge on (as the first version did) made each news travel n times
over every link: an applied layout cost (n + (n-1)^2)(n-1) whole-state
messages, 980,000 at 100 nodes (docs/scale.rst); now about n^2 per
version (one push per node, for its acknowledgement).

Invariants: merging is commutative and idempotent, so pushes and pulls in
any order converge; a push never causes another but for the receiver's own
news; a state with another replication factor is refused and logged,
never merged.
"""

from twisted.logger import Logger

from garage_twisted.net.errors import RpcError
from garage_twisted.net.mux import PRIO_HIGH, Reply
from garage_twisted.rpc.layout import LayoutError, LayoutState

PULL_PATH = "garage/layout/pull"
PUSH_PATH = "garage/layout/push"
TIMEOUT = 30.0


class LayoutGossip:
    """Keeps this node's layout merged with its peers'.

    :param layout: the node's ``LayoutManager``.
    :param network: the node's ``Network``.
    :param peering: the node's ``Peering`` (status in pings).
    """

    log = Logger()

    def __init__(self, layout, network, peering):
        self.layout = layout
        self.network = network
        network.register(PULL_PATH, self._answer_pull)
        network.register(PUSH_PATH, self._answer_push)
        peering.status_extras.append(lambda: {"layout": self.layout.digest()})
        peering.on_peer_status.append(self._peer_status)
        layout.on_news.append(self._push)

    def _decode(self, raw) -> LayoutState:
        try:
            return LayoutState.from_cbor(raw)
        except Exception as e:
            raise RpcError("BadLayout", f"undecodable layout: {e}") from None

    def _merge(self, raw, peer: bytes) -> bool:
        try:
            return self.layout.merge_remote(self._decode(raw))
        except LayoutError as e:
            self.log.error("refused the layout of node {node}: {error}",
                           node=peer.hex()[:16], error=str(e))
            raise RpcError("LayoutRefused", str(e)) from None

    def _answer_pull(self, call) -> Reply:
        return Reply(self.layout.state.to_cbor())

    def _answer_push(self, call) -> Reply:
        self._merge(call.message, call.peer)
        return Reply(None)

    def _peer_status(self, node_id: bytes, status: dict) -> None:
        digest = status.get("layout")
        if digest is None or digest == self.layout.digest():
            return
        d = self.network.call(node_id, PULL_PATH, None, priority=PRIO_HIGH, timeout=TIMEOUT)
        d.addCallback(lambda reply: self._merge(reply.message, node_id))
        d.addErrback(lambda failure: self.log.info(
            "cannot pull the layout of node {node}: {error}",
            node=node_id.hex()[:16], error=failure.getErrorMessage()))

    def _push(self) -> None:
        state = self.layout.state.to_cbor()
        for node_id in list(self.network.connections):
            d = self.network.call(node_id, PUSH_PATH, state, priority=PRIO_HIGH,
                                  timeout=TIMEOUT)
            d.addErrback(lambda failure, n=node_id: self.log.info(
                "cannot push the layout to node {node}: {error}",
                node=n.hex()[:16], error=failure.getErrorMessage()))
