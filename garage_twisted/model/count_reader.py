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

from garage_twisted.net.errors import RpcError
from garage_twisted.net.mux import PRIO_NORMAL, Reply
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
        message = call.message
        # No conversion: bytes() of a peer's integer would allocate that many.
        if not (isinstance(message, list) and len(message) == 1
                and isinstance(message[0], bytes)):
            raise RpcError("BadRequest", f"{PATH} takes [bucket id]")
        return Reply(self.local_counts.read(message[0]))

    async def read(self, bucket_id: bytes, nodes, quorum: int) -> list:
        """The largest ``[objects, bytes, uploads]`` among ``quorum`` of
        ``nodes`` (most preferred first).

        :raises QuorumError: fewer than ``quorum`` answered.
        """
        me = self.network.node_id

        def call(node, path, message):
            if node == me:
                return defer.succeed(Reply(self.local_counts.read(bucket_id)))
            # A malformed answer counts as that node failing: the quorum
            # call asks another.
            return self.network.call(node, path, message, priority=PRIO_NORMAL,
                                     timeout=TIMEOUT).addCallback(_checked)

        replies = await try_call_many(call, nodes, PATH, [bucket_id], quorum,
                                      all_at_once=False, clock=self.clock)
        return [max(column) for column in zip(*(reply.message for _, reply in replies))]


def _checked(reply: Reply) -> Reply:
    counts = reply.message
    if not (isinstance(counts, list) and len(counts) == 3
            and all(type(count) is int for count in counts)):
        raise RpcError("BadReply", f"{PATH}: malformed answer")
    return reply
