"""Overlapping writes of one key (or one part): the one that completes last
wins, as on AWS, whichever started first; on one node and on three.

Timing is arranged, not hoped for: the write that starts first is a raw
HTTP upload that stops mid-body until its version is on every node and the
other write (boto3) has returned; then it sends the rest and completes last.
"""

import os
import re

from botocore.exceptions import ClientError
from twisted.internet import reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.trial.unittest import TestCase

from garage_twisted.model.object import (
    DATA_INLINE, STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData, ObjectVersionMeta,
)
from garage_twisted.util.time import now_msec
from tests.integration.test_streaming import RawClient
from tests.support import signer
from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import NodeFixture, in_thread

MIB = 1 << 20
BUCKET = "race"


async def _until(predicate) -> None:
    """Wait until ``predicate()`` holds (a state the nodes reach by
    themselves: replication of a write)."""
    for _ in range(1000):
        if predicate():
            return
        await task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("condition never reached")


class SlowUpload:
    """A signed PUT sent in two pieces over a raw connection."""

    def __init__(self, testcase, fixture, key, path: str, body: bytes):
        self.testcase = testcase
        self.port = fixture.node.s3_listener.port
        self.key = key
        self.path = path
        self.body = body
        self.client = None
        self.first = 0

    async def start(self, first: int) -> None:
        """Send the headers and the first ``first`` bytes of the body."""
        self.first = first
        self.client = client = RawClient()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port), client)
        self.testcase.addCleanup(lambda: (client.transport.loseConnection(), client.closed)[1])
        url = f"http://127.0.0.1:{self.port}{self.path}"
        headers, *_ = signer.sign("PUT", url, self.key.key_id, self.key.params.secret_key,
                                  "garage", "UNSIGNED-PAYLOAD",
                                  {"content-length": str(len(self.body)),
                                   "expect": "100-continue"})
        client.transport.write((f"PUT {self.path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
        await client.wait_for(b"100 Continue\r\n\r\n")
        client.transport.write(self.body[:first])

    async def finish(self) -> str:
        """Send the rest; the ETag of the 200 answer."""
        self.client.transport.write(self.body[self.first:])
        answer = await self.client.wait_until(
            lambda r: b"\r\n\r\n" in r.partition(b"100 Continue\r\n\r\n")[2])
        status = answer.partition(b"100 Continue\r\n\r\n")[2]
        self.testcase.assertTrue(status.startswith(b"HTTP/1.1 200"), status[:600])
        return re.search(rb'(?i)etag: "([0-9a-f]+)"', status).group(1).decode()



def _has_uploading(node, bucket_id: bytes, key: str) -> bool:
    entry = node.model.object_table.data.read_entry(bucket_id, key.encode())
    return entry is not None and any(v.is_uploading for v in entry.versions)


async def _get(client, key: str) -> bytes:
    got = await in_thread(client.get_object, Bucket=BUCKET, Key=key)
    return await in_thread(got["Body"].read)


class _LastWriterWins:
    """The scenarios; subclasses give ``self.fixtures``, ``self.nodes``,
    ``self.key`` and one boto3 client per node in ``self.clients``."""

    async def _put_race(self, name: str, slow_size: int, fast_size: int) -> None:
        """A slow upload starts first, a boto3 PUT runs whole meanwhile, the
        slow one completes last: it is the object, on every node."""
        slow_body, fast_body = os.urandom(slow_size), os.urandom(fast_size)
        bucket_id = await self.nodes[0].helper.resolve_global_alias(BUCKET)
        slow = SlowUpload(self, self.fixtures[0], self.key, f"/{BUCKET}/{name}", slow_body)
        await slow.start(2 * MIB + 123)
        # Its version is on every node: the boto3 PUT's version is newer.
        await _until(lambda: all(_has_uploading(n, bucket_id, name) for n in self.nodes))
        await in_thread(self.clients[-1].put_object, Bucket=BUCKET, Key=name, Body=fast_body)
        self.assertEqual(await _get(self.clients[-1], name), fast_body)
        await slow.finish()
        for client in self.clients:
            self.assertEqual(await _get(client, name), slow_body)

    async def test_big_started_first_and_completed_last_wins(self):
        """8 MiB started first, 4 MiB completed meanwhile: the 8 MiB stays."""
        await self._put_race("big-last", 8 * MIB, 4 * MIB)

    async def test_small_started_first_and_completed_last_wins(self):
        """4 MiB started first, 8 MiB completed meanwhile: the 4 MiB stays."""
        await self._put_race("small-last", 4 * MIB, 8 * MIB)

    async def test_part_completed_last_is_the_part(self):
        """Two overlapping uploads of part 1: the one that finished last is
        the part; completing with the other's ETag is InvalidPart."""
        name = "parts"
        client = self.clients[-1]
        upload = await in_thread(client.create_multipart_upload, Bucket=BUCKET, Key=name)
        upload_id = upload["UploadId"]
        slow_body, fast_body = os.urandom(3 * MIB), os.urandom(2 * MIB)
        slow = SlowUpload(self, self.fixtures[0], self.key,
                          f"/{BUCKET}/{name}?partNumber=1&uploadId={upload_id}", slow_body)
        await slow.start(MIB + 77)
        mpu_id = bytes.fromhex(upload_id)

        def announced():
            stamps = []
            for node in self.nodes:
                entry = node.model.mpu_table.data.read_entry(mpu_id, b"")
                if entry is None or not entry.parts.entries:
                    return False
                stamps += [t for (_, t), _ in entry.parts.items()]
            # The second attempt starts at a later millisecond.
            return now_msec(reactor) > max(stamps)

        await _until(announced)
        fast = await in_thread(client.upload_part, Bucket=BUCKET, Key=name, PartNumber=1,
                               UploadId=upload_id, Body=fast_body)
        slow_etag = await slow.finish()
        with self.assertRaises(ClientError) as caught:
            await in_thread(client.complete_multipart_upload, Bucket=BUCKET, Key=name,
                            UploadId=upload_id, MultipartUpload={"Parts": [
                                {"PartNumber": 1, "ETag": fast["ETag"]}]})
        self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidPart")
        await in_thread(client.complete_multipart_upload, Bucket=BUCKET, Key=name,
                        UploadId=upload_id, MultipartUpload={"Parts": [
                            {"PartNumber": 1, "ETag": f'"{slow_etag}"'}]})
        for other in self.clients:
            self.assertEqual(await _get(other, name), slow_body)


    async def _multipart(self, client, name: str, body: bytes, before_complete=None) -> str:
        """Upload ``body`` in two parts with boto3; ``await before_complete()``
        runs before completion. Returns the upload id."""
        upload_id = (await in_thread(client.create_multipart_upload, Bucket=BUCKET,
                                     Key=name))["UploadId"]
        parts = []
        for number, chunk in ((1, body[:5 * MIB]), (2, body[5 * MIB:])):
            got = await in_thread(client.upload_part, Bucket=BUCKET, Key=name,
                                  PartNumber=number, UploadId=upload_id, Body=chunk)
            parts.append({"PartNumber": number, "ETag": got["ETag"]})
        if before_complete is not None:
            await before_complete(upload_id)
        for _ in range(2):  # the second: a retry whose first answer was lost
            done = await in_thread(client.complete_multipart_upload, Bucket=BUCKET, Key=name,
                                   UploadId=upload_id, MultipartUpload={"Parts": parts})
            self.assertTrue(done["ETag"].endswith('-2"'), done)
        return upload_id

    async def test_multipart_completed_last_wins_over_a_put(self):
        """An 8 MiB multipart upload begun first, a 4 MiB PUT returned
        meanwhile: the upload stays listed, completes, and is the object
        (Garage drops such an upload: NoSuchUpload)."""
        name = "mpu-last"
        upload_body, put_body = os.urandom(8 * MIB), os.urandom(4 * MIB)

        async def put_meanwhile(upload_id):
            await in_thread(self.clients[-1].put_object, Bucket=BUCKET, Key=name,
                            Body=put_body)
            self.assertEqual(await _get(self.clients[0], name), put_body)
            listed = await in_thread(self.clients[0].list_multipart_uploads, Bucket=BUCKET)
            self.assertEqual([u["UploadId"] for u in listed.get("Uploads", [])], [upload_id])

        await self._multipart(self.clients[0], name, upload_body, put_meanwhile)
        for client in self.clients:
            self.assertEqual(await _get(client, name), upload_body)
        listed = await in_thread(self.clients[-1].list_multipart_uploads, Bucket=BUCKET)
        self.assertEqual(listed.get("Uploads", []), [])

    async def test_put_completed_last_wins_over_a_multipart_upload(self):
        """A 4 MiB PUT begun first, an 8 MiB multipart upload completed
        meanwhile: the PUT completes last and is the object."""
        name = "put-last"
        put_body, upload_body = os.urandom(4 * MIB), os.urandom(8 * MIB)
        bucket_id = await self.nodes[0].helper.resolve_global_alias(BUCKET)
        slow = SlowUpload(self, self.fixtures[0], self.key, f"/{BUCKET}/{name}", put_body)
        await slow.start(MIB + 5)
        await _until(lambda: all(_has_uploading(n, bucket_id, name) for n in self.nodes))
        await self._multipart(self.clients[-1], name, upload_body)
        self.assertEqual(await _get(self.clients[0], name), upload_body)
        await slow.finish()
        for client in self.clients:
            self.assertEqual(await _get(client, name), put_body)

    async def test_put_completed_last_wins_over_a_copy(self):
        """A PUT begun first, a CopyObject onto its key returned meanwhile:
        the PUT completes last and is the object."""
        name = "copied-over"
        put_body, source = os.urandom(3 * MIB), os.urandom(2 * MIB)
        await in_thread(self.clients[0].put_object, Bucket=BUCKET, Key="source", Body=source)
        bucket_id = await self.nodes[0].helper.resolve_global_alias(BUCKET)
        slow = SlowUpload(self, self.fixtures[0], self.key, f"/{BUCKET}/{name}", put_body)
        await slow.start(MIB + 5)
        await _until(lambda: all(_has_uploading(n, bucket_id, name) for n in self.nodes))
        await in_thread(self.clients[-1].copy_object, Bucket=BUCKET, Key=name,
                        CopySource={"Bucket": BUCKET, "Key": "source"})
        self.assertEqual(await _get(self.clients[0], name), source)
        await slow.finish()
        for client in self.clients:
            self.assertEqual(await _get(client, name), put_body)


class OneNodeLastWriterTests(_LastWriterWins, TestCase):
    timeout = 120

    async def setUp(self):
        fixture = await NodeFixture.start(self)
        self.fixtures, self.nodes = [fixture], [fixture.node]
        self.key = await fixture.create_key()
        self.clients = boto3_clients(self, self.fixtures, self.key)
        await in_thread(self.clients[0].create_bucket, Bucket=BUCKET)


class ThreeNodesLastWriterTests(_LastWriterWins, TestCase):
    timeout = 180

    async def setUp(self):
        self.fixtures, self.nodes = await start_cluster(self)
        self.key = await self.fixtures[0].create_key()
        self.clients = boto3_clients(self, self.fixtures, self.key)
        await in_thread(self.clients[0].create_bucket, Bucket=BUCKET)


class SkewedClockTests(TestCase):
    """Writes through a gateway (which holds no copy of the key, so takes
    its own clock's time) onto a key whose version was stamped 60 s ahead
    (a node with a fast clock wrote it): each write, completing last, ends
    above it. Each completes at a timestamp below it first, so each must
    move above (``put.renew_version``)."""

    timeout = 180

    async def setUp(self):
        self.fixtures, self.nodes = await start_cluster(self, count=4, gateways=1)
        self.key = await self.fixtures[0].create_key()
        (self.s3,) = boto3_clients(self, self.fixtures[3:], self.key)
        await in_thread(self.s3.create_bucket, Bucket=BUCKET)
        self.bucket_id = await self.nodes[0].helper.resolve_global_alias(BUCKET)
        await in_thread(self.s3.put_object, Bucket=BUCKET, Key="source", Body=os.urandom(MIB))

    async def _stamp_ahead(self, name: str) -> None:
        """A complete inline version of ``name`` stamped 60 s ahead, written
        at quorum through a storage node."""
        meta = ObjectVersionMeta((), 5, "0" * 32)
        ahead = ObjectVersion(os.urandom(32), now_msec(reactor) + 60_000, STATE_COMPLETE,
                              data=ObjectVersionData(DATA_INLINE, meta, inline=b"ahead"))
        await self.nodes[0].model.object_table.insert(Object(self.bucket_id, name, (ahead,)))
        self.assertEqual(await _get(self.s3, name), b"ahead")

    async def test_put_copy_and_multipart_end_above_a_version_stamped_ahead(self):
        source = await _get(self.s3, "source")
        for name, kind in (("put", "put"), ("small", "small"), ("copy", "copy"),
                           ("mpu", "mpu")):
            await self._stamp_ahead(name)
            if kind == "put":
                body = os.urandom(2 * MIB + 1)
                await in_thread(self.s3.put_object, Bucket=BUCKET, Key=name, Body=body)
            elif kind == "small":
                body = b"inline"
                await in_thread(self.s3.put_object, Bucket=BUCKET, Key=name, Body=body)
            elif kind == "copy":
                body = source
                await in_thread(self.s3.copy_object, Bucket=BUCKET, Key=name,
                                CopySource={"Bucket": BUCKET, "Key": "source"})
            else:
                body = os.urandom(6 * MIB)
                upload_id = (await in_thread(self.s3.create_multipart_upload, Bucket=BUCKET,
                                             Key=name))["UploadId"]
                parts = []
                for number, chunk in ((1, body[:5 * MIB]), (2, body[5 * MIB:])):
                    got = await in_thread(self.s3.upload_part, Bucket=BUCKET, Key=name,
                                          PartNumber=number, UploadId=upload_id, Body=chunk)
                    parts.append({"PartNumber": number, "ETag": got["ETag"]})
                await in_thread(self.s3.complete_multipart_upload, Bucket=BUCKET, Key=name,
                                UploadId=upload_id, MultipartUpload={"Parts": parts})
            self.assertEqual(await _get(self.s3, name), body, name)
