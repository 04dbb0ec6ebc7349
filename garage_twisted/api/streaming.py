"""HTTP plumbing for streamed uploads and downloads, shared by the front ends.

twisted.web spools a request body to a temporary file and renders the
resource only once the whole body is in; it also answers ``Expect:
100-continue`` as soon as headers arrive. For requests chosen by the site's
``should_stream(method, uri, headers)`` predicate, :class:`StreamingRequest`
instead renders the resource as soon as the headers are complete and exposes
the body as ``request.body_reader`` (:class:`BodyReader`):

- ``read()`` gives the next buffered piece, or ``b""`` at the end of the body;
- above ``HIGH_WATER`` unread bytes the transport is paused, below
  ``LOW_WATER`` resumed, so a slow handler makes the client wait instead of
  the node buffering the upload;
- ``100 Continue`` is sent on the first ``read()``: a request answered
  without reading its body (403, 404) costs the client no upload;
- a response finished before the body was read closes the connection (the
  rest of the body cannot be told apart from a next request).

:class:`ResponseStreamer` is the download side: a push producer whose
``write()`` returns a Deferred that fires when the transport wants more.

Every connection runs under the deadlines of ``api/limits.py``, one
deadline at a time, by phase: *headers* (a fixed deadline from the
connection or from the first byte of the next request), *body* (a stall
timer, measured from the last byte received and suspended while the node
itself has stopped reading), *handling* (no deadline: the request is the
handler's), *idle* (a kept-alive connection waiting for its next request)
and *closing* (the last response going out to a client that may not read
it). One timer per connection keeps them: it may fire before the current
deadline and then waits for the rest, so no timer is scheduled and
cancelled per request.
A :class:`StreamingSite` given a
:class:`~garage_twisted.api.limits.ConnectionBudget` answers connections
beyond it with one ``503 SlowDown`` and closes them.

Private Twisted 26.10.0 names relied on (Twisted is pinned):
``HTTPChannel._send100Continue``, ``HTTPChannel._command`` / ``_path`` /
``_version`` (request line, valid until ``allContentReceived``),
``FileDescriptor.dataBuffer`` / ``offset`` / ``_tempDataLen`` (what a
response still has queued: the send-stall timer spares a reader that
drains it, however slowly),
``HTTPChannel.allHeadersReceived`` / ``allContentReceived`` /
``requestDone`` / ``headerReceived`` (overridden; ``headerReceived``
repeats Twisted's checks, ``_maybeChooseTransferDecoder``,
``_respondToBadRequestAndDisconnect``, ``_receivedHeaderCount``),
``LineReceiver._buffer`` (bytes of a pipelined request read with the one
before it), ``Headers._rawHeaders`` and ``http_headers._nameEncoder`` (its cache of
canonical names: headers stored without a second encoding),
``HTTPChannel._waitingForTransport`` (the
client is not reading our response), ``Request._parsePOSTFormSubmission``,
``FileDescriptor.writeSomeData`` / ``_tempDataBuffer`` /
``_writeDisconnected`` / ``_writeDisconnecting`` (:func:`send_now`).

A response's first write that carries a body of at most ``EAGER_MAX``
bytes (a small GET, an error document) is sent with its head at once, as
one message, by :func:`send_now`, rather than queued for the reactor's next
turn: queueing costs two ``epoll_ctl`` calls (watch the socket for
writability, then stop), a reactor pass and the transport's buffer handling
in Python. Measured on 4 KiB GETs: 7% less node CPU per request. Responses
without a body (PUT, DELETE) stay queued: sent at once, they cost the node
and the client more (DELETE: +10% node CPU), as a burst of answers then
leaves one by one instead of together at the end of the turn.
"""

import enum
from io import BytesIO

from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http, server
from twisted.web.http_headers import InvalidHeaderName, _nameEncoder
from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

from garage_twisted.api.limits import ListenerLimits, refusal_response

HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024
MAX_READ = 1024 * 1024
# Pieces at least this large are read one by one, never joined.
JOIN_BELOW = 16 * 1024
# Bytes per socket read and write on S3 connections (Twisted: 64 KiB, 128 KiB).
IO_SIZE = 256 * 1024
# A response's first write with a body up to this size is sent at once with
# its head (module docstring).
EAGER_MAX = 64 * 1024
# Refused connections are counted and logged at most once per this many
# seconds: a flood must not turn into a flood of log lines.
REFUSAL_LOG_INTERVAL = 10.0

