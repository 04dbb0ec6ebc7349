"""Deadlines and connection caps of the HTTP listeners (S3, website, admin).

Garage has no configuration keys for these, so they are constants, named
here and in ``docs/s3.rst``:

- a connection sends its request line and headers within ``HEADER_TIMEOUT``
  seconds of connecting, or of the first byte of its next request on a
  kept-alive connection; a client trickling one byte at a time gains nothing;
- a request body that sends nothing for ``BODY_STALL_TIMEOUT`` seconds (while
  the node is reading it: time the node spends with reading paused, making a
  fast client wait, does not count) is aborted: the connection is dropped,
  nothing is answered, and the handler sees the same
  :class:`~garage_twisted.api.streaming.BodyIncomplete` as when the client
  leaves, so no object is written; so is one that brings fewer than
  ``MIN_BODY_BYTES`` in a ``BODY_STALL_TIMEOUT`` (a byte every 59 s is not
  a client, it is a held connection);
- a response the client stops reading for ``SEND_STALL_TIMEOUT`` seconds
  (the node's send buffer stays full) is aborted, and its handler sees
  :class:`~garage_twisted.api.streaming.ClientGone`;
- a kept-alive connection with no request for ``IDLE_TIMEOUT`` seconds is
  closed, and so is one whose last response the client does not read within
  that time after the node closed the exchange;
- open client connections are capped in total and per client (an IPv4
  address or an IPv6 /64: :class:`ConnectionBudget`); a connection beyond a cap gets one
  ``503 SlowDown`` (which S3 SDKs answer by backing off) and is closed.

The caps follow the process's file descriptor limit (the node raises its
soft limit to the hard one at start): everything but client connections is
kept ``fd_reserve()`` descriptors (LevelDB's table files, the RPC port's
pending handshakes, the admin API's connections, and ``FD_RESERVE_OTHER``
for peers, block files, logs and pipes), so a flood of clients can never
take the descriptors the node needs for its own files and peers.
"""

import secrets
from dataclasses import dataclass

from twisted.web.http import RESPONSES

from garage_twisted.api.s3.errors import SlowDown, render_error_xml
from garage_twisted.db.leveldb import LEVELDB_OPTIONS
from garage_twisted.net.network import MAX_PENDING_HANDSHAKES
from garage_twisted.util.address_budget import AddressBudget

HEADER_TIMEOUT = 20.0
BODY_STALL_TIMEOUT = 60.0
# A request body brings at least this many bytes per BODY_STALL_TIMEOUT
# (about 270 B/s: a phone on a bad link sends far more).
MIN_BODY_BYTES = 16 * 1024
SEND_STALL_TIMEOUT = 60.0
IDLE_TIMEOUT = 30.0

# Descriptors for the node's peers, block files being read or written, log
# files, the block I/O process's pipes and LevelDB's own files.
FD_RESERVE_OTHER = 256
# The admin API has its own budget, inside the reserve: a flood of S3
# clients must not lock the operator out.
ADMIN_MAX_CONNECTIONS = 32
# Client connections (S3 and website together) never exceed this, however
# high the descriptor limit: each costs memory and a share of the reactor.
MAX_CLIENT_CONNECTIONS = 8192
# At least this many client connections, whatever the limit says (below it
# the node is misconfigured; it says so at start).
MIN_CLIENT_CONNECTIONS = 16
# One client address may hold at most this fraction of the total cap.
PER_ADDRESS_SHARE = 8
MIN_PER_ADDRESS = 4


@dataclass(frozen=True)
class ListenerLimits:
    """The timers of one HTTP listener, in seconds (``None``: no timer)."""

    header_timeout: float | None = HEADER_TIMEOUT
    body_stall_timeout: float | None = BODY_STALL_TIMEOUT
    min_body_bytes: int | None = MIN_BODY_BYTES
    send_stall_timeout: float | None = SEND_STALL_TIMEOUT
    idle_timeout: float | None = IDLE_TIMEOUT


def fd_reserve() -> int:
    """Descriptors kept for everything but S3 and website clients."""
    return (LEVELDB_OPTIONS["max_open_files"] + MAX_PENDING_HANDSHAKES
            + ADMIN_MAX_CONNECTIONS + FD_RESERVE_OTHER)


@dataclass(frozen=True)
class ConnectionCaps:
    """Caps on open client connections: ``total`` and ``per_address``."""

    total: int
    per_address: int

    @classmethod
    def for_fd_limit(cls, open_files: int) -> "ConnectionCaps":
        """The caps for a process allowed ``open_files`` descriptors."""
        total = min(MAX_CLIENT_CONNECTIONS,
                    max(MIN_CLIENT_CONNECTIONS, open_files - fd_reserve()))
        return cls(total, max(MIN_PER_ADDRESS, total // PER_ADDRESS_SHARE))


class ConnectionBudget(AddressBudget):
    """Open client connections counted against :class:`ConnectionCaps`
    (per client: an IPv4 address, or an IPv6 /64, ``util/address_budget.py``).

    One budget may be shared by several listeners (S3 and website draw on
    the same descriptors).
    """

    def __init__(self, caps: ConnectionCaps):
        super().__init__(caps.total, caps.per_address)
        self.caps = caps


def refusal_response() -> bytes:
    """The whole HTTP response sent to a connection beyond a cap."""
    body = render_error_xml(
        SlowDown("Too many open connections; reduce your connection count and retry."),
        secrets.token_hex(8).upper())
    reason = RESPONSES[SlowDown.status].decode("ascii")
    head = (f"HTTP/1.1 {SlowDown.status} {reason}\r\n"
            "Content-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Retry-After: 1\r\n"
            "Connection: close\r\n\r\n").encode("ascii")
    return head + body
