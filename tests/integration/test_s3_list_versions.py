"""ListObjectVersions on a real node: an unversioned bucket as AWS lists it
(one ``null`` version per key), and keys holding versions of their own
(written into the object table as versioned writes will, issue 25), paged
at every size through boto3's paginator and aws-cli."""

import json
import os
import sys

from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from garage_twisted.model.object import (
    DATA_INLINE, STATE_ABORTED, STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData,
    ObjectVersionMeta,
)
from garage_twisted.util.time import now_msec
from tests.support.node import in_thread, start_with_s3_client

BUCKET = "versions"


class ListObjectVersionsTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 1 << 20,
                                                                     bucket=BUCKET)
        self.bucket_id = await self.fixture.node.helper.resolve_global_alias(BUCKET)

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def page_all(self, page_size, **kwargs) -> tuple:
        """Every page, through boto3's paginator: (versions as (key, id,
        latest), delete markers as (key, id, latest), prefixes)."""
        def run():
            versions, markers, prefixes = [], [], []
            pages = self.s3.get_paginator("list_object_versions").paginate(
                Bucket=BUCKET, PaginationConfig={"PageSize": page_size}, **kwargs)
            for page in pages:
                versions += [(v["Key"], v["VersionId"], v["IsLatest"])
                             for v in page.get("Versions", [])]
                markers += [(m["Key"], m["VersionId"], m["IsLatest"])
                            for m in page.get("DeleteMarkers", [])]
                prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            return versions, markers, prefixes
        return await in_thread(run)

    async def test_an_unversioned_bucket_lists_each_object_as_its_null_version(self):
        bodies = {"a": b"1", "b/c": os.urandom(2 << 20), "b/d": b"333", "e f+g": b"4444"}
        for key, body in bodies.items():
            await self.call("put_object", Bucket=BUCKET, Key=key, Body=body)
        await self.call("put_object", Bucket=BUCKET, Key="gone", Body=b"x")
        await self.call("delete_object", Bucket=BUCKET, Key="gone")
        listed = await self.call("list_object_versions", Bucket=BUCKET)
        self.assertNotIn("DeleteMarkers", listed)  # unversioned deletes leave none
        self.assertEqual([(v["Key"], v["VersionId"], v["IsLatest"], v["Size"])
                          for v in listed["Versions"]],
                         [(k, "null", True, len(b)) for k, b in sorted(bodies.items())])
        head = await self.call("head_object", Bucket=BUCKET, Key="b/d")
        self.assertEqual(listed["Versions"][2]["ETag"], head["ETag"])
        for size in (1, 2, 1000):
            versions, markers, prefixes = await self.page_all(size)
            self.assertEqual([v[0] for v in versions], sorted(bodies), size)
        versions, _, prefixes = await self.page_all(1, Delimiter="/")
        self.assertEqual(([v[0] for v in versions], prefixes), (["a", "e f+g"], ["b/"]))
        versions, _, _ = await self.page_all(7, Prefix="b/")
        self.assertEqual([v[0] for v in versions], ["b/c", "b/d"])

    async def insert_versions(self, key: str, count: int) -> list:
        """``count`` versions of their own of ``key``, the newest a delete
        marker; their ids, newest first."""
        now = now_msec(reactor)
        versions = []
        for n in range(count):
            uuid = os.urandom(32)
            if n == count - 1:
                data = ObjectVersionData.delete_marker()
            else:
                body = f"{key} v{n}".encode()
                data = ObjectVersionData(DATA_INLINE, ObjectVersionMeta((), len(body), "0" * 32),
                                         inline=body)
            versions.append(ObjectVersion(uuid, now - 1000 + n, STATE_COMPLETE, data=data,
                                          versioned=True))
        await self.fixture.node.model.object_table.insert(
            Object(self.bucket_id, key, tuple(versions)))
        return [v.uuid.hex() for v in reversed(versions)]

    async def test_versions_of_their_own_newest_first_at_every_page_size(self):
        await self.call("put_object", Bucket=BUCKET, Key="plain", Body=b"p")
        ids = {key: await self.insert_versions(key, count)
               for key, count in (("k1", 3), ("k2", 5), ("k3", 1))}
        expected_markers = [(k, ids[k][0], True) for k in ("k1", "k2", "k3")]
        for size in (1, 2, 7, 1000):
            versions, markers, _ = await self.page_all(size)
            self.assertEqual(sorted(markers), expected_markers, size)
            self.assertEqual(len(versions), 2 + 4 + 1, size)  # data versions, plain
            self.assertIn(("plain", "null", True), versions)
            for key in ("k1", "k2"):
                self.assertEqual([v[1] for v in versions if v[0] == key], ids[key][1:], size)
            self.assertFalse(any(latest for k, _, latest in versions if k != "plain"), size)
        # A page ends inside a key; the version it ended on is then deleted
        # for good: the next page goes on with the older versions.
        page = await self.call("list_object_versions", Bucket=BUCKET, MaxKeys=2, Prefix="k2")
        self.assertTrue(page["IsTruncated"])
        self.assertEqual(page["NextKeyMarker"], "k2")
        self.assertEqual(page["NextVersionIdMarker"], ids["k2"][1])
        entry = await self.fixture.node.model.object_table.get(self.bucket_id, b"k2")
        deleted = next(v for v in entry.versions if v.uuid.hex() == ids["k2"][1])
        await self.fixture.node.model.object_table.insert(Object(self.bucket_id, "k2", (
            ObjectVersion(deleted.uuid, deleted.timestamp, STATE_ABORTED, versioned=True),)))
        rest = await self.call("list_object_versions", Bucket=BUCKET, Prefix="k2",
                               KeyMarker="k2", VersionIdMarker=ids["k2"][1])
        self.assertEqual([v["VersionId"] for v in rest["Versions"]], ids["k2"][2:])
        # Markers without a key marker, or malformed: AWS's InvalidArgument.
        for kwargs in ({"VersionIdMarker": ids["k1"][0]},
                       {"KeyMarker": "k1", "VersionIdMarker": "v1"}):
            with self.assertRaises(ClientError) as caught:
                await self.call("list_object_versions", Bucket=BUCKET, **kwargs)
            self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidArgument")

    async def test_aws_cli(self):
        for key in ("x/1", "x/2", "y"):
            await self.call("put_object", Bucket=BUCKET, Key=key, Body=b"z")
        aws = os.path.join(os.path.dirname(sys.executable), "aws")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.key.key_id,
                   AWS_SECRET_ACCESS_KEY=self.key.params.secret_key,
                   AWS_DEFAULT_REGION="garage", AWS_CONFIG_FILE=os.devnull,
                   AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        out, err, code = await getProcessOutputAndValue(aws, (
            "--endpoint-url", self.fixture.endpoint, "s3api", "list-object-versions",
            "--bucket", BUCKET, "--page-size", "1"), env=env)
        self.assertEqual(code, 0, err)
        listed = json.loads(out)
        self.assertEqual([(v["Key"], v["VersionId"]) for v in listed["Versions"]],
                         [("x/1", "null"), ("x/2", "null"), ("y", "null")])
