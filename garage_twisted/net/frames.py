"""Frames of the multiplexed RPC layer (sans-IO): one frame per transport message.

Layout: ``kind (1) | call id (4, big endian) | flags (1) | payload``.

A call is numbered by the side that makes it. Each direction of a call is a
*head* (CBOR, split over as many frames as needed, the last one flagged
``HEAD_END``) then an optional *body* (bytes, flow-controlled), the last
frame of a direction flagged ``END``:

- ``REQUEST``: caller -> callee bytes of the caller's call ``id``;
- ``RESPONSE``: callee -> caller bytes of the answer to call ``id``
  (``ERROR`` on its head: the head is ``[code, message]``);
- ``CANCEL``: the caller abandons call ``id``;
- ``WINDOW_REQUEST``: the callee lets the caller send ``n`` more request body
  bytes (payload: 4-byte ``n``); ``WINDOW_RESPONSE``: the caller lets the
  callee send ``n`` more response body bytes.

:func:`decode_frame` raises :class:`FrameError` on anything malformed; the
connection is then closed.
"""

import struct
from dataclasses import dataclass

HEADER = struct.Struct("!BIB")

REQUEST = 1
RESPONSE = 2
CANCEL = 3
WINDOW_REQUEST = 4
WINDOW_RESPONSE = 5
KINDS = {REQUEST, RESPONSE, CANCEL, WINDOW_REQUEST, WINDOW_RESPONSE}

HEAD = 0x01
HEAD_END = 0x02
END = 0x04
ERROR = 0x08
ALL_FLAGS = HEAD | HEAD_END | END | ERROR

WINDOW = struct.Struct("!I")


class FrameError(Exception):
    """A frame that breaks the protocol: close the connection."""


@dataclass(frozen=True)
class Frame:
    kind: int
    call_id: int
    flags: int
    # bytes, or (decoded frames) a memoryview of the received message
    payload: bytes = b""

    def encode(self) -> bytes:
        # The payload may be a memoryview of a larger block: one copy here.
        return HEADER.pack(self.kind, self.call_id, self.flags) + self.payload


def decode_frame(data: bytes) -> Frame:
    if len(data) < HEADER.size:
        raise FrameError("frame shorter than its header")
    kind, call_id, flags = HEADER.unpack_from(data)
    if kind not in KINDS:
        raise FrameError(f"unknown frame kind {kind}")
    if flags & ~ALL_FLAGS:
        raise FrameError(f"unknown frame flags {flags:#x}")
    # A view, not a copy: the decrypted message is this frame's alone, and
    # a body's pieces are joined once by their reader (copying each 64 KiB
    # piece here cost a replica ~4% of its reactor thread in a large PUT).
    payload = memoryview(data)[HEADER.size:]
    if kind in (WINDOW_REQUEST, WINDOW_RESPONSE):
        if len(payload) != WINDOW.size:
            raise FrameError("window frame of wrong length")
        if WINDOW.unpack(payload)[0] == 0:
            raise FrameError("empty window grant")
    if kind == CANCEL and payload:
        raise FrameError("cancel frame with a payload")
    return Frame(kind, call_id, flags, payload)


def window_frame(kind: int, call_id: int, n: int) -> Frame:
    return Frame(kind, call_id, 0, WINDOW.pack(n))
