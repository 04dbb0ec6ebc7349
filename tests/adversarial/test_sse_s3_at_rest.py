"""SSE-S3 against a stolen disk (issue 26): whoever reads every file under
``metadata_dir`` and ``data_dir`` finds none of an encrypted object's bytes.

Objects of every storage path are written with a known plaintext: inline
(in the object entry, LevelDB, its write-ahead log included), one small
block (the one-round-trip path), several blocks in one PUT, a multipart
upload, and a bucket's default encryption. The node is then stopped (its
LevelDB closed) and every file under both directories is read: neither
the plaintext nor any of many 16-byte windows of it is there, nor the
secret, the master key or any object's data key. The control test runs the
same scan on plain objects and finds them, so the scan does look.
"""

import os

from twisted.trial.unittest import TestCase

from tests.support.node import NodeFixture, in_thread

BLOCK = 64 * 1024
SECRET = "c3" * 32
MIB = 1024 * 1024
MARKER = b"KNOWN-PLAINTEXT/"  # 16 bytes, at the start of every 4 KiB
WINDOW = 16


def known_plaintext(size: int) -> bytes:
    """A recognizable marker every 4 KiB, random bytes between (they do
    not compress: stored plain, they would sit on disk as they are)."""
    out = bytearray()
    while len(out) < size:
        out += MARKER + os.urandom(4096 - len(MARKER))
    return bytes(out[:size])


def windows(data: bytes) -> list:
    """16-byte windows of ``data``: its ends, its middle, and one in every
    4 KiB (off the marker)."""
    offsets = {0, len(data) // 2, len(data) - WINDOW}
    offsets.update(range(100, len(data) - WINDOW, 4096))
    return [data[o:o + WINDOW] for o in sorted(offsets) if o >= 0]


def disk_files(*roots) -> dict:
    """Path -> bytes of every file under ``roots``."""
    found = {}
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                path = os.path.join(directory, name)
                with open(path, "rb") as f:
                    found[path] = f.read()
    return found


class AtRestTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture = await NodeFixture.start(
            self, block_size=BLOCK, s3_extra=f'sse_s3_secret = "{SECRET}"\n')
        self.key = await self.fixture.create_key()
        self.s3 = self.fixture.boto3_client(self.key)
        self.addCleanup(self.s3.close)
        await self.call("create_bucket", Bucket="disk")
        await self.call("create_bucket", Bucket="default")

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def write_all_kinds(self, sse: dict) -> dict:
        """Key -> plaintext of one object of each storage path, written
        with ``sse`` (``{}``: plain)."""
        objects = {"inline": known_plaintext(1000), "one-block": known_plaintext(20_000),
                   "blocks": known_plaintext(5 * BLOCK + 321)}
        for key, data in objects.items():
            await self.call("put_object", Bucket="disk", Key=key, Body=data, **sse)
        parts = [known_plaintext(5 * MIB), known_plaintext(BLOCK + 99)]
        upload = (await self.call("create_multipart_upload", Bucket="disk", Key="multipart",
                                  **sse))["UploadId"]
        done = []
        for number, data in enumerate(parts, 1):
            result = await self.call("upload_part", Bucket="disk", Key="multipart",
                                     UploadId=upload, PartNumber=number, Body=data)
            done.append({"PartNumber": number, "ETag": result["ETag"]})
        await self.call("complete_multipart_upload", Bucket="disk", Key="multipart",
                        UploadId=upload, MultipartUpload={"Parts": done})
        objects["multipart"] = b"".join(parts)
        for key, data in objects.items():
            got = await self.call("get_object", Bucket="disk", Key=key)
            self.assertEqual(await in_thread(got["Body"].read), data)
        return objects

    async def scan(self) -> dict:
        """Stop the node (LevelDB closed, everything flushed) and read every
        file under its metadata and data directories."""
        base = self.fixture.base
        await self.fixture.stop()
        files = disk_files(os.path.join(base, "meta"), os.path.join(base, "data"))
        # Every object's bytes are there, in some form.
        self.assertGreater(sum(len(data) for data in files.values()), 5 * MIB)
        return files

    def places(self, files: dict, needle: bytes) -> list:
        return [path for path, data in files.items() if needle in data]

    async def data_keys(self) -> list:
        """The data keys of the objects of both buckets (unwrapped here,
        in memory, as a GET would)."""
        node = self.fixture.node
        keys = []
        for bucket in ("disk", "default"):
            bucket_id = await node.helper.resolve_bucket(bucket, self.key)
            for name in ("inline", "one-block", "blocks", "multipart", "by-default"):
                obj = await node.helper.model.object_table.get(bucket_id, name.encode())
                if obj is None:
                    continue
                stored = obj.last_data_version().data.meta.encryption
                keys.append(node.s3_api.sse_s3.unwrap(stored).key)
        return keys

    async def test_encrypted_objects_are_nowhere_on_disk(self):
        """No plaintext, no 16-byte window of it, no secret and no key is in
        any file under metadata_dir and data_dir."""
        objects = await self.write_all_kinds({"ServerSideEncryption": "AES256"})
        await self.call("put_bucket_encryption", Bucket="default",
                        ServerSideEncryptionConfiguration={"Rules": [{
                            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        by_default = known_plaintext(3 * BLOCK)
        put = await self.call("put_object", Bucket="default", Key="by-default", Body=by_default)
        self.assertEqual(put["ServerSideEncryption"], "AES256")
        keys = await self.data_keys()
        self.assertEqual(len(keys), 5)
        master = self.fixture.node.s3_api.sse_s3.current.key
        files = await self.scan()
        for key, data in list(objects.items()) + [("by-default", by_default)]:
            self.assertEqual(self.places(files, data), [], key)
            for window in windows(data):
                self.assertEqual(self.places(files, window), [], (key, window))
        self.assertEqual(self.places(files, MARKER), [])
        for secret in [SECRET.encode(), bytes.fromhex(SECRET), master] + keys:
            self.assertEqual(self.places(files, secret), [])

    async def test_control_plain_objects_are_found(self):
        """The same scan finds the plain objects' bytes (inline ones in the
        metadata, block ones in the data directory): it does look."""
        objects = await self.write_all_kinds({})
        files = await self.scan()
        meta = os.path.join(self.fixture.base, "meta")
        data_dir = os.path.join(self.fixture.base, "data")
        for key, data in objects.items():
            for window in windows(data):
                found = self.places(files, window)
                self.assertNotEqual(found, [], (key, window))
                root = meta if key == "inline" else data_dir
                self.assertTrue(any(path.startswith(root) for path in found), (key, found))
        self.assertNotEqual(self.places(files, MARKER), [])
