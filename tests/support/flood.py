"""Hostile clients for the adversarial tests: many connections that trickle,
send garbage or stay silent, and a probe that measures a normal client.

The attackers run in the test's reactor, from loopback addresses other than
127.0.0.1 (``127.0.0.2`` ...): the node sees several hostile addresses, and
the normal client (127.0.0.1) is a separate one. Every connection the node
closes is reopened after a pause while the attack lasts, as an attacker
would. The probe runs in a child process, so its latencies are the node's,
not those of the test's busy reactor.
"""

import json
import random
import resource
import sys

from twisted.internet import defer, protocol, reactor, task

from tests.support.process import run

PROBE_SCRIPT = r"""
import http.client, json, sys, time, urllib.parse
url, duration, interval = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
parts = urllib.parse.urlsplit(url)
target = parts.path + "?" + parts.query
latencies, failures = [], []
end = time.monotonic() + duration
while time.monotonic() < end:
    started = time.perf_counter()
    try:
        # A new connection each time: a new client must get in.
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        connection.request("GET", target)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        if response.status != 200:
            failures.append(f"{response.status} {body[:200]!r}")
        else:
            latencies.append(time.perf_counter() - started)
    except Exception as e:
        failures.append(f"{type(e).__name__}: {e}")
    time.sleep(interval)
print(json.dumps({"latencies": latencies, "failures": failures}))
"""


def raise_own_fd_limit(testcase) -> None:
    """The test process's soft descriptor limit up to its hard limit (the
    attackers hold thousands), restored at cleanup."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        testcase.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))


async def probe(url: str, duration: float, interval: float = 0.05) -> dict:
    """GET ``url`` on a new connection every ``interval`` s for ``duration`` s,
    in a child process. Returns ``{"latencies": [s...], "failures": [text...]}``."""
    out, _, _ = await run(sys.executable, "-c", PROBE_SCRIPT, url, str(duration),
                          str(interval))
    return json.loads(out)


def percentile(values, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class _Hostile(protocol.Protocol):
    def __init__(self, attack, source):
        self.attack = attack
        self.source = source
        self.received = b""
        self.opened = None

    def connectionMade(self):
        self.opened = reactor.seconds()
        if not self.attack.running:
            self.transport.abortConnection()
            return
        self.attack.open.add(self)
        self.attack.connected += 1
        first = self.attack.first_bytes()
        if first:
            self.transport.write(first)

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.attack.open.discard(self)
        self.attack.closed(self, reactor.seconds() - self.opened)


class _HostileFactory(protocol.ClientFactory):
    def __init__(self, attack, source):
        self.attack = attack
        self.source = source

    def buildProtocol(self, addr):
        return _Hostile(self.attack, self.source)

    def startedConnecting(self, connector):
        self.attack.connecting.add(connector)

    def clientConnectionLost(self, connector, reason):
        self.attack.connecting.discard(connector)

    def clientConnectionFailed(self, connector, reason):
        self.attack.connecting.discard(connector)
        if self.attack.running:
            self.attack.failed_connects += 1
        self.attack.reopen_later(self.source)


class Attack:
    """``count`` hostile connections to ``port``, spread over ``sources``.

    :param first_bytes: ``() -> bytes`` sent on connecting (``b""``: nothing).
    :param trickle: bytes sent one at a time, one byte per connection every
        ``trickle_every`` seconds (``b""``: none).
    """

    def __init__(self, port: int, count: int, sources, first_bytes=lambda: b"",
                 trickle: bytes = b"", trickle_every: float = 4.0,
                 reopen_after=(2.0, 4.0)):
        self.port = port
        self.count = count
        self.sources = list(sources)
        self.first_bytes = first_bytes
        self.trickle = trickle
        self.trickle_every = trickle_every
        self.reopen_after = reopen_after
        self.open: set[_Hostile] = set()
        self.connecting = set()
        self.attempts = 0
        self.connected = 0
        self.failed_connects = 0
        # (lifetime, what the node sent) of each connection the node closed.
        self.ended: list[tuple[float, bytes]] = []
        self.running = False
        self._calls = []
        self._ticker = None
        self._tick = 0
        self._lost_all = None

    def start(self, batch: int = 100, batch_every: float = 0.1) -> None:
        """Open the connections in batches (a burst beyond the node's
        listen backlog would only measure SYN retries)."""
        self.running = True
        for index in range(self.count):
            source = self.sources[index % len(self.sources)]
            self._calls.append(reactor.callLater((index // batch) * batch_every,
                                                 self._open, source))
        if self.trickle:
            self._ticker = task.LoopingCall(self._trickle)
            self._ticker.start(0.25, now=False)

    def _open(self, source) -> None:
        if not self.running:
            return
        self.attempts += 1
        reactor.connectTCP("127.0.0.1", self.port, _HostileFactory(self, source), timeout=10,
                           bindAddress=(source, 0))

    def reopen_later(self, source) -> None:
        if self.running:
            self._calls = [c for c in self._calls if c.active()]
            self._calls.append(reactor.callLater(random.uniform(*self.reopen_after),
                                                 self._open, source))

    def closed(self, connection: _Hostile, lifetime: float) -> None:
        if self.running:
            self.ended.append((lifetime, connection.received))
            self.reopen_later(connection.source)
        elif not self.open and self._lost_all is not None and not self._lost_all.called:
            self._lost_all.callback(None)

    def _trickle(self) -> None:
        # Each tick serves the share of connections whose turn it is, so
        # every connection gets a byte every ``trickle_every`` seconds.
        self._tick += 1
        turns = max(1, round(self.trickle_every / 0.25))
        for connection in list(self.open):
            if id(connection) % turns == self._tick % turns:
                sent = getattr(connection, "sent", 0)
                connection.transport.write(self.trickle[sent % len(self.trickle):][:1])
                connection.sent = sent + 1

    def stop(self) -> defer.Deferred:
        """Stop reopening and close every connection; fires once all are closed."""
        self.running = False
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        for call in self._calls:
            if call.active():
                call.cancel()
        for connector in list(self.connecting):
            if connector.state == "connecting":
                connector.stopConnecting()
        if not self.open:
            return defer.succeed(None)
        self._lost_all = defer.Deferred()
        for connection in list(self.open):
            connection.transport.abortConnection()
        return self._lost_all
