"""A bucket's exact counts for a node that holds none of its objects (a gateway).

A node holding the bucket's partition of the object table reads its own
local counts (:class:`~garage_twisted.model.counter.LocalCounts`), changed
in the same transaction as the object rows. Another node (a gateway, or a
storage node outside that partition) would otherwise read the published
``counter`` table, which trails the writes by the insert queue's delay: a
client writing object after object through a gateway would then overshoot
a bucket's quota. :class:`BucketCountReader` asks a read quorum of the
partition's nodes for their local counts instead, and takes the largest:
every acknowledged write reached a write quorum, whose counts changed with
its rows, and a read quorum meets it.

Endpoint ``counter/local`` (message ``[bucket id]``, answer ``[objects,
bytes, uploads]`` of the answering node's replica).
"""

from twisted.internet import defer

from garage_twisted.net.mux import PRIO_NORMAL, Reply, RpcError
from garage_twisted.rpc.quorum import try_call_many

PATH = "counter/local"
TIMEOUT = 30.0


class BucketCountReader:
    """Serves this node's local counts; reads other nodes'.

    :param local_counts: the node's ``LocalCounts``.
    :param network: the node's ``Network`` (``counter/local`` is served).
    :param clock: ``IReactorTime`` for hedged reads, or ``None``.
    """

    def __init__(self, local_counts, network, clock=None):
        self.local_counts = local_counts
        self.network = network
        self.clock = clock
        network.register(PATH, self._serve)

    def _serve(self, call) -> Reply:
        try:
            (bucket_id,) = call.message
            bucket_id = bytes(bucket_id)
        except (TypeError, ValueError):
            raise RpcError("BadRequest", f"{PATH} takes [bucket id]") from None
        return Reply(self.local_counts.read(bucket_id))

    async def read(self, bucket_id: bytes, nodes, quorum: int) -> list:
        """The largest ``[objects, bytes, uploads]`` among ``quorum`` of
        ``nodes`` (most preferred first).

        :raises QuorumError: fewer than ``quorum`` answered.
        """
        me = self.network.node_id

        def call(node, path, message):
            if node == me:
                return defer.succeed(Reply(self.local_counts.read(bucket_id)))
            return self.network.call(node, path, message, priority=PRIO_NORMAL,
                                     timeout=TIMEOUT)

        replies = await try_call_many(call, nodes, PATH, [bucket_id], quorum,
                                      all_at_once=False, clock=self.clock)
        counts = [0, 0, 0]
        for _, reply in replies:
            try:
                counts = [max(a, int(b)) for a, b in zip(counts, reply.message)]
            except (TypeError, ValueError):
                raise RpcError("BadReply", f"{PATH}: malformed answer") from None
        return counts