log = Logger()


class BodyIncomplete(Exception):
    """The client went away before the end of the request body."""


class BodyReader:
    """The body of a streamed request, read piece by piece.

    :param request: the :class:`StreamingRequest` it belongs to.
    """

    def __init__(self, request, high_water=HIGH_WATER, low_water=LOW_WATER):
        self._request = request
        self._pieces: list[bytes] = []
        self._buffered = 0
        self._ended = False
        self._error = None
        self._waiting: defer.Deferred | None = None
        self._paused = False
        self._started = False
        self.high_water = high_water
        self.low_water = low_water
        self.max_buffered = 0
        self.bytes_received = 0

    @property
    def complete(self) -> bool:
        """True once the whole body arrived (read or not)."""
        return self._ended

    def read(self) -> defer.Deferred:
        """Deferred firing with the next piece of body, ``b""`` at the end.

        Errbacks with :class:`BodyIncomplete` if the connection is lost
        before the end of the body.
        """
        if not self._started:
            self._started = True
            self._request.continue_if_expected()
        if self._waiting is not None:
            return defer.fail(RuntimeError("concurrent read() on one body"))
        if self._pieces:
            return defer.succeed(self._take())
        if self._error is not None:
            return defer.fail(self._error)
        if self._ended:
            return defer.succeed(b"")
        self._waiting = defer.Deferred()
        return self._waiting

    def _take(self) -> bytes:
        # Network-sized pieces are handed over as they are: joining them
        # here would copy every byte once more before the chunker joins them
        # into blocks (a copy of fresh memory costs ~0.5 ms/MiB on the VMs
        # measured). Only runs of small pieces are joined.
        if len(self._pieces) == 1 or len(self._pieces[0]) >= JOIN_BELOW:
            data = self._pieces.pop(0)
        else:
            parts, size = [], 0
            while (self._pieces and len(self._pieces[0]) < JOIN_BELOW
                   and size + len(self._pieces[0]) <= MAX_READ):
                piece = self._pieces.pop(0)
                parts.append(piece)
                size += len(piece)
            data = b"".join(parts)
        self._buffered -= len(data)
        if self._paused and self._buffered <= self.low_water:
            self._paused = False
            self._request.resume_transport()
        return data

    def _data(self, data: bytes) -> None:
        if self._ended or self._error is not None or not data:
            return
        self.bytes_received += len(data)
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            waiting.callback(data)
            return
        self._pieces.append(data)
        self._buffered += len(data)
        self.max_buffered = max(self.max_buffered, self._buffered)
        if not self._paused and self._buffered > self.high_water:
            self._paused = True
            self._request.pause_transport()

    def _end(self) -> None:
        self._ended = True
        if self._paused:
            self._paused = False
            self._request.resume_transport()
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            waiting.callback(b"")

    def _fail(self, reason) -> None:
        if self._ended:
            return
        self._error = BodyIncomplete(f"connection lost before the end of the body: {reason}")
        self._pieces.clear()
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            waiting.errback(Failure(self._error))

    async def discard(self, limit: int) -> bool:
        """Read and drop the rest of the body, up to ``limit`` bytes.

        :returns: True if the whole body was consumed.
        """
        if not self._started and self._request.expects_continue:
            # The client is waiting for our word before it sends the body:
            # it will send nothing, so there is nothing to drain.
            return False
        dropped = 0
        while dropped <= limit:
            data = await self.read()
            if not data:
                return True
            dropped += len(data)
        return False


def send_now(transport, data: bytes) -> None:
    """``transport.write(data)``, but sent to the socket at once when the
    transport has nothing queued (what the kernel does not take is queued
    as usual).

    Bytes are never reordered: anything already queued, a closing or
    half-closed connection, another kind of transport, or an error from
    the socket sends ``data`` the usual way, where the transport deals with
    it (an error then closes the connection as it would have).
    """
    send = getattr(transport, "writeSomeData", None)
    if (send is not None and data and getattr(transport, "connected", False)
            and not getattr(transport, "disconnecting", True)
            and not getattr(transport, "_writeDisconnecting", True)
            and not getattr(transport, "_writeDisconnected", True)
            and not getattr(transport, "_tempDataBuffer", True)
            and getattr(transport, "offset", -1) == len(getattr(transport, "dataBuffer", b"?"))):
        sent = send(data)
        if isinstance(sent, int) and sent > 0:
            if sent >= len(data):
                return
            data = data[sent:]
    transport.write(data)


