"""A versioned write overtaken before it could land on top leaves no ghost.

A write whose version completes below a newer complete version moves above
it (``put.renew_version``) and releases the rows of the version it leaves.
In an unversioned bucket the merge drops that version by itself; in a
versioned one a complete version of its own stays, so without being
withdrawn first it would remain listed, below, with its block list
released: a version nobody acknowledged, that fails to read. Here every
kind of write (block PUT, one-block PUT, inline PUT, copy, multipart) lands
through a gateway (no local copy of the key, so its own clock's time) on a
key whose newest version was stamped 60 s ahead: each must end as exactly
one new version, readable by its id, above the one stamped ahead.
"""

import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from garage_twisted.model.object import (
    DATA_INLINE, STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData, ObjectVersionMeta,
)
from garage_twisted.util.time import now_msec
from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import in_thread

MIB = 1 << 20
BUCKET = "overtaken"


async def _read(s3, key: str, version_id: str | None = None) -> bytes:
    extra = {} if version_id is None else {"VersionId": version_id}
    got = await in_thread(s3.get_object, Bucket=BUCKET, Key=key, **extra)
    return await in_thread(got["Body"].read)


class VersionedOvertakenWriteTests(TestCase):
    timeout = 180

    async def setUp(self):
        self.fixtures, self.nodes = await start_cluster(self, count=4, gateways=1)
        key = await self.fixtures[0].create_key()
        (self.s3,) = boto3_clients(self, self.fixtures[3:], key)
        await in_thread(self.s3.create_bucket, Bucket=BUCKET)
        await in_thread(self.s3.put_bucket_versioning, Bucket=BUCKET,
                        VersioningConfiguration={"Status": "Enabled"})
        self.bucket_id = await self.nodes[0].helper.resolve_global_alias(BUCKET)
        self.source = os.urandom(MIB)
        await in_thread(self.s3.put_object, Bucket=BUCKET, Key="source", Body=self.source)

    async def _stamp_ahead(self, name: str) -> str:
        """A version of its own of ``name`` stamped 60 s ahead; its id."""
        meta = ObjectVersionMeta((), 5, "0" * 32)
        ahead = ObjectVersion(os.urandom(32), now_msec(reactor) + 60_000, STATE_COMPLETE,
                              data=ObjectVersionData(DATA_INLINE, meta, inline=b"ahead"),
                              versioned=True)
        await self.nodes[0].model.object_table.insert(Object(self.bucket_id, name, (ahead,)))
        return ahead.uuid.hex()

    async def _write(self, name: str, kind: str) -> tuple:
        s3 = self.s3
        if kind == "copy":
            got = await in_thread(s3.copy_object, Bucket=BUCKET, Key=name,
                                  CopySource={"Bucket": BUCKET, "Key": "source"})
            return self.source, got["VersionId"]
        if kind == "mpu":
            body = os.urandom(6 * MIB)
            upload_id = (await in_thread(s3.create_multipart_upload, Bucket=BUCKET,
                                         Key=name))["UploadId"]
            parts = []
            for number, chunk in ((1, body[:5 * MIB]), (2, body[5 * MIB:])):
                got = await in_thread(s3.upload_part, Bucket=BUCKET, Key=name,
                                      PartNumber=number, UploadId=upload_id, Body=chunk)
                parts.append({"PartNumber": number, "ETag": got["ETag"]})
            got = await in_thread(s3.complete_multipart_upload, Bucket=BUCKET, Key=name,
                                  UploadId=upload_id, MultipartUpload={"Parts": parts})
            return body, got["VersionId"]
        body = {"put": os.urandom(2 * MIB + 1), "small": os.urandom(20_000),
                "inline": b"inline"}[kind]
        got = await in_thread(s3.put_object, Bucket=BUCKET, Key=name, Body=body)
        return body, got["VersionId"]

    async def test_each_write_ends_as_one_readable_version_above(self):
        for kind in ("put", "small", "inline", "copy", "mpu"):
            name = f"key-{kind}"
            ahead = await self._stamp_ahead(name)
            body, version_id = await self._write(name, kind)
            self.assertEqual(await _read(self.s3, name), body, kind)
            self.assertEqual(await _read(self.s3, name, version_id), body, kind)
            listed = await in_thread(self.s3.list_object_versions, Bucket=BUCKET, Prefix=name)
            self.assertEqual([(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]],
                             [(version_id, True), (ahead, False)], kind)
            for version in listed["Versions"]:
                await _read(self.s3, name, version["VersionId"])
