"""A peer that lies to ``counter/local`` (the exact bucket counts a gateway
reads) can neither make the node allocate what it names nor fail a PUT.

``bytes(n)`` of a peer's integer used to allocate ``n`` zero bytes on the
reactor thread, and a malformed answer used to escape the quorum read as an
error (a 500 on the gateway's PUT) instead of counting as that node failing.
"""

import time
from types import SimpleNamespace

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from garage_twisted.model.count_reader import BucketCountReader
from garage_twisted.net.errors import RpcError
from garage_twisted.net.mux import Reply


class _Network:
    """The two nodes this reader can ask: one lies, one answers."""

    node_id = b"me"

    def __init__(self, answers):
        self.answers = answers

    def register(self, path, handler):
        self.handler = handler

    def call(self, node, path, message, priority=None, timeout=None):
        return defer.succeed(Reply(self.answers[node]))


class _Counts:
    def read(self, bucket_id):
        return [1, 10, 0]


class LyingPeerCountTests(TestCase):
    def test_huge_integer_request_is_refused_at_once(self):
        """A request naming an integer as bucket id is BadRequest, not an
        allocation of that many bytes."""
        reader = BucketCountReader(_Counts(), _Network({}))
        started = time.monotonic()
        error = self.assertRaises(RpcError, reader._serve,
                                  SimpleNamespace(message=[10 ** 12]))
        self.assertEqual(error.code, "BadRequest")
        self.assertLess(time.monotonic() - started, 1.0)

    async def test_malformed_answer_counts_as_a_failed_node(self):
        """A peer answering two numbers is skipped; the next node makes the quorum."""
        network = _Network({b"liar": [5, 50], b"honest": [3, 30, 1]})
        reader = BucketCountReader(_Counts(), network)
        counts = await reader.read(b"bucket", [b"liar", b"honest"], 1)
        self.assertEqual(counts, [3, 30, 1])