# Twisted's cache of canonical header names (filled by its own encoder).
_canonical_names = _nameEncoder._canonicalHeaderCache


class StreamingRequest(server.Request):
    """A ``Request`` that can be rendered before its body has arrived."""

    # S3 parses its own POST bodies (browser uploads); never let twisted.web
    # read a streamed body as a form.
    _parsePOSTFormSubmission = False
    body_reader = None
    expects_continue = False
    _continue_pending = False
    _streaming = False
    _started_early = False

    def gotLength(self, length):
        channel = self.channel
        site = getattr(channel, "site", None)
        should_stream = getattr(site, "should_stream", None)
        if should_stream is not None and should_stream(
                channel._command, channel._path, self.requestHeaders):
            self._streaming = True
            self.body_reader = BodyReader(self)
            # Nothing is spooled: content stays an empty file-like object.
            self.content = BytesIO()
            expect = self.requestHeaders.getRawHeaders(b"expect")
            self.expects_continue = bool(expect and expect[0].lower() == b"100-continue")
        else:
            super().gotLength(length)

    def setHeader(self, name, value):
        # Twisted's path encodes the name and splits the value on line
        # breaks at every call, a handful of Python calls for each of the
        # ten or so headers of every answer. A bytes value without CR or LF
        # under a name already seen (canonical form cached by Twisted) is
        # stored as Twisted would store it, at the cost of two checks.
        if type(value) is bytes and b"\r" not in value and b"\n" not in value:
            canonical = _canonical_names.get(name)
            if canonical is not None:
                self.responseHeaders._rawHeaders[canonical] = [value]
                return
        super().setHeader(name, value)

    def start_early(self, command, path, version):
        """Render now, with the body still to come."""
        self._started_early = True
        server.Request.requestReceived(self, command, path, version)

    def requestReceived(self, command, path, version):
        if self._streaming:
            self.body_reader._end()
            if self._started_early:
                # The resource already runs; this only means the body ended.
                return
            # No body (Content-Length 0): rendered once the channel is done
            # with the request. Rendered at its headers, a quick answer
            # would come before the channel ends the request, the
            # connection would close after it untold, and the client's
            # next request on it fail (s3cmd's PUT ?acl after a copy did).
        super().requestReceived(command, path, version)

    def handleContentChunk(self, data):
        if self._streaming:
            self.body_reader._data(data)
        else:
            super().handleContentChunk(data)

    def continue_if_expected(self):
        if self._continue_pending and not self.finished and self.channel is not None:
            self._continue_pending = False
            http.HTTPChannel._send100Continue(self.channel)

    def pause_transport(self):
        transport = getattr(self.channel, "transport", None)
        if transport is not None:
            self.channel.reading_paused = True
            transport.pauseProducing()

    def resume_transport(self):
        transport = getattr(self.channel, "transport", None)
        if transport is not None:
            self.channel.reading_resumed()
            transport.resumeProducing()

    def write(self, data):
        channel = self.channel
        if self.startedWriting or not data or len(data) > EAGER_MAX or \
                not isinstance(channel, StreamingHTTPChannel):
            return super().write(data)
        # The first write: Twisted writes the head, then the body; both are
        # gathered here and sent as one message (module docstring).
        channel.gathered = gathered = []
        try:
            super().write(data)
        finally:
            # Sent even if the write raised after the head: what Twisted
            # had written by then goes out, as on its own path.
            channel.gathered = None
            if gathered and channel.transport is not None:
                send_now(channel.transport, b"".join(gathered))

    def finish(self):
        if self._streaming and not self.body_reader.complete and self.channel is not None:
            # The rest of the body would be parsed as the next request.
            self.channel.persistent = False
            self.setHeader(b"connection", b"close")
        return super().finish()

    def connectionLost(self, reason):
        if self.body_reader is not None:
            self.body_reader._fail(reason.getErrorMessage())
        super().connectionLost(reason)


