"""Bucket versioning (issue 25) through boto3 on real nodes, AWS's semantics
the oracle: Get/PutBucketVersioning; versions of their own under Enabled
(reads, HEADs, tags, copies and deletes by ``VersionId``); delete markers;
the ``null`` version under Suspended; DeleteObjects per version;
multipart and browser POST uploads; quotas counting every version; a bucket
kept by its old versions and markers; and, on a 3-node cluster, concurrent
versioned writes, a node stopped during them, and ListObjectVersions
paging over 10,000 versions."""

import os
import re
from dataclasses import replace

import treq
from botocore.exceptions import ClientError
from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from garage_twisted.model.bucket import BucketQuotas
from garage_twisted.model.object import (
    DATA_INLINE, STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData, ObjectVersionMeta,
)
from garage_twisted.util.time import now_msec
from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import NodeFixture, in_thread, start_with_s3_client, wait_connected

BUCKET = "vers"
VERSION_ID = re.compile(r"[0-9a-f]{64}")
ABSENT_ID = "ab" * 32  # well formed, names no version


def headers_of(response) -> dict:
    return response["ResponseMetadata"]["HTTPHeaders"]


class _Calls:
    """boto3 calls off the reactor thread, through ``self.s3`` by default."""

    async def call(self, method, client=None, **kwargs):
        """The answer of a call that must succeed (an S3 error fails the
        test with its code: trial -j2 cannot carry botocore's classes)."""
        try:
            return await in_thread(getattr(client or self.s3, method), **kwargs)
        except ClientError as e:
            self.fail(f"{method} {kwargs}: {e}")

    async def error(self, code, status, method, client=None, **kwargs) -> dict:
        """The error answer of a call that must fail with ``code``/``status``."""
        with self.assertRaises(ClientError) as caught:
            await in_thread(getattr(client or self.s3, method), **kwargs)
        response = caught.exception.response
        self.assertEqual((response["Error"]["Code"],
                          response["ResponseMetadata"]["HTTPStatusCode"]),
                         (code, status), (method, kwargs))
        return response

    async def read(self, key, client=None, bucket=BUCKET, **kwargs) -> tuple:
        """``(GetObject answer, body)``."""
        got = await self.call("get_object", client, Bucket=bucket, Key=key, **kwargs)
        return got, await in_thread(got["Body"].read)

    async def versioning(self, status, bucket=BUCKET, client=None):
        await self.call("put_bucket_versioning", client, Bucket=bucket,
                        VersioningConfiguration={"Status": status})

    async def put(self, key, body, client=None, bucket=BUCKET, **kwargs) -> str:
        """Put ``body``; its VersionId."""
        done = await self.call("put_object", client, Bucket=bucket, Key=key, Body=body,
                               **kwargs)
        return done.get("VersionId")

    async def listed(self, prefix="", client=None, bucket=BUCKET) -> tuple:
        """One ListObjectVersions page: ([(key, id, latest)] of versions,
        the same of delete markers)."""
        page = await self.call("list_object_versions", client, Bucket=bucket, Prefix=prefix)
        self.assertFalse(page["IsTruncated"])
        return ([(v["Key"], v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])],
                [(m["Key"], m["VersionId"], m["IsLatest"])
                 for m in page.get("DeleteMarkers", [])])

    def assertVersionId(self, value):
        self.assertTrue(value is not None and VERSION_ID.fullmatch(value), value)


