"""CleanupIncompleteUploads and InspectObject over real HTTP, against
uploads made through the S3 API of a real node."""

import hashlib
import json
import os
import secrets
from datetime import datetime, timezone

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from garage_twisted.block.data import block_hash
from garage_twisted.model.object import STATE_UPLOADING, Object, ObjectVersion
from garage_twisted.util.time import now_msec
from tests.support.node import in_thread, start_with_s3_client

BLOCK = 1 << 20
PART = 5 * 1024 * 1024


def _ms(timestamp: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 UTC timestamp."""
    parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    assert parsed.utcoffset().total_seconds() == 0, timestamp
    return round(parsed.timestamp() * 1000)


class AdminObjectsTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.client = await start_with_s3_client(self, BLOCK, "objs")
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)
        bucket_id = await self.fixture.node.helper.resolve_global_alias("objs")
        self.bucket_id = bucket_id.hex()

    async def admin(self, name, query=None, body=None):
        url = f"{self.fixture.admin_url}/v2/{name}"
        headers = {b"authorization": [f"Bearer {self.fixture.admin_token}".encode()]}
        method = "POST" if body is not None else "GET"
        response = await treq.request(method, url, params=query, headers=headers,
                                      data=None if body is None else json.dumps(body).encode(),
                                      pool=self.pool)
        content = await treq.content(response)
        return response.code, (json.loads(content) if content.strip() else None)

    async def s3(self, method, **kwargs):
        return await in_thread(getattr(self.client, method), Bucket="objs", **kwargs)

    async def s3_error(self, method, **kwargs) -> str:
        with self.assertRaises(ClientError) as caught:
            await self.s3(method, **kwargs)
        return caught.exception.response["Error"]["Code"]

    async def inspect(self, key):
        code, answer = await self.admin("InspectObject", {"bucketId": self.bucket_id,
                                                          "key": key})
        self.assertEqual(code, 200, answer)
        self.assertEqual((answer["bucketId"], answer["key"]), (self.bucket_id, key))
        return answer["versions"]

    async def cleanup(self, older_than_secs) -> int:
        code, answer = await self.admin("CleanupIncompleteUploads", body={
            "bucketId": self.bucket_id, "olderThanSecs": older_than_secs})
        self.assertEqual(code, 200, answer)
        self.assertEqual(list(answer), ["uploadsDeleted"])
        return answer["uploadsDeleted"]

    async def upload_ids(self) -> list:
        listed = await self.s3("list_multipart_uploads")
        return sorted(u["UploadId"] for u in listed.get("Uploads", []))

    @staticmethod
    async def wait_past(msec: int):
        """Until the reactor's clock reads more than ``msec`` (the cutoff of
        a cleanup is strict, as Garage's): a wait on a condition, in 1 ms
        steps, bounded by the test's timeout."""
        while now_msec(reactor) <= msec:
            await deferLater(reactor, 0.001, lambda: None)

    @staticmethod
    async def until(condition):
        """Until ``await condition()`` holds (a background insert queue has
        run), polled every 10 ms, bounded by the test's timeout."""
        while not await condition():
            await deferLater(reactor, 0.01, lambda: None)

    def assertPlainFlags(self, version, **expected):
        flags = {name: version[name] for name in
                 ("encrypted", "uploading", "aborted", "deleteMarker", "inline")}
        wanted = dict.fromkeys(flags, False)
        wanted.update(expected)
        self.assertEqual(flags, wanted)

    # -- CleanupIncompleteUploads --------------------------------------

    async def test_cleanup_respects_age(self):
        """Only uploads started more than olderThanSecs before now are
        aborted; a newer one, and complete objects, stay."""
        await self.s3("put_object", Key="done", Body=b"kept")
        old = (await self.s3("create_multipart_upload", Key="old"))["UploadId"]
        await self.s3("upload_part", Key="old", UploadId=old, PartNumber=1, Body=b"part")
        old_ms = _ms((await self.inspect("old"))[0]["timestamp"])
        await self.wait_past(old_ms + 4)
        new = (await self.s3("create_multipart_upload", Key="new"))["UploadId"]
        new_ms = _ms((await self.inspect("new"))[0]["timestamp"])
        model = self.fixture.node.model
        mpu = await model.mpu_table.get(bytes.fromhex(old), b"")
        # One part: announced, then recorded at its finish time; one version.
        [part_uuid] = {part.version for _, part in mpu.parts.items()}
        # The admin API's clock reads one second after the midpoint of the
        # two uploads (at least 5 ms apart), so olderThanSecs=1 puts the
        # cutoff strictly between them, whichever way the float rounds.
        clock = Clock()
        clock.advance((old_ms + new_ms) // 2 / 1000 + 1)
        self.patch(self.fixture.node.admin_api, "clock", clock)
        self.assertEqual(await self.cleanup(1), 1)
        self.assertEqual(await self.upload_ids(), [new])
        self.assertEqual(await self.s3_error("list_parts", Key="old", UploadId=old),
                         "NoSuchUpload")
        self.assertEqual((await self.s3("list_parts", Key="new", UploadId=new)).get("Parts", []),
                         [])
        got = await self.s3("get_object", Key="done")
        self.assertEqual(await in_thread(got["Body"].read), b"kept")

        async def released():
            # The object table's cascade: the upload, then its part's blocks.
            upload = await model.mpu_table.get(bytes.fromhex(old), b"")
            part = await model.version_table.get(part_uuid, b"")
            return upload.deleted.value and part is not None and part.deleted.value
        await self.until(released)
        [aborted] = await self.inspect("old")
        self.assertEqual((aborted["uuid"], aborted["timestamp"]), (old, _ms_str(old_ms)))
        self.assertPlainFlags(aborted, aborted=True)

    async def test_cleanup_every_upload(self):
        """olderThanSecs=0 aborts every upload, multipart or not; a large
        one none; the count is of keys, as Garage counts."""
        await self.s3("put_object", Key="done", Body=os.urandom(BLOCK + 10))
        ids = [(await self.s3("create_multipart_upload", Key=key))["UploadId"]
               for key in ("a", "a", "b")]
        await self.s3("upload_part", Key="a", UploadId=ids[0], PartNumber=1, Body=b"p1")
        # A plain PUT whose client vanished mid-body leaves an uploading,
        # non-multipart version: S3 cannot list it, the cleanup finds it.
        model = self.fixture.node.model
        stuck = ObjectVersion(secrets.token_bytes(32), now_msec(reactor), STATE_UPLOADING,
                              upload_headers=(("content-type", "text/plain"),))
        await model.object_table.insert(Object(bytes.fromhex(self.bucket_id), "stuck",
                                               (stuck,)))
        [before] = await self.inspect("stuck")
        self.assertPlainFlags(before, uploading=True)
        self.assertEqual(before["headers"], [["content-type", "text/plain"]])

        self.assertEqual(await self.cleanup(3600), 0)
        self.assertEqual(await self.upload_ids(), sorted(ids))
        latest = max([_ms(v["timestamp"]) for key in ("a", "b", "stuck")
                      for v in await self.inspect(key)])
        await self.wait_past(latest)
        self.assertEqual(await self.cleanup(0), 3)  # keys a, b and stuck
        self.assertEqual(await self.upload_ids(), [])
        for key, upload_id in zip(("a", "a", "b"), ids):
            self.assertEqual(await self.s3_error("list_parts", Key=key, UploadId=upload_id),
                             "NoSuchUpload")
        versions = await self.inspect("a")
        self.assertEqual(sorted(v["uuid"] for v in versions), sorted(ids[:2]))
        for version in versions + await self.inspect("stuck"):
            self.assertPlainFlags(version, aborted=True)
            self.assertNotIn("headers", version)
        head = await self.s3("head_object", Key="done")
        self.assertEqual(head["ContentLength"], BLOCK + 10)
        self.assertEqual(await self.cleanup(0), 0)  # nothing left to abort

    async def test_cleanup_errors(self):
        """A malformed body is 400 BadRequest; an unknown bucket 404 NoSuchBucket."""
        for body in ({"olderThanSecs": 0}, {"bucketId": "zz", "olderThanSecs": 0},
                     {"bucketId": self.bucket_id}, {"bucketId": self.bucket_id,
                                                    "olderThanSecs": -1},
                     {"bucketId": self.bucket_id, "olderThanSecs": "10"},
                     {"bucketId": self.bucket_id, "olderThanSecs": 1.5},
                     {"bucketId": self.bucket_id, "olderThanSecs": True}):
            code, error = await self.admin("CleanupIncompleteUploads", body=body)
            self.assertEqual((code, error["code"]), (400, "BadRequest"), body)
        code, error = await self.admin("CleanupIncompleteUploads", body={
            "bucketId": "ab" * 32, "olderThanSecs": 0})
        self.assertEqual((code, error["code"]), (404, "NoSuchBucket"))
        self.assertEqual(set(error), {"code", "message", "region", "path"})

    # -- InspectObject -------------------------------------------------

    async def test_inspect_inline(self):
        """A small object: inline, its size, ETag and headers, no blocks."""
        body = b"x" * 100
        await self.s3("put_object", Key="small", Body=body, ContentType="text/plain",
                      Metadata={"color": "blue"})
        [version] = await self.inspect("small")
        self.assertPlainFlags(version, inline=True)
        self.assertEqual((version["size"], version["etag"]),
                         (100, hashlib.md5(body).hexdigest()))
        self.assertEqual(version["headers"], [["content-type", "text/plain"],
                                              ["x-amz-meta-color", "blue"]])
        self.assertNotIn("blocks", version)
        self.assertRegex(version["uuid"], r"^[0-9a-f]{64}$")
        self.assertRegex(version["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertLess(abs(_ms(version["timestamp"]) - now_msec(reactor)), 60_000)
        self.assertEqual(set(version), {"uuid", "timestamp", "encrypted", "uploading",
                                        "aborted", "deleteMarker", "inline", "size", "etag",
                                        "headers"})

    async def test_inspect_blocks_and_delete_marker(self):
        """A multi-block object lists its blocks (part 0, offsets, BLAKE3
        hashes, sizes); once deleted, only its delete marker is left."""
        body = os.urandom(2 * BLOCK + BLOCK // 2)
        await self.s3("put_object", Key="big", Body=body)
        [version] = await self.inspect("big")
        self.assertPlainFlags(version)
        self.assertEqual((version["size"], version["etag"]),
                         (len(body), hashlib.md5(body).hexdigest()))
        self.assertEqual(version["headers"], [["content-type", "binary/octet-stream"]])
        self.assertEqual(version["blocks"], [
            {"partNumber": 0, "offset": offset,
             "hash": block_hash(body[offset:offset + BLOCK]).hex(),
             "size": len(body[offset:offset + BLOCK])}
            for offset in range(0, len(body), BLOCK)])
        await self.s3("delete_object", Key="big")
        [marker] = await self.inspect("big")
        self.assertPlainFlags(marker, deleteMarker=True)
        self.assertEqual((marker["size"], marker["etag"]), (None, None))
        self.assertNotIn("blocks", marker)
        self.assertNotIn("headers", marker)
        self.assertGreater(_ms(marker["timestamp"]), _ms(version["timestamp"]))

    async def test_inspect_multipart(self):
        """An upload in progress shows beside the complete version it will
        replace, without its bookkeeping headers; completed, it lists every
        part's blocks under their part numbers."""
        await self.s3("put_object", Key="mp", Body=b"first")
        created = await self.s3("create_multipart_upload", Key="mp", ContentType="video/mp4",
                                ChecksumAlgorithm="SHA256")
        upload_id = created["UploadId"]
        bodies = [os.urandom(PART), os.urandom(1000)]
        parts = []
        for number, part in enumerate(bodies, 1):
            answer = await self.s3("upload_part", Key="mp", UploadId=upload_id,
                                   PartNumber=number, Body=part, ChecksumAlgorithm="SHA256")
            parts.append({"PartNumber": number, "ETag": answer["ETag"],
                          "ChecksumSHA256": answer["ChecksumSHA256"]})
        first, uploading = await self.inspect("mp")
        self.assertPlainFlags(first, inline=True)
        self.assertEqual(first["size"], 5)
        self.assertPlainFlags(uploading, uploading=True)
        self.assertEqual((uploading["uuid"], uploading["size"], uploading["etag"]),
                         (upload_id, None, None))
        self.assertEqual(uploading["headers"], [["content-type", "video/mp4"]])
        # Parts are versions of their own: the upload's has no blocks yet.
        self.assertNotIn("blocks", uploading)

        done = await self.s3("complete_multipart_upload", Key="mp", UploadId=upload_id,
                             MultipartUpload={"Parts": parts})
        [version] = await self.inspect("mp")
        self.assertPlainFlags(version)
        # Completed into a new version above the upload's (the last write
        # to complete wins), not in place.
        self.assertNotEqual(version["uuid"], upload_id)
        self.assertGreater(version["timestamp"], uploading["timestamp"])
        self.assertEqual((version["size"], f'"{version["etag"]}"'),
                         (PART + 1000, done["ETag"]))
        self.assertTrue(version["etag"].endswith("-2"))
        self.assertEqual(version["headers"], [["content-type", "video/mp4"]])
        expected = [(1, offset, bodies[0][offset:offset + BLOCK])
                    for offset in range(0, PART, BLOCK)] + [(2, 0, bodies[1])]
        self.assertEqual(version["blocks"], [
            {"partNumber": number, "offset": offset,
             "hash": block_hash(data).hex(), "size": len(data)}
            for number, offset, data in expected])

    async def test_inspect_encrypted(self):
        """SSE-C versions, complete or uploading, are marked encrypted and
        show no headers, as Garage (whose SSE-C headers are encrypted)."""
        sse = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": os.urandom(32)}
        await self.s3("put_object", Key="secret", Body=b"note", ContentType="text/plain",
                      **sse)
        await self.s3("create_multipart_upload", Key="secret", ContentType="text/plain", **sse)
        complete, uploading = await self.inspect("secret")
        self.assertPlainFlags(complete, encrypted=True, inline=True)
        self.assertEqual(complete["size"], 4)
        self.assertPlainFlags(uploading, encrypted=True, uploading=True)
        self.assertNotIn("headers", complete)
        self.assertNotIn("headers", uploading)

    async def test_inspect_errors(self):
        """An unknown key (or bucket) is 404 NoSuchKey; a missing or
        malformed parameter 400 BadRequest."""
        for query in ({"bucketId": self.bucket_id, "key": "nothing"},
                      {"bucketId": "cd" * 32, "key": "nothing"}):
            code, error = await self.admin("InspectObject", query)
            self.assertEqual((code, error["code"]), (404, "NoSuchKey"), query)
        for query in ({"bucketId": self.bucket_id}, {"key": "k"},
                      {"bucketId": "xyz", "key": "k"}):
            code, error = await self.admin("InspectObject", query)
            self.assertEqual((code, error["code"]), (400, "BadRequest"), query)


def _ms_str(msec: int) -> str:
    return datetime.fromtimestamp(msec / 1000, tz=timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
