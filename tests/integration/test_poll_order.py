"""after_next_poll on the real reactor: what was written before it is on
the wire when it fires (the premise of reading a range's local replica only
after the other replicas' requests have left)."""

import socket

from twisted.internet import protocol, reactor
from twisted.trial.unittest import TestCase

from garage_twisted.util.time import after_next_poll


class PollOrderTests(TestCase):
    def test_written_data_has_left_when_it_fires(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(theirs.close)
        theirs.setblocking(False)
        proto = protocol.Protocol()
        factory = protocol.Factory.forProtocol(lambda: proto)
        reactor.adoptStreamConnection(ours.fileno(), socket.AF_UNIX, factory)
        ours.close()  # the reactor holds its own duplicate of the descriptor
        self.addCleanup(proto.transport.loseConnection)

        proto.transport.write(b"request")
        # Twisted only buffers it: nothing has left yet.
        self.assertRaises(BlockingIOError, theirs.recv, 100)

        def check(_):
            self.assertEqual(theirs.recv(100), b"request")
        return after_next_poll(reactor).addCallback(check)