class VersioningTests(_Calls, TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket=BUCKET)
        self.bucket_id = await self.fixture.node.helper.resolve_global_alias(BUCKET)

    async def test_get_and_put_bucket_versioning(self):
        got = await self.call("get_bucket_versioning", Bucket=BUCKET)
        self.assertNotIn("Status", got)  # never set: no Status, as AWS
        self.assertNotIn("MFADelete", got)
        for status in ("Enabled", "Suspended", "Enabled", "Suspended"):
            await self.versioning(status)
            got = await self.call("get_bucket_versioning", Bucket=BUCKET)
            self.assertEqual(got["Status"], status)
        await self.error("NotImplemented", 501, "put_bucket_versioning", Bucket=BUCKET,
                         VersioningConfiguration={"Status": "Enabled",
                                                  "MFADelete": "Enabled"})
        for bad in ("enabled", "On", ""):
            await self.error("MalformedXML", 400, "put_bucket_versioning", Bucket=BUCKET,
                             VersioningConfiguration={"Status": bad})
        self.assertEqual((await self.call("get_bucket_versioning", Bucket=BUCKET))["Status"],
                         "Suspended")
        await self.call("put_bucket_versioning", Bucket=BUCKET,
                        VersioningConfiguration={"Status": "Enabled", "MFADelete": "Disabled"})
        self.assertEqual((await self.call("get_bucket_versioning", Bucket=BUCKET))["Status"],
                         "Enabled")

    async def test_enabled_puts_keep_every_version(self):
        await self.versioning("Enabled")
        bodies = [b"v0", os.urandom(200_000), b"v2" * 2000, b""]  # inline and in blocks
        ids, etags = [], []
        for body in bodies:
            done = await self.call("put_object", Bucket=BUCKET, Key="k", Body=body)
            self.assertVersionId(done["VersionId"])
            self.assertEqual(headers_of(done)["x-amz-version-id"], done["VersionId"])
            ids.append(done["VersionId"])
            etags.append(done["ETag"])
        self.assertEqual(len(set(ids)), len(ids))
        for version_id, body, etag in zip(ids, bodies, etags):
            got, data = await self.read("k", VersionId=version_id)
            self.assertEqual((data, got["VersionId"], got["ETag"]), (body, version_id, etag))
            head = await self.call("head_object", Bucket=BUCKET, Key="k", VersionId=version_id)
            self.assertEqual((head["VersionId"], head["ContentLength"]),
                             (version_id, len(body)))
        got, data = await self.read("k")
        self.assertEqual((data, got["VersionId"]), (bodies[-1], ids[-1]))
        head = await self.call("head_object", Bucket=BUCKET, Key="k")
        self.assertEqual(head["VersionId"], ids[-1])
        page = await self.call("list_object_versions", Bucket=BUCKET)
        self.assertNotIn("DeleteMarkers", page)
        self.assertEqual([(v["Key"], v["VersionId"], v["IsLatest"], v["Size"], v["ETag"])
                          for v in page["Versions"]],
                         [("k", i, n == len(ids) - 1, len(b), e) for n, (i, b, e) in
                          reversed(list(enumerate(zip(ids, bodies, etags))))])
        listed = await self.call("list_objects_v2", Bucket=BUCKET)
        self.assertEqual([(o["Key"], o["Size"]) for o in listed["Contents"]], [("k", 0)])
        # Unknown, then malformed, version ids.
        await self.error("NoSuchVersion", 404, "get_object", Bucket=BUCKET, Key="k",
                         VersionId=ABSENT_ID)
        await self.error("404", 404, "head_object", Bucket=BUCKET, Key="k",
                         VersionId=ABSENT_ID)
        await self.error("NoSuchVersion", 404, "get_object", Bucket=BUCKET, Key="none",
                         VersionId=ids[0])
        await self.error("InvalidArgument", 400, "get_object", Bucket=BUCKET, Key="k",
                         VersionId="not-a-version")
        await self.error("InvalidArgument", 400, "get_object", Bucket=BUCKET, Key="k",
                         VersionId=ids[0].upper())

    async def test_an_object_from_before_versioning_is_its_null_version(self):
        first = await self.put("k", b"before")
        self.assertIsNone(first)  # versioning never set: no x-amz-version-id
        await self.versioning("Enabled")
        got, data = await self.read("k")
        self.assertEqual((data, got["VersionId"]), (b"before", "null"))
        v1 = await self.put("k", b"after")
        self.assertVersionId(v1)
        versions, markers = await self.listed()
        self.assertEqual((versions, markers), ([("k", v1, True), ("k", "null", False)], []))
        got, data = await self.read("k", VersionId="null")
        self.assertEqual((data, got["VersionId"]), (b"before", "null"))
        self.assertEqual((await self.read("k"))[1], b"after")

    async def test_delete_without_version_id_writes_a_delete_marker(self):
        await self.versioning("Enabled")
        v1 = await self.put("k", b"one")
        v2 = await self.put("k", os.urandom(100_000))
        done = await self.call("delete_object", Bucket=BUCKET, Key="k")
        self.assertEqual(done["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertTrue(done["DeleteMarker"])
        marker = done["VersionId"]
        self.assertVersionId(marker)
        self.assertNotIn(marker, (v1, v2))
        # The key reads as gone, and says it met a delete marker.
        error = await self.error("NoSuchKey", 404, "get_object", Bucket=BUCKET, Key="k")
        self.assertEqual(headers_of(error).get("x-amz-delete-marker"), "true")
        self.assertEqual(headers_of(error).get("x-amz-version-id"), marker)
        error = await self.error("404", 404, "head_object", Bucket=BUCKET, Key="k")
        self.assertEqual(headers_of(error).get("x-amz-delete-marker"), "true")
        # The marker itself cannot be read.
        error = await self.error("MethodNotAllowed", 405, "get_object", Bucket=BUCKET,
                                 Key="k", VersionId=marker)
        self.assertEqual(headers_of(error).get("x-amz-delete-marker"), "true")
        await self.error("405", 405, "head_object", Bucket=BUCKET, Key="k", VersionId=marker)
        # Older versions still are.
        self.assertEqual((await self.read("k", VersionId=v1))[1], b"one")
        self.assertEqual(len((await self.read("k", VersionId=v2))[1]), 100_000)
        self.assertEqual((await self.call("list_objects_v2", Bucket=BUCKET))["KeyCount"], 0)
        versions, markers = await self.listed()
        self.assertEqual(markers, [("k", marker, True)])
        self.assertEqual(versions, [("k", v2, False), ("k", v1, False)])
        # Another delete stacks another marker, as AWS.
        again = await self.call("delete_object", Bucket=BUCKET, Key="k")
        self.assertTrue(again["DeleteMarker"])
        self.assertNotIn(again["VersionId"], (marker, v1, v2))
        versions, markers = await self.listed()
        self.assertEqual(markers, [("k", again["VersionId"], True), ("k", marker, False)])
        # A key that never existed gets a marker too.
        fresh = await self.call("delete_object", Bucket=BUCKET, Key="never")
        self.assertTrue(fresh["DeleteMarker"])
        self.assertVersionId(fresh["VersionId"])
        self.assertIn(("never", fresh["VersionId"], True), (await self.listed())[1])

    async def test_delete_by_version_id_deletes_for_good(self):
        await self.versioning("Enabled")
        v1, v2, v3 = [await self.put("k", body) for body in (b"1", os.urandom(70_000), b"3")]
        done = await self.call("delete_object", Bucket=BUCKET, Key="k", VersionId=v2)
        self.assertEqual((done["ResponseMetadata"]["HTTPStatusCode"], done["VersionId"]),
                         (204, v2))
        self.assertNotIn("DeleteMarker", done)
        await self.error("NoSuchVersion", 404, "get_object", Bucket=BUCKET, Key="k",
                         VersionId=v2)
        self.assertEqual(await self.listed(), ([("k", v3, True), ("k", v1, False)], []))
        # Deleting the latest by id makes the previous one the latest.
        await self.call("delete_object", Bucket=BUCKET, Key="k", VersionId=v3)
        got, data = await self.read("k")
        self.assertEqual((data, got["VersionId"]), (b"1", v1))
        self.assertEqual(await self.listed(), ([("k", v1, True)], []))
        # Deleting a marker by id brings back what it hid.
        marker = (await self.call("delete_object", Bucket=BUCKET, Key="k"))["VersionId"]
        await self.error("NoSuchKey", 404, "get_object", Bucket=BUCKET, Key="k")
        done = await self.call("delete_object", Bucket=BUCKET, Key="k", VersionId=marker)
        self.assertEqual((done["VersionId"], done.get("DeleteMarker")), (marker, True))
        self.assertEqual((await self.read("k"))[1], b"1")
        self.assertEqual(await self.listed(), ([("k", v1, True)], []))
        # Deleting what is not there answers 204; a malformed id is refused.
        for key, version_id in (("k", ABSENT_ID), ("none", ABSENT_ID), ("k", v2),
                                ("k", "null")):
            done = await self.call("delete_object", Bucket=BUCKET, Key=key,
                                   VersionId=version_id)
            self.assertEqual((done["ResponseMetadata"]["HTTPStatusCode"], done["VersionId"]),
                             (204, version_id))
        for bad in ("not-a-version", v1[:-1], v1 + "0"):
            await self.error("InvalidArgument", 400, "delete_object", Bucket=BUCKET, Key="k",
                             VersionId=bad)
        self.assertEqual(await self.listed(), ([("k", v1, True)], []))

    async def test_suspended_writes_replace_the_null_version(self):
        await self.put("k", b"n0")  # before versioning: the null version
        await self.versioning("Enabled")
        v1 = await self.put("k", b"v1")
        await self.versioning("Suspended")
        self.assertEqual(await self.put("k", b"s1"), "null")
        self.assertEqual(await self.listed(), ([("k", "null", True), ("k", v1, False)], []))
        got, data = await self.read("k", VersionId="null")
        self.assertEqual((data, got["VersionId"]), (b"s1", "null"))
        self.assertEqual(await self.put("k", os.urandom(80_000)), "null")
        self.assertEqual(await self.put("k", b"s3"), "null")
        self.assertEqual(await self.listed(), ([("k", "null", True), ("k", v1, False)], []))
        self.assertEqual((await self.read("k"))[1], b"s3")
        # A delete writes the null marker, which replaces the null version.
        done = await self.call("delete_object", Bucket=BUCKET, Key="k")
        self.assertEqual((done.get("DeleteMarker"), done.get("VersionId")), (True, "null"))
        self.assertEqual(await self.listed(), ([("k", v1, False)], [("k", "null", True)]))
        error = await self.error("NoSuchKey", 404, "get_object", Bucket=BUCKET, Key="k")
        self.assertEqual(headers_of(error).get("x-amz-delete-marker"), "true")
        self.assertEqual(headers_of(error).get("x-amz-version-id"), "null")
        await self.error("MethodNotAllowed", 405, "get_object", Bucket=BUCKET, Key="k",
                         VersionId="null")
        self.assertEqual((await self.read("k", VersionId=v1))[1], b"v1")
        # Enabled again: a version of its own above the null marker.
        await self.versioning("Enabled")
        v2 = await self.put("k", b"v2")
        self.assertVersionId(v2)
        self.assertEqual(await self.listed(), ([("k", v2, True), ("k", v1, False)],
                                               [("k", "null", False)]))
        # Suspended again: a put replaces the null marker, keeps v1 and v2.
        await self.versioning("Suspended")
        self.assertEqual(await self.put("k", b"s4"), "null")
        self.assertEqual(await self.listed(), (
            [("k", "null", True), ("k", v2, False), ("k", v1, False)], []))

    async def test_delete_objects_per_version(self):
        await self.versioning("Enabled")
        a1 = await self.put("a", b"a1")
        a2 = await self.put("a", b"a2")
        await self.put("b", b"b1")
        c1 = await self.put("c", b"c1")
        c_marker = (await self.call("delete_object", Bucket=BUCKET, Key="c"))["VersionId"]
        done = await self.call("delete_objects", Bucket=BUCKET, Delete={"Objects": [
            {"Key": "a", "VersionId": a1}, {"Key": "c", "VersionId": c_marker},
            {"Key": "b"}, {"Key": "a", "VersionId": ABSENT_ID}]})
        self.assertNotIn("Errors", done)
        deleted = {(d["Key"], d.get("VersionId")): d for d in done["Deleted"]}
        self.assertEqual(len(deleted), 4)
        self.assertEqual(deleted.pop(("a", a1)), {"Key": "a", "VersionId": a1})
        self.assertEqual(deleted.pop(("a", ABSENT_ID)), {"Key": "a", "VersionId": ABSENT_ID})
        self.assertEqual(deleted.pop(("c", c_marker)),
                         {"Key": "c", "VersionId": c_marker, "DeleteMarker": True,
                          "DeleteMarkerVersionId": c_marker})
        b = deleted.pop(("b", None))
        self.assertTrue(b["DeleteMarker"])
        b_marker = b["DeleteMarkerVersionId"]
        self.assertVersionId(b_marker)
        versions, markers = await self.listed()
        self.assertEqual(markers, [("b", b_marker, True)])
        self.assertEqual([v for v in versions if v[0] != "b"],
                         [("a", a2, True), ("c", c1, True)])
        self.assertEqual((await self.read("c"))[1], b"c1")
        # Quiet: only errors listed.
        done = await self.call("delete_objects", Bucket=BUCKET, Delete={
            "Objects": [{"Key": "a", "VersionId": a2}, {"Key": "b", "VersionId": b_marker}],
            "Quiet": True})
        self.assertNotIn("Deleted", done)
        self.assertNotIn("Errors", done)
        versions, markers = await self.listed()
        self.assertEqual(markers, [])
        self.assertEqual([v[0] for v in versions], ["b", "c"])

    async def test_copy_from_a_version(self):
        await self.versioning("Enabled")
        old = os.urandom(150_000)
        s1 = await self.put("src", old)
        s2 = await self.put("src", b"newer")
        done = await self.call("copy_object", Bucket=BUCKET, Key="dst",
                               CopySource={"Bucket": BUCKET, "Key": "src", "VersionId": s1})
        self.assertEqual(done["CopySourceVersionId"], s1)
        self.assertVersionId(done["VersionId"])
        self.assertNotIn(done["VersionId"], (s1, s2))
        got, data = await self.read("dst")
        self.assertEqual((data, got["VersionId"]), (old, done["VersionId"]))
        # Without a version id: the latest, whose id is answered.
        done = await self.call("copy_object", Bucket=BUCKET, Key="dst",
                               CopySource={"Bucket": BUCKET, "Key": "src"})
        self.assertEqual(done["CopySourceVersionId"], s2)
        self.assertEqual((await self.read("dst"))[1], b"newer")
        self.assertEqual(len((await self.listed("dst"))[0]), 2)
        # A part copied from an old version.
        upload = await self.call("create_multipart_upload", Bucket=BUCKET, Key="mp")
        part = await self.call("upload_part_copy", Bucket=BUCKET, Key="mp", PartNumber=1,
                               UploadId=upload["UploadId"],
                               CopySource={"Bucket": BUCKET, "Key": "src", "VersionId": s1})
        self.assertEqual(part["CopySourceVersionId"], s1)
        completed = await self.call(
            "complete_multipart_upload", Bucket=BUCKET, Key="mp", UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1,
                                        "ETag": part["CopyPartResult"]["ETag"]}]})
        self.assertVersionId(completed["VersionId"])
        self.assertEqual((await self.read("mp"))[1], old)
        # Behind a delete marker: the marker's id is refused, the key is gone,
        # the old versions still copy.
        marker = (await self.call("delete_object", Bucket=BUCKET, Key="src"))["VersionId"]
        await self.error("InvalidRequest", 400, "copy_object", Bucket=BUCKET, Key="x",
                         CopySource={"Bucket": BUCKET, "Key": "src", "VersionId": marker})
        await self.error("NoSuchKey", 404, "copy_object", Bucket=BUCKET, Key="x",
                         CopySource={"Bucket": BUCKET, "Key": "src"})
        await self.error("NoSuchVersion", 404, "copy_object", Bucket=BUCKET, Key="x",
                         CopySource={"Bucket": BUCKET, "Key": "src", "VersionId": ABSENT_ID})
        await self.error("InvalidArgument", 400, "copy_object", Bucket=BUCKET, Key="x",
                         CopySource={"Bucket": BUCKET, "Key": "src", "VersionId": "bad"})
        done = await self.call("copy_object", Bucket=BUCKET, Key="x",
                               CopySource={"Bucket": BUCKET, "Key": "src", "VersionId": s2})
        self.assertEqual(done["CopySourceVersionId"], s2)
        self.assertEqual((await self.read("x"))[1], b"newer")

    async def test_restoring_a_version_by_copying_it_onto_its_key(self):
        """AWS's way to restore a version (user guide, "Restoring previous
        versions"): copy it onto its own key, which makes it the latest. A
        copy onto itself is refused only when it names no version."""
        await self.versioning("Enabled")
        s1 = await self.put("k", b"first")
        s2 = await self.put("k", b"second")
        done = await self.call("copy_object", Bucket=BUCKET, Key="k",
                               CopySource={"Bucket": BUCKET, "Key": "k", "VersionId": s1})
        self.assertEqual(done["CopySourceVersionId"], s1)
        restored = done["VersionId"]
        self.assertVersionId(restored)
        got, data = await self.read("k")
        self.assertEqual((data, got["VersionId"]), (b"first", restored))
        self.assertEqual((await self.listed())[0],
                         [("k", restored, True), ("k", s2, False), ("k", s1, False)])
        await self.error("InvalidRequest", 400, "copy_object", Bucket=BUCKET, Key="k",
                         CopySource={"Bucket": BUCKET, "Key": "k"})

    async def test_multipart_and_post_uploads_get_a_version_id(self):
        await self.versioning("Enabled")
        ids = []
        for body in (b"m" * 1000, os.urandom(100_000)):
            upload = await self.call("create_multipart_upload", Bucket=BUCKET, Key="mpu")
            part = await self.call("upload_part", Bucket=BUCKET, Key="mpu", PartNumber=1,
                                   UploadId=upload["UploadId"], Body=body)
            done = await self.call(
                "complete_multipart_upload", Bucket=BUCKET, Key="mpu",
                UploadId=upload["UploadId"],
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
            self.assertVersionId(done["VersionId"])
            ids.append(done["VersionId"])
            got, data = await self.read("mpu", VersionId=done["VersionId"])
            self.assertEqual((data, got["VersionId"]), (body, done["VersionId"]))
        self.assertEqual((await self.read("mpu", VersionId=ids[0]))[1], b"m" * 1000)
        self.assertEqual((await self.listed("mpu"))[0],
                         [("mpu", ids[1], True), ("mpu", ids[0], False)])
        # A browser POST upload.
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        post_ids = []
        for body in (b"posted 1", b"posted 2"):
            post = await self.call("generate_presigned_post", Bucket=BUCKET, Key="form",
                                   ExpiresIn=300)
            response = await treq.post(post["url"], data=list(post["fields"].items()),
                                       files={"file": ("f", "text/plain", body)}, pool=pool)
            self.assertEqual(response.code, 204, await treq.content(response))
            version_id = response.headers.getRawHeaders("x-amz-version-id", [None])[0]
            self.assertVersionId(version_id)
            post_ids.append(version_id)
        self.assertEqual((await self.read("form", VersionId=post_ids[0]))[1], b"posted 1")
        self.assertEqual((await self.listed("form"))[0],
                         [("form", post_ids[1], True), ("form", post_ids[0], False)])

    async def test_tags_of_one_version(self):
        await self.versioning("Enabled")
        v1 = await self.put("k", b"1", Tagging="gen=1")
        v2 = await self.put("k", b"2", Tagging="gen=2")

        async def tags(**kwargs):
            got = await self.call("get_object_tagging", Bucket=BUCKET, Key="k", **kwargs)
            return got.get("VersionId"), {t["Key"]: t["Value"] for t in got["TagSet"]}

        self.assertEqual(await tags(VersionId=v1), (v1, {"gen": "1"}))
        self.assertEqual(await tags(), (v2, {"gen": "2"}))
        done = await self.call("put_object_tagging", Bucket=BUCKET, Key="k", VersionId=v1,
                               Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]})
        self.assertEqual(done["VersionId"], v1)
        self.assertEqual(await tags(VersionId=v1), (v1, {"old": "yes"}))
        self.assertEqual(await tags(VersionId=v2), (v2, {"gen": "2"}))
        got, _ = await self.read("k", VersionId=v1)
        self.assertEqual(got["TagCount"], 1)
        done = await self.call("delete_object_tagging", Bucket=BUCKET, Key="k", VersionId=v1)
        self.assertEqual(done["VersionId"], v1)
        self.assertEqual(await tags(VersionId=v1), (v1, {}))
        self.assertEqual(await tags(), (v2, {"gen": "2"}))
        # The version tagged stays where it is: v2 is still the latest.
        self.assertEqual((await self.listed())[0], [("k", v2, True), ("k", v1, False)])
        await self.error("NoSuchVersion", 404, "get_object_tagging", Bucket=BUCKET, Key="k",
                         VersionId=ABSENT_ID)
        await self.error("NoSuchVersion", 404, "put_object_tagging", Bucket=BUCKET, Key="k",
                         VersionId=ABSENT_ID, Tagging={"TagSet": []})

    async def test_quotas_count_every_version(self):
        helper = self.fixture.node.helper
        bucket = await helper.get_existing_bucket(self.bucket_id)
        params = bucket.params
        await helper.model.bucket_table.insert(bucket.with_params(replace(
            params, quotas=params.quotas.update(helper.now(), BucketQuotas(None, 2)))))
        await self.versioning("Enabled")
        v1 = await self.put("k", b"x" * 10)
        await self.put("k", b"y" * 20)
        self.assertEqual(await helper.bucket_counts(self.bucket_id), [2, 30, 0])
        refused = await self.error("AccessDenied", 403, "put_object", Bucket=BUCKET, Key="k",
                                   Body=b"z")
        self.assertIn("Object quota is reached", refused["Error"]["Message"])
        self.assertEqual(len((await self.listed())[0]), 2)
        # A version deleted for good frees its room.
        await self.call("delete_object", Bucket=BUCKET, Key="k", VersionId=v1)
        self.assertEqual(await helper.bucket_counts(self.bucket_id), [1, 20, 0])
        await self.put("k", b"z")
        self.assertEqual(await helper.bucket_counts(self.bucket_id), [2, 21, 0])

    async def test_old_versions_and_markers_keep_a_bucket(self):
        await self.versioning("Enabled")
        v1 = await self.put("k", b"x")
        marker = (await self.call("delete_object", Bucket=BUCKET, Key="k"))["VersionId"]
        self.assertEqual((await self.call("list_objects_v2", Bucket=BUCKET))["KeyCount"], 0)
        await self.error("BucketNotEmpty", 409, "delete_bucket", Bucket=BUCKET)
        await self.call("delete_object", Bucket=BUCKET, Key="k", VersionId=v1)
        await self.error("BucketNotEmpty", 409, "delete_bucket", Bucket=BUCKET)  # the marker
        await self.call("delete_object", Bucket=BUCKET, Key="k", VersionId=marker)
        self.assertEqual(await self.listed(), ([], []))
        done = await self.call("delete_bucket", Bucket=BUCKET)
        self.assertEqual(done["ResponseMetadata"]["HTTPStatusCode"], 204)
        await self.error("404", 404, "head_bucket", Bucket=BUCKET)

    async def test_a_null_delete_marker_keeps_a_bucket(self):
        """A Suspended bucket's delete leaves a null delete marker, listed
        by ListObjectVersions: AWS refuses to delete a bucket until every
        version and delete marker is gone."""
        await self.versioning("Enabled")
        await self.versioning("Suspended")
        await self.put("k", b"x")
        await self.call("delete_object", Bucket=BUCKET, Key="k")
        self.assertEqual(await self.listed(), ([], [("k", "null", True)]))
        await self.error("BucketNotEmpty", 409, "delete_bucket", Bucket=BUCKET)
        await self.call("delete_object", Bucket=BUCKET, Key="k", VersionId="null")
        self.assertEqual(await self.listed(), ([], []))
        await self.call("delete_bucket", Bucket=BUCKET)

    async def test_paging_resumes_after_a_version_id_marker(self):
        """KeyMarker with VersionIdMarker resumes after that version;
        KeyMarker alone after every version of the key (as AWS)."""
        await self.versioning("Enabled")
        ids = [await self.put("k", f"{n}".encode()) for n in range(4)]
        await self.put("l", b"l")
        newest_first = list(reversed(ids))
        page = await self.call("list_object_versions", Bucket=BUCKET, KeyMarker="k",
                               VersionIdMarker=newest_first[1])
        self.assertEqual([(v["Key"], v["VersionId"]) for v in page["Versions"]][:2],
                         [("k", newest_first[2]), ("k", newest_first[3])])
        page = await self.call("list_object_versions", Bucket=BUCKET, KeyMarker="k")
        self.assertEqual([v["Key"] for v in page["Versions"]], ["l"])


