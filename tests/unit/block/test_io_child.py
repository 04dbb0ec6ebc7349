"""The block I/O process's wire format and request handling (no process)."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.block import io_child as wire
from garage_twisted.block.data import block_hash
from garage_twisted.block.store import CORRUPT_SUFFIX, LocalBlockStore


class FrameReaderTests(SynchronousTestCase):
    @given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 255),
                              st.binary(max_size=300)), max_size=20),
           st.integers(1, 50))
    def test_frames_survive_any_split(self, frames, cut):
        """Frames written back to back come out whole, however the stream is cut."""
        stream = b"".join(wire.encode_frame(*frame) for frame in frames)
        reader = wire.FrameReader()
        out = []
        for i in range(0, len(stream), cut):
            out.extend(reader.feed(stream[i:i + cut]))
        self.assertEqual(out, frames)

    @settings(max_examples=200)
    @given(st.binary(max_size=200))
    def test_garbage_never_crashes(self, data):
        """Random bytes give frames or a ValueError (oversized frame), nothing else."""
        reader = wire.FrameReader()
        try:
            frames = reader.feed(data)
        except ValueError:
            return
        for request_id, kind, payload in frames:
            self.assertLessEqual(len(payload), wire.MAX_PAYLOAD)

    def test_oversized_frame_refused(self):
        reader = wire.FrameReader()
        with self.assertRaises(ValueError):
            reader.feed(wire.HEADER.pack(1, wire.OP_WRITE, wire.MAX_PAYLOAD + 1))


class HandleTests(SynchronousTestCase):
    def setUp(self):
        self.store = LocalBlockStore(os.path.abspath(self.mktemp()),
                                     lambda f, *a: defer.maybeDeferred(f, *a))

    def test_write_then_read(self):
        """A written block reads back; writing it again reports it present."""
        data = b"garage " * 500
        hash_ = block_hash(data)
        self.assertEqual(wire.handle(self.store, 1, wire.OP_WRITE, hash_ + data),
                         (wire.OK, b"\x01"))
        self.assertEqual(wire.handle(self.store, 1, wire.OP_WRITE, hash_ + data),
                         (wire.OK, b"\x00"))
        self.assertEqual(wire.handle(self.store, 1, wire.OP_READ, hash_), (wire.OK, data))

    def test_missing_corrupt_and_bad_requests(self):
        """Errors come back as statuses with a message, never as exceptions."""
        status, _ = wire.handle(self.store, 1, wire.OP_READ, bytes(32))
        self.assertEqual(status, wire.MISSING)
        data = os.urandom(100)
        hash_ = block_hash(data)
        wire.handle(self.store, None, wire.OP_WRITE, hash_ + data)
        with open(self.store.block_path(hash_, False), "r+b") as f:
            f.write(b"X")
        status, message = wire.handle(self.store, None, wire.OP_READ, hash_)
        self.assertEqual(status, wire.CORRUPT)
        self.assertIn(hash_.hex().encode(), message)
        # Renamed aside by the read, in the process that read it.
        path = self.store.block_path(hash_, False)
        self.assertEqual((os.path.exists(path), os.path.exists(path + CORRUPT_SUFFIX)),
                         (False, True))
        self.assertEqual(wire.handle(self.store, None, wire.OP_READ, hash_)[0], wire.MISSING)
        self.assertEqual(wire.handle(self.store, 1, wire.OP_READ, b"short")[0], wire.ERROR)
        self.assertEqual(wire.handle(self.store, 1, 99, bytes(32))[0], wire.ERROR)