class _Phase(enum.Enum):
    """Where a connection is in its exchange; each phase has its own timer."""

    HEADERS = "request headers"
    BODY = "request body"
    HANDLING = "handling"
    IDLE = "idle"
    CLOSING = "closing"
    CLOSED = "closed"


class StreamingHTTPChannel(http.HTTPChannel):
    """An ``HTTPChannel`` that starts streamed requests at end of headers,
    under the site's deadlines (``site.limits``, ``site.clock``)."""

    log = Logger()
    phase = None
    # While a request's first write runs: the pieces it writes (sent as one
    # by StreamingRequest.write).
    gathered = None
    reading_paused = False
    client_address = None
    _peer_address = None
    _host_address = None
    # One timer for every phase's deadline (``_arm``), and that deadline
    # (None: the phase has none).
    _timer = None
    _deadline = None
    _body_activity = 0.0
    # Body bytes received, and the count and time at the start of the
    # current rate window (MIN_BODY_BYTES per body_stall_timeout).
    _body_received = 0
    _window_bytes = 0
    _window_start = 0.0

    def connectionMade(self):
        super().connectionMade()
        self.site.channels.add(self)
        self._enter(_Phase.HEADERS)
        # Bodies of large PUTs and GETs move in 64 KiB system calls by
        # default, each a reactor turn through the HTTP parser and the
        # body reader; larger ones cut those turns (and their Python) four-fold.
        if hasattr(self.transport, "bufferSize"):
            self.transport.bufferSize = IO_SIZE
            self.transport.SEND_LIMIT = IO_SIZE

    def connectionLost(self, reason):
        # No timer after this, whatever the requests do as they learn of it.
        self.phase = _Phase.CLOSED
        self._cancel_timer()
        super().connectionLost(reason)
        self.site._channel_lost(self)

    @property
    def idle(self) -> bool:
        return not self.requests

    def getPeer(self):
        # A connection's addresses do not change; Twisted asks for both at
        # every request (the local one with a getsockname system call)
        # and builds a new address object each time.
        peer = self._peer_address
        if peer is None:
            peer = self._peer_address = self.transport.getPeer()
        return peer

    def getHost(self):
        host = self._host_address
        if host is None:
            host = self._host_address = self.transport.getHost()
        return host

    # -- deadlines ---------------------------------------------------------

    def _timeout_of(self, phase: _Phase) -> float | None:
        limits = self.site.limits
        if phase is _Phase.HEADERS:
            return limits.header_timeout
        if phase is _Phase.BODY:
            return limits.body_stall_timeout
        if phase in (_Phase.IDLE, _Phase.CLOSING):
            return limits.idle_timeout
        return None

    def _enter(self, phase: _Phase) -> None:
        if self.phase is _Phase.CLOSED:
            return
        self.phase = phase
        clock = self.site.clock
        seconds = self._timeout_of(phase)
        if clock is None or seconds is None:
            # A pending timer stays: it finds no deadline when it fires.
            self._deadline = None
            return
        now = clock.seconds()
        if phase is _Phase.BODY:
            self._body_activity = now
            self._new_window()
        self._arm(now + seconds, now)

    def _arm(self, deadline: float, now: float) -> None:
        """Make the timer fire at ``deadline`` at the latest.

        A keep-alive connection goes through three phases per request; a
        timer cancelled and scheduled at each (two ``callLater`` and two
        cancellations per request, 3% of a small GET's CPU) is replaced by
        one that may fire early: it then finds the deadline not reached
        and waits again for the rest (``_fire``). Only a deadline sooner
        than the pending timer moves it.
        """
        self._deadline = deadline
        timer = self._timer
        if timer is not None:
            if timer.time <= deadline:
                return
            self._timer = None
            timer.cancel()
        self._timer = self.site.clock.callLater(deadline - now, self._fire)

    def _fire(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self.phase is _Phase.CLOSED:
            return
        now = self.site.clock.seconds()
        if now < deadline:
            self._arm(deadline, now)  # fired early: wait for the rest
            return
        self._expired(now)

    def _new_window(self) -> None:
        self._window_start = self.site.clock.seconds()
        self._window_bytes = self._body_received

    def _cancel_timer(self) -> None:
        self._deadline = None
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _expired(self, now: float) -> None:
        self._deadline = None
        phase = self.phase
        reason = phase.value
        if phase is _Phase.BODY:
            # The stall timer is not moved at every piece of body (a
            # timer operation per 256 KiB read); it checks when it fires.
            stall = self.site.limits.body_stall_timeout
            least = self.site.limits.min_body_bytes
            quiet = now - self._body_activity
            if self.reading_paused:
                # The node, not the client, stopped the body. (A client that
                # does not read our previous answer gets no such excuse.)
                self._body_activity = now
                self._new_window()
                quiet = 0.0
            elif quiet < stall and now - self._window_start >= stall:
                if least is not None and self._body_received - self._window_bytes < least:
                    quiet = stall  # alive, but too slow to be a client
                    reason = "request body rate"
                else:
                    self._new_window()
            if quiet < stall:
                until_window = self._window_start + stall - now
                self._arm(now + min(stall - quiet, until_window), now)
                return
        self.log.debug("closing HTTP connection from {client}: {reason} beyond its limit",
                       client=self.client_address, reason=reason)
        self.site.timeouts[reason] = self.site.timeouts.get(reason, 0) + 1
        if phase is _Phase.IDLE:
            # A clean close waits for our buffered answer to leave: a client
            # that stopped reading it is aborted when the closing timer fires.
            self.transport.loseConnection()
            self._enter(_Phase.CLOSING)
        else:
            # Nothing is answered: what was received of the request is
            # dropped (a streamed body's reader fails, as on a client loss).
            self.transport.abortConnection()

    def reading_resumed(self) -> None:
        """The node reads the body again (its buffer drained)."""
        self.reading_paused = False
        clock = self.site.clock
        if clock is not None:
            self._body_activity = clock.seconds()
            self._new_window()

    def dataReceived(self, data):
        phase = self.phase
        if phase is _Phase.IDLE:
            # The next request starts: its headers have a deadline from now.
            self._enter(_Phase.HEADERS)
        elif phase is _Phase.BODY and self._deadline is not None:
            self._body_activity = self.site.clock.seconds()
            self._body_received += len(data)
        super().dataReceived(data)

    def requestDone(self, request):
        # Set before Twisted replays bytes it held back during the request
        # (they start the next request's header deadline through
        # dataReceived).
        self._enter(_Phase.IDLE if self.persistent else _Phase.CLOSING)
        super().requestDone(request)
        if self.phase is _Phase.IDLE and self._buffer:
            # A request answered while its bytes were being parsed: what
            # followed it in the same read waits in the line buffer, parsed
            # next without passing through dataReceived. It is the next
            # request's start: its headers are due, not an idle wait.
            self._enter(_Phase.HEADERS)

    def writeHeaders(self, version, code, reason, headers):
        # Twisted capitalizes header names; S3 clients read user metadata
        # names from x-amz-meta-* headers, which S3 sends lower-cased.
        sequence = [version, b" ", code, b" ", reason, b"\r\n"]
        for name, values in headers.getAllRawHeaders():
            if name[:6] == b"X-Amz-":
                name = name.lower()
            for value in values:
                sequence.extend((name, b": ", value, b"\r\n"))
        sequence.append(b"\r\n")
        # One write of the joined head: writeSequence checks each of its
        # ~40 pieces in Python, and the transport joins them anyway.
        self.write(b"".join(sequence))

    def write(self, data):
        if self.gathered is not None:
            self.gathered.append(data)
        else:
            self.transport.write(data)

    def writeSequence(self, iovec):
        if self.gathered is not None:
            self.gathered.extend(iovec)
        else:
            self.transport.writeSequence(iovec)

    def headerReceived(self, line):
        # Twisted's own checks, in its order (a bad header is a 400 and the
        # connection closed); the value, checked free of NUL, CR and LF, is
        # stored as is, where ``addRawHeader`` would encode the name and
        # split the value on line breaks a second time.
        name, colon, data = line.partition(b":")
        if not colon:
            self._respondToBadRequestAndDisconnect()
            return False
        canonical = _canonical_names.get(name)
        if canonical is None:
            try:
                canonical = _nameEncoder.encode(name)
            except InvalidHeaderName:
                self._respondToBadRequestAndDisconnect()
                return False
        data = data.strip(b" \t")
        if len(data.translate(None, b"\x00\r\n")) != len(data):
            self._respondToBadRequestAndDisconnect()
            return False
        if not self._maybeChooseTransferDecoder(canonical, data):
            return False
        self.requests[-1].requestHeaders._rawHeaders.setdefault(canonical, []).append(data)
        self._receivedHeaderCount += 1
        if self._receivedHeaderCount > self.maxHeaders:
            self._respondToBadRequestAndDisconnect()
            return False
        return True

    def allHeadersReceived(self):
        if self.length != 0:
            self._enter(_Phase.BODY)
        super().allHeadersReceived()
        request = self.requests[-1]
        if getattr(request, "_streaming", False) and self.length != 0:
            request.start_early(self._command, self._path, self._version)

    def _send100Continue(self):
        request = self.requests[-1] if self.requests else None
        if getattr(request, "_streaming", False):
            request._continue_pending = True
            return
        super()._send100Continue()

    def allContentReceived(self):
        if not self.requests:
            # The request was answered and dropped before its body ended.
            return
        self._enter(_Phase.HANDLING)
        super().allContentReceived()


class _Refused(Protocol):
    """A connection beyond a cap: one canned response, then closed."""

    def __init__(self, response: bytes):
        self.response = response

    def connectionMade(self):
        self.transport.write(self.response)
        self.transport.loseConnection()


class StreamingSite(server.Site):
    """A ``Site`` whose requests matching ``should_stream`` are streamed.

    :param resource: the root resource.
    :param should_stream: ``f(method, uri, headers) -> bool``.
    :param clock: ``IReactorTime`` for the deadlines (none without it).
    :param limits: the :class:`~garage_twisted.api.limits.ListenerLimits`.
    :param budget: a :class:`~garage_twisted.api.limits.ConnectionBudget`
        (possibly shared with other sites), or ``None`` for no cap.
    """

    protocol = StreamingHTTPChannel
    requestFactory = StreamingRequest
    # ``log`` is Site's access-log method.
    logger = Logger()

    def __init__(self, resource, should_stream=None, clock=None, limits=None, budget=None,
                 **kwargs):
        # Twisted's own idle timer restarts at every byte (a trickling
        # client keeps it off forever): the channel's phases replace it.
        kwargs.setdefault("timeout", None)
        if clock is not None:
            kwargs.setdefault("reactor", clock)
        super().__init__(resource, **kwargs)
        self.should_stream = should_stream
        self.displayTracebacks = False
        self.clock = clock
        self.limits = limits or ListenerLimits()
        self.budget = budget
        self.timeouts: dict[str, int] = {}
        self.channels = set()
        self._all_closed = []
        self._refusal_logged_at = None

    def buildProtocol(self, addr):
        address = str(getattr(addr, "host", ""))
        if self.budget is not None:
            if not self.budget.admit(address):
                self._log_refusal(address)
                return _Refused(refusal_response())
        channel = super().buildProtocol(addr)
        channel.client_address = address
        return channel

    def _log_refusal(self, address: str) -> None:
        now = self.clock.seconds() if self.clock is not None else 0.0
        if self._refusal_logged_at is not None and \
                now - self._refusal_logged_at < REFUSAL_LOG_INTERVAL:
            return
        budget = self.budget
        self.logger.warn(
            "refusing HTTP connections beyond the caps ({total} in all, {per_address} per "
            "address): {refused} refused so far, the last from {client} ({held} open from it, "
            "{open} in all)", total=budget.caps.total, per_address=budget.caps.per_address,
            refused=budget.refused, client=address, held=budget.held_by(address),
            open=budget.open)
        self._refusal_logged_at = now

    def _channel_lost(self, channel):
        if channel in self.channels and self.budget is not None:
            self.budget.release(channel.client_address)
        self.channels.discard(channel)
        if not self.channels:
            waiters, self._all_closed = self._all_closed, []
            for waiter in waiters:
                waiter.callback(None)

    def close_connections(self, grace: float = 10.0) -> defer.Deferred:
        """Close every connection: idle ones now, busy ones after their
        current response, and any still open after ``grace`` seconds abruptly.

        :returns: a Deferred firing once every connection is closed.
        """
        if not self.channels:
            return defer.succeed(None)
        done = defer.Deferred()
        self._all_closed.append(done)
        for channel in list(self.channels):
            channel.persistent = False
            if channel.idle:
                channel.transport.loseConnection()
        if self.clock is not None:
            timer = self.clock.callLater(grace, self._abort_all)
            done.addBoth(lambda r: timer.cancel() if timer.active() else None or r)
        return done

    def _abort_all(self):
        for channel in list(self.channels):
            channel.transport.abortConnection()

    def log(self, request):
        # Access lines are emitted by the API layers with request ids.
        pass


def _queued_bytes(request) -> int:
    """Bytes of our response still waiting in the transport's write buffer
    (Twisted 26.10.0's FileDescriptor: ``dataBuffer``, ``offset``,
    ``_tempDataLen``); 0 for a transport without them."""
    transport = getattr(getattr(request, "channel", None), "transport", None)
    if transport is None:
        return 0
    return (len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
            + getattr(transport, "_tempDataLen", 0))


class ClientGone(Exception):
    """The client closed the connection while a response was streaming."""


@implementer(IPushProducer)
class ResponseStreamer:
    """Writes a response body piece by piece, following the client's pace.

    :param request: the Twisted request to write to.
    """

    def __init__(self, request):
        self._request = request
        self._paused = False
        self._ready: defer.Deferred | None = None
        self._gone = False
        # The send-stall timer (api/limits.py), on a StreamingSite only.
        site = getattr(getattr(request, "channel", None), "site", None)
        self._clock = getattr(site, "clock", None)
        self._stall_timeout = getattr(getattr(site, "limits", None), "send_stall_timeout", None)
        self._stall_timer = None
        self._queued_when_armed = 0
        request.registerProducer(self, True)
        request.notifyFinish().addErrback(lambda _: self.stopProducing())

    def write(self, data: bytes) -> defer.Deferred:
        """Write ``data``; the Deferred fires when more may be written.

        Errbacks with :class:`ClientGone` once the client has gone.
        """
        if self._gone:
            return defer.fail(ClientGone("client went away"))
        self._request.write(data)
        if not self._paused:
            return defer.succeed(None)
        self._ready = defer.Deferred()
        return self._ready

    def close(self) -> None:
        """Unregister; call before the request finishes.

        Also once the client has gone: the channel stops its producer
        before the request learns of the loss, and a request finished with
        a producer still registered logs an error."""
        self._cancel_stall_timer()
        request = self._request
        if request.producer is not self:
            return
        if request.channel is not None:
            request.unregisterProducer()
        else:
            request.producer = None

    def pauseProducing(self):
        # The client's socket is full: it must read within the send stall.
        self._paused = True
        if self._clock is not None and self._stall_timeout is not None \
                and self._stall_timer is None:
            self._arm_stall_timer()

    def _arm_stall_timer(self) -> None:
        self._queued_when_armed = _queued_bytes(self._request)
        self._stall_timer = self._clock.callLater(self._stall_timeout, self._stalled)

    def resumeProducing(self):
        self._paused = False
        self._cancel_stall_timer()
        ready, self._ready = self._ready, None
        if ready is not None:
            ready.callback(None)

    def _cancel_stall_timer(self) -> None:
        timer, self._stall_timer = self._stall_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _stalled(self) -> None:
        """The client read nothing for the send stall: the connection is
        aborted (its loss stops this producer: the handler's write fails
        with ClientGone)."""
        self._stall_timer = None
        channel = self._request.channel
        if channel is None or self._gone:
            return
        if _queued_bytes(self._request) < self._queued_when_armed:
            # Slow, but reading: Twisted resumes a producer only once its
            # whole buffer (a block and more) has drained, which a slow
            # honest reader may take longer than the stall to do.
            self._arm_stall_timer()
            return
        site = channel.site
        site.timeouts["response"] = site.timeouts.get("response", 0) + 1
        log.info("aborting a response {client} stopped reading for {seconds} s",
                 client=getattr(channel, "client_address", None), seconds=self._stall_timeout)
        channel.transport.abortConnection()

    def stopProducing(self):
        self._cancel_stall_timer()
        if self._gone:
            return
        self._gone = True
        ready, self._ready = self._ready, None
        if ready is not None:
            ready.errback(Failure(ClientGone("client went away")))