def _inline_version(uuid: bytes, timestamp: int, body: bytes | None) -> ObjectVersion:
    """A complete version of its own, holding ``body`` inline (None: a
    delete marker), as a versioned write stores it."""
    if body is None:
        data = ObjectVersionData.delete_marker()
    else:
        data = ObjectVersionData(DATA_INLINE, ObjectVersionMeta((), len(body), "0" * 32),
                                 inline=body)
    return ObjectVersion(uuid, timestamp, STATE_COMPLETE, data=data, versioned=True)


class ClusterVersioningTests(_Calls, TestCase):
    timeout = 180

    async def start(self):
        self.fixtures, self.nodes = await start_cluster(self)
        self.key = await self.fixtures[0].create_key()
        self.clients = boto3_clients(self, self.fixtures, self.key)
        self.s3 = self.clients[0]
        await self.call("create_bucket", Bucket=BUCKET)
        await self.versioning("Enabled")

    async def test_concurrent_puts_on_every_node_keep_every_version(self):
        """Three rounds of 20 PUTs of one key launched at once, spread over
        the three nodes: every acknowledged version is listed through each
        node and reads back its own bytes. (Several rounds because a lost
        version needs a race between replicas that one round may miss.)"""
        await self.start()
        ids, bodies = [], []
        for round_ in range(3):
            # Mostly block-backed bodies (above the inline threshold), a few inline.
            sent = [f"round {round_} body {n} ".encode() * (1 if n % 4 == 3 else 800)
                    for n in range(20)]
            done = await defer.gatherResults([
                in_thread(self.clients[n % 3].put_object, Bucket=BUCKET, Key="k", Body=body)
                for n, body in enumerate(sent)], consumeErrors=True)
            ids += [d["VersionId"] for d in done]
            bodies += sent
        for version_id in ids:
            self.assertVersionId(version_id)
        self.assertEqual(len(set(ids)), len(ids))
        lost = []
        for client in self.clients:
            versions, markers = await self.listed(client=client)
            self.assertEqual(markers, [])
            self.assertEqual(sorted(v[1] for v in versions), sorted(ids))
            self.assertEqual([v[2] for v in versions], [True] + [False] * (len(ids) - 1))
            for version_id, body in zip(ids, bodies):
                try:
                    got = await in_thread(client.get_object, Bucket=BUCKET, Key="k",
                                          VersionId=version_id)
                except ClientError as e:
                    lost.append((version_id[:8], e.response["Error"]["Code"]))
                    continue
                data = await in_thread(got["Body"].read)
                self.assertEqual((data, got["VersionId"]), (body, version_id))
        self.assertEqual(lost, [], "acknowledged versions that no longer read")
        # Every node reads the same latest, the one listed first.
        latest = [(await self.read("k", client))[0]["VersionId"] for client in self.clients]
        self.assertEqual(latest, [versions[0][1]] * 3)

    async def test_a_node_stopped_during_versioned_writes_loses_no_acknowledged_version(self):
        """Node 2 stops (its service stopped, as the other cluster tests do)
        while three writers (one per node, each its own key: concurrent
        writes of one key are the test above) write versions: every write
        acknowledged, before or after, is kept, readable through the two
        nodes left, and through node 2 once restarted on its data."""
        await self.start()
        acknowledged = {}  # version id -> (key, body)
        stopped = defer.Deferred()

        async def writer(n: int, count: int):
            for i in range(count):
                key, body = f"w{n}", f"writer {n} write {i} ".encode() * (1 if i % 2 else 300)
                try:
                    done = await in_thread(self.clients[n].put_object, Bucket=BUCKET,
                                           Key=key, Body=body)
                except Exception:  # unacknowledged: through the stopped node
                    self.assertEqual(n, 2)
                    return
                acknowledged[done["VersionId"]] = (key, body)
                if len(acknowledged) == 6 and not stopped.called:
                    stopped.callback(None)

        writers = [defer.ensureDeferred(writer(n, 15)) for n in range(3)]
        await stopped
        base = self.fixtures[2].base
        await self.fixtures[2].stop()
        await defer.gatherResults(writers, consumeErrors=True)
        # Writes through nodes 0 and 1 all went through (2 of 3 is a quorum);
        # node 2's writer was cut short.
        keys = [k for k, _ in acknowledged.values()]
        self.assertEqual((keys.count("w0"), keys.count("w1")), (15, 15))
        self.assertLess(keys.count("w2"), 15)
        for client in self.clients[:2]:
            versions, _ = await self.listed(client=client)
            self.assertTrue(set(acknowledged) <= {v[1] for v in versions})
        for n, (version_id, (key, body)) in enumerate(acknowledged.items()):
            got, data = await self.read(key, self.clients[n % 2], VersionId=version_id)
            self.assertEqual(data, body)
        again = await NodeFixture.start(
            self, base=base, rpc_secret=self.fixtures[0].rpc_secret, apply_layout=False,
            replication_factor=3,
            extra=f'bootstrap_peers = ["{self.fixtures[0].peer_address}"]')
        # Ready once it is connected again: a read through it needs a peer
        # for its quorum (it answered 503 when asked before, 1 run in 5).
        for other in self.fixtures[:2]:
            await wait_connected(again.node.network, other.node.node_key.node_id)
        client = again.boto3_client(self.key)
        self.addCleanup(client.close)
        versions, _ = await self.listed(client=client)
        self.assertTrue(set(acknowledged) <= {v[1] for v in versions})
        for version_id, (key, body) in acknowledged.items():
            self.assertEqual((await self.read(key, client, VersionId=version_id))[1], body)

    async def test_listing_ten_thousand_versions_pages_in_order(self):
        """10,000 versions over 1,000 keys (10 each, the newest of every
        tenth key a delete marker), paged with KeyMarker/VersionIdMarker at
        MaxKeys 1000, 7 and 1 over all of them (the issue's acceptance;
        10,000 one-version pages cost ~30 s on two cores), each size
        through another node.

        The versions are inserted into the object table directly, as
        versioned writes store them (inline, ``versioned=True``), in a
        second or so: 10,000 PUTs through boto3 would take minutes."""
        await self.start()
        bucket_id = await self.nodes[0].helper.resolve_global_alias(BUCKET)
        now = now_msec(reactor)
        keys = [f"a/{n:03d}" for n in range(100)] + [f"b/{n:04d}" for n in range(900)]
        entries, expected = [], []  # expected: (key, id, latest, is marker), in order
        for k, key in enumerate(keys):
            versions = [_inline_version(os.urandom(32), now - 10_000 + n,
                                        None if n == 9 and k % 10 == 0 else f"{key}:{n}".encode())
                        for n in range(10)]
            entries.append(Object(bucket_id, key, tuple(versions)))
            expected += [(key, v.uuid.hex(), i == 0, v.data.meta is None)
                         for i, v in enumerate(reversed(versions))]
        for start in range(0, len(entries), 100):
            await self.nodes[0].model.object_table.insert_many(entries[start:start + 100])

        for client, size, prefix in ((self.clients[1], 1000, ""), (self.clients[2], 7, ""),
                                     (self.clients[0], 1, "")):
            want = [e for e in expected if e[0].startswith(prefix)]
            got = await in_thread(_page_through, client, size, prefix)
            self.assertEqual(len(got), len(want), size)
            self.assertEqual(got, want, size)


