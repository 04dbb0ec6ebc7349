"""A userspace TCP proxy that delays or cuts a link (this kernel has no netem).

Put in front of a node's RPC port (the node advertises the proxy's address
as its ``rpc_public_addr``), it forwards bytes both ways, each chunk after
``delay`` seconds (so a round trip through it takes ``2 * delay`` more), and
can cut every connection and refuse new ones until healed. Used by the
geo-latency benchmark and fault tests::

    python -m tests.support.link_proxy --listen 4001 --target 127.0.0.1:3901 --delay 0.05

(run so, ``SIGUSR1`` cuts the link and ``SIGUSR2`` heals it).
"""

import argparse

from twisted.internet import protocol


class _Side(protocol.Protocol):
    """One end of a proxied connection; ``peer`` is the other end."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.peer = None
        self.pending = []  # bytes received before the other end connected

    def dataReceived(self, data):
        if self.peer is None or self.peer.transport is None:
            self.pending.append(data)
            return
        self.proxy.forward(self.peer, data)

    def connectionLost(self, reason):
        self.proxy.sides.discard(self)
        if self.peer is not None and self.peer.transport is not None:
            self.proxy.clock.callLater(self.proxy.delay, self.peer.transport.loseConnection)


class LinkProxy(protocol.Factory):
    """Forward connections to ``target`` with a one-way ``delay``.

    :param reactor: the reactor (connects to the target).
    :param target: ``(host, port)``.
    :param clock: what schedules the delayed writes (the reactor by default).
    """

    def __init__(self, reactor, target, delay: float = 0.0, clock=None):
        self.reactor = reactor
        self.clock = clock or reactor
        self.target = target
        self.delay = delay
        self.cut = False
        self.sides = set()

    def forward(self, side, data):
        if self.delay:
            self.clock.callLater(self.delay, self._write, side, data)
        else:
            self._write(side, data)

    @staticmethod
    def _write(side, data):
        if side.transport is not None:
            side.transport.write(data)

    def buildProtocol(self, addr):
        inbound = _Side(self)
        if self.cut:
            self.reactor.callLater(0, lambda: inbound.transport.loseConnection())
            return inbound
        outbound = _Side(self)
        inbound.peer, outbound.peer = outbound, inbound
        self.sides.update((inbound, outbound))

        def connected(_):
            for data in outbound.peer.pending:
                self.forward(outbound, data)
            outbound.peer.pending = []

        def failed(_):
            if inbound.transport is not None:
                inbound.transport.loseConnection()

        client = protocol.ClientCreator(self.reactor, lambda: outbound)
        client.connectTCP(*self.target).addCallbacks(connected, failed)
        return inbound

    def cut_link(self) -> None:
        """Close every connection and refuse new ones."""
        self.cut = True
        for side in list(self.sides):
            if side.transport is not None:
                side.transport.abortConnection()

    def heal(self) -> None:
        self.cut = False

    def close_all(self):
        """Abort every connection now; a Deferred firing once all are gone."""
        from twisted.internet import defer, task

        for side in list(self.sides):
            if side.transport is not None:
                side.transport.abortConnection()

        async def gone():
            while any(s.transport is not None and s.transport.connected for s in self.sides):
                await task.deferLater(self.reactor, 0.001, lambda: None)
        return defer.ensureDeferred(gone())


def main():
    from twisted.internet import reactor

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--target", required=True, help="host:port")
    parser.add_argument("--delay", type=float, default=0.0, help="one-way seconds")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    proxy = LinkProxy(reactor, (host, int(port)), args.delay)
    reactor.listenTCP(args.listen, proxy, interface="127.0.0.1")
    # Driven from another process: SIGUSR1 cuts the link, SIGUSR2 heals it.
    import signal
    signal.signal(signal.SIGUSR1, lambda *_: reactor.callFromThread(proxy.cut_link))
    signal.signal(signal.SIGUSR2, lambda *_: reactor.callFromThread(proxy.heal))
    reactor.run()


if __name__ == "__main__":
    main()
