"""The block I/O process: small block files read and written off the node's GIL.

A 4 KiB block costs far less disk work than the hand-off to a thread of the
node: every system call in a worker thread releases and retakes the GIL the
reactor thread is running on, and those switches cost the reactor more than
the I/O itself (small GETs ran at about half the rate measured with the I/O
done inline). This child process does that I/O on the other core with its own
interpreter; the node only writes a request to a pipe and reads the answer
when its reactor sees it, so nothing blocks the reactor and no lock is shared.

Wire format on the child's stdin and stdout, both directions framed by
``HEADER`` (request id, operation or status, payload length)::

    request  READ   payload = hash (32)             -> OK + plain bytes
    request  WRITE  payload = hash (32) + plain data -> OK + b"\\x01" written / b"\\x00" present

Answers carry ``OK``, ``MISSING``, ``CORRUPT`` or ``ERROR`` (payload = a
UTF-8 message). Before any answer, the child writes one ``READY`` frame
(request id 0, status ``OK``, no payload) once it has imported its code and
opened its store: until then the node serves requests in its thread pool.
``CORRUPT`` means the block's file did not hold the block and
this process has already renamed it aside (the store's verified read does it,
so the rename happens here, off the node's reactor); the node logs it and
queues the resync. The child answers requests in the order it reads them, each
as soon as it is done, and exits at end of input. It reuses
:class:`~garage_twisted.block.store.LocalBlockStore`, so the files it writes
are exactly those the node's threads would write (tmp + rename, same names).

Run as ``python -m garage_twisted.block.io_child DATA_DIR LEVEL FSYNC``.
"""

import os
import struct
import sys

from garage_twisted.block.data import compress
from garage_twisted.block.errors import BlockWriteRefused, CorruptBlock, MissingBlock
from garage_twisted.block.store import LocalBlockStore

HEADER = struct.Struct("!IBI")
HASH_LEN = 32
# Larger payloads are refused: the process is for small blocks only.
MAX_PAYLOAD = HASH_LEN + 1024 * 1024

OP_READ = 1
OP_WRITE = 2

OK = 0
MISSING = 1
CORRUPT = 2
ERROR = 3
REFUSED = 4  # the disk refused a write (BlockWriteRefused)

READ_SIZE = 1 << 20

# The request id of the frame announcing that the child serves requests;
# the node numbers its requests from 1.
READY_ID = 0


def encode_frame(request_id: int, kind: int, payload: bytes) -> bytes:
    return HEADER.pack(request_id, kind, len(payload)) + payload


class FrameReader:
    """Splits a byte stream into ``(request_id, kind, payload)`` frames.

    :raises ValueError: from :meth:`feed` on a frame longer than
        ``MAX_PAYLOAD`` (the stream is then unusable).
    """

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        buffer = self._buffer
        buffer += data
        frames = []
        pos = 0
        size = HEADER.size
        while len(buffer) - pos >= size:
            request_id, kind, length = HEADER.unpack_from(buffer, pos)
            if length > MAX_PAYLOAD:
                raise ValueError(f"frame of {length} bytes exceeds {MAX_PAYLOAD}")
            end = pos + size + length
            if len(buffer) < end:
                break
            frames.append((request_id, kind, bytes(buffer[pos + size:end])))
            pos = end
        del buffer[:pos]
        return frames


def handle(store: LocalBlockStore, level, kind: int, payload: bytes) -> tuple[int, bytes]:
    """Run one request against ``store``: ``(status, answer payload)``."""
    hash_ = payload[:HASH_LEN]
    if len(hash_) != HASH_LEN:
        return ERROR, b"request without a block hash"
    try:
        if kind == OP_READ:
            return OK, store.read_and_verify_now(hash_)
        if kind == OP_WRITE:
            written = store.write_block_now(hash_, compress(payload[HASH_LEN:], level))
            return OK, b"\x01" if written else b"\x00"
        return ERROR, f"unknown operation {kind}".encode()
    except MissingBlock as e:
        return MISSING, str(e).encode()
    except CorruptBlock as e:
        return CORRUPT, str(e).encode()
    except BlockWriteRefused as e:
        return REFUSED, str(e).encode()
    except Exception as e:  # reported to the node, which logs it
        return ERROR, f"{type(e).__name__}: {e}".encode()


def serve(store: LocalBlockStore, level, read_fd: int, out) -> None:
    """Answer requests from ``read_fd`` on the binary file ``out`` until EOF."""
    reader = FrameReader()
    out.write(encode_frame(READY_ID, OK, b""))
    out.flush()
    while True:
        chunk = os.read(read_fd, READ_SIZE)
        if not chunk:
            return
        for request_id, kind, payload in reader.feed(chunk):
            status, answer = handle(store, level, kind, payload)
            # Each answer as soon as it is ready: a file creation can take
            # most of a millisecond, and a request must not wait for the
            # ones that arrived with it.
            out.write(encode_frame(request_id, status, answer))
            out.flush()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print("usage: io_child DATA_DIR LEVEL|none FSYNC(0|1)", file=sys.stderr)
        return 2
    data_dir, level_arg, fsync_arg = argv
    level = None if level_arg == "none" else int(level_arg)

    def no_threads(f, *args):  # pragma: no cover - the child is synchronous
        raise RuntimeError("the block I/O process has no thread pool")

    store = LocalBlockStore(data_dir, no_threads, fsync=fsync_arg == "1")
    try:
        serve(store, level, sys.stdin.fileno(), sys.stdout.buffer)
    except BrokenPipeError:
        # The node went away: nothing is left to answer.
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