def _page_through(client, max_keys: int, prefix: str) -> list:
    """Every version and marker under ``prefix``, page by page with
    KeyMarker/VersionIdMarker (blocking: run it in a thread): ``(key, id,
    latest, is marker)`` in listing order, after checking each page's size
    and markers."""
    seen, markers = [], {}
    while True:
        page = client.list_object_versions(Bucket=BUCKET, Prefix=prefix, MaxKeys=max_keys,
                                           **markers)
        # boto3 splits a page in Versions and DeleteMarkers, each in page
        # order; here a marker is always its key's newest version, so a
        # stable sort by (key, not a marker) restores the page's order.
        entries = [(m["Key"], m["VersionId"], m["IsLatest"], True)
                   for m in page.get("DeleteMarkers", [])]
        entries += [(v["Key"], v["VersionId"], v["IsLatest"], False)
                    for v in page.get("Versions", [])]
        entries.sort(key=lambda e: (e[0], not e[3]))
        seen += entries
        if not page["IsTruncated"]:
            assert len(entries) <= max_keys, (max_keys, len(entries))
            return seen
        assert len(entries) == max_keys, (max_keys, len(entries))
        assert (page["NextKeyMarker"], page["NextVersionIdMarker"]) == entries[-1][:2], page
        markers = {"KeyMarker": page["NextKeyMarker"],
                   "VersionIdMarker": page["NextVersionIdMarker"]}
