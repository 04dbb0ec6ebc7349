"""Ransomware against a bucket with COMPLIANCE Object Lock (issue 25).

The attacker holds the bucket owner's key (read, write and owner rights)
and the cluster's admin token, and tries every way S3 and the admin API
offer to destroy the data: deleting versions by id (with and without a
governance bypass, one by one and in a DeleteObjects batch), shortening,
weakening or removing retention, overwriting every key, hiding them behind
delete markers, weakening the bucket's default retention, suspending
versioning, deleting the bucket, and lifecycle rules run by the worker at
a later date. AWS's promise, which these tests hold the node to: until its
retain-until date, no one can delete a COMPLIANCE version or shorten its
retention; every original version stays readable by its id, with its
bytes, its retention unchanged.
"""

import json
import os
from datetime import datetime, timedelta, timezone

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from garage_twisted.model.errors import BucketNotEmpty
from garage_twisted.util.worker import WorkerState
from tests.support.node import in_thread, start_with_s3_client

BUCKET = "vault"
DAY_MS = 24 * 3600 * 1000
PART = 5 * 1024 * 1024


class RansomwareTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024)
        await self.call("create_bucket", Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        await self.call("put_object_lock_configuration", Bucket=BUCKET,
                        ObjectLockConfiguration={
                            "ObjectLockEnabled": "Enabled",
                            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 1}}})
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)
        # key -> [(version id, bytes, retain-until date)]
        self.originals = {}
        for key, body in (("small", b"ledger " * 10),
                          ("blocks", os.urandom(300 * 1024)),
                          ("dir/nested", b"nested")):
            await self.remember(key, body, await self.call(
                "put_object", Bucket=BUCKET, Key=key, Body=body))
        # A second version of a key: both must survive.
        await self.remember("small", b"ledger v2", await self.call(
            "put_object", Bucket=BUCKET, Key="small", Body=b"ledger v2"))
        upload = await self.call("create_multipart_upload", Bucket=BUCKET, Key="big")
        parts, body = [], b""
        for number, chunk in ((1, os.urandom(PART)), (2, os.urandom(1000))):
            part = await self.call("upload_part", Bucket=BUCKET, Key="big",
                                   PartNumber=number, UploadId=upload["UploadId"], Body=chunk)
            parts.append({"PartNumber": number, "ETag": part["ETag"]})
            body += chunk
        await self.remember("big", body, await self.call(
            "complete_multipart_upload", Bucket=BUCKET, Key="big",
            UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}))
        await self.remember("copy", b"nested", await self.call(
            "copy_object", Bucket=BUCKET, Key="copy",
            CopySource={"Bucket": BUCKET, "Key": "dir/nested"}))

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def refused(self, method, **kwargs) -> str:
        """``method`` fails: its S3 error code."""
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        return caught.exception.response["Error"]["Code"]

    async def remember(self, key, body, answer):
        version_id = answer["VersionId"]
        head = await self.call("head_object", Bucket=BUCKET, Key=key, VersionId=version_id)
        self.assertEqual(head["ObjectLockMode"], "COMPLIANCE")
        self.originals.setdefault(key, []).append(
            (version_id, body, head["ObjectLockRetainUntilDate"]))

    def versions(self):
        for key, versions in sorted(self.originals.items()):
            for version_id, body, until in versions:
                yield key, version_id, body, until

    async def assertAllIntact(self):
        """Every original version reads back by id, bytes and retention
        unchanged, and is listed."""
        for key, version_id, body, until in self.versions():
            got = await self.call("get_object", Bucket=BUCKET, Key=key, VersionId=version_id)
            self.assertEqual(await in_thread(got["Body"].read), body, (key, version_id))
            self.assertEqual((got["ObjectLockMode"], got["ObjectLockRetainUntilDate"]),
                             ("COMPLIANCE", until), (key, version_id))
            retention = await self.call("get_object_retention", Bucket=BUCKET, Key=key,
                                        VersionId=version_id)
            self.assertEqual(retention["Retention"],
                             {"Mode": "COMPLIANCE", "RetainUntilDate": until})
        listed = await self.call("list_object_versions", Bucket=BUCKET)
        ids = {(v["Key"], v["VersionId"]) for v in listed.get("Versions", [])}
        self.assertLessEqual({(k, v) for k, v, _, _ in self.versions()}, ids)

    async def admin(self, name, query=None, body=None, method="GET"):
        headers = {b"authorization": [f"Bearer {self.fixture.admin_token}".encode()]}
        response = await treq.request(
            method, f"{self.fixture.admin_url}/v2/{name}", params=query, headers=headers,
            data=None if body is None else json.dumps(body).encode(), pool=self.pool)
        content = await treq.content(response)
        return response.code, (json.loads(content) if content.strip() else None)

    async def run_lifecycle(self, days_later):
        """A pass of the lifecycle worker as if ``days_later`` days from now."""
        worker = self.fixture.node.workers._slots["lifecycle"].worker
        now = int(reactor.seconds() * 1000) + days_later * DAY_MS
        while (await worker.work(now)) == WorkerState.BUSY:
            pass

    async def test_deletion_by_version_id(self):
        for key, version_id, _, _ in self.versions():
            for bypass in (False, True):
                self.assertEqual(await self.refused(
                    "delete_object", Bucket=BUCKET, Key=key, VersionId=version_id,
                    BypassGovernanceRetention=bypass), "AccessDenied", (key, bypass))
        everything = {"Objects": [{"Key": k, "VersionId": v}
                                  for k, v, _, _ in self.versions()]}
        for bypass in (False, True):
            for quiet in (False, True):
                got = await self.call("delete_objects", Bucket=BUCKET,
                                      BypassGovernanceRetention=bypass,
                                      Delete=dict(everything, Quiet=quiet))
                self.assertNotIn("Deleted", got)
                self.assertEqual({(e["Key"], e["VersionId"], e["Code"])
                                  for e in got["Errors"]},
                                 {(k, v, "AccessDenied") for k, v, _, _ in self.versions()})
        await self.assertAllIntact()

    async def test_retention_cannot_be_shortened_weakened_or_removed(self):
        for key, version_id, _, until in self.versions():
            for bypass in (False, True):
                for retention in ({"Mode": "COMPLIANCE",
                                   "RetainUntilDate": until - timedelta(days=364)},
                                  {"Mode": "GOVERNANCE", "RetainUntilDate": until},
                                  {"Mode": "GOVERNANCE",
                                   "RetainUntilDate": until + timedelta(days=1)},
                                  {}):
                    self.assertEqual(await self.refused(
                        "put_object_retention", Bucket=BUCKET, Key=key,
                        VersionId=version_id, Retention=retention,
                        BypassGovernanceRetention=bypass), "AccessDenied",
                        (key, retention, bypass))
            # A legal hold set OFF (there was none) changes nothing.
            await self.call("put_object_legal_hold", Bucket=BUCKET, Key=key,
                            VersionId=version_id, LegalHold={"Status": "OFF"})
        await self.assertAllIntact()

    async def test_overwrites_markers_and_bucket_settings(self):
        # The bucket's settings: versioning stays Enabled; a weaker default
        # retention is allowed (AWS) but only concerns new versions.
        self.assertEqual(await self.refused(
            "put_bucket_versioning", Bucket=BUCKET,
            VersioningConfiguration={"Status": "Suspended"}), "InvalidBucketState")
        await self.call("put_object_lock_configuration", Bucket=BUCKET,
                        ObjectLockConfiguration={
                            "ObjectLockEnabled": "Enabled",
                            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
        # Every key overwritten (PUT, copy, multipart), then hidden.
        for key in self.originals:
            await self.call("put_object", Bucket=BUCKET, Key=key, Body=b"encrypted!")
            await self.call("copy_object", Bucket=BUCKET, Key=key,
                            CopySource={"Bucket": BUCKET, "Key": key},
                            MetadataDirective="REPLACE", Metadata={"pay": "up"})
            upload = await self.call("create_multipart_upload", Bucket=BUCKET, Key=key)
            part = await self.call("upload_part", Bucket=BUCKET, Key=key, PartNumber=1,
                                   UploadId=upload["UploadId"], Body=b"ransom note")
            await self.call("complete_multipart_upload", Bucket=BUCKET, Key=key,
                            UploadId=upload["UploadId"], MultipartUpload={"Parts": [
                                {"PartNumber": 1, "ETag": part["ETag"]}]})
        got = await self.call("delete_objects", Bucket=BUCKET, Delete={
            "Objects": [{"Key": k} for k in self.originals]})
        self.assertEqual(len(got["Deleted"]), len(self.originals))
        listed = await self.call("list_objects_v2", Bucket=BUCKET)
        self.assertEqual(listed["KeyCount"], 0)
        # The attacker's own versions (GOVERNANCE, 1 day) go with a bypass:
        # the originals still do not, even now that the default is weaker.
        listed = await self.call("list_object_versions", Bucket=BUCKET)
        originals = {v for _, v, _, _ in self.versions()}
        for version in listed["Versions"]:
            if version["VersionId"] in originals:
                continue
            await self.call("delete_object", Bucket=BUCKET, Key=version["Key"],
                            VersionId=version["VersionId"], BypassGovernanceRetention=True)
        for key, version_id, _, _ in self.versions():
            self.assertEqual(await self.refused(
                "delete_object", Bucket=BUCKET, Key=key, VersionId=version_id,
                BypassGovernanceRetention=True), "AccessDenied")
        await self.assertAllIntact()

    async def test_bucket_deletion(self):
        self.assertEqual(await self.refused("delete_bucket", Bucket=BUCKET), "BucketNotEmpty")
        # Every key hidden behind a marker: the versions still keep the bucket.
        for key in self.originals:
            await self.call("delete_object", Bucket=BUCKET, Key=key)
        self.assertEqual(await self.refused("delete_bucket", Bucket=BUCKET), "BucketNotEmpty")
        code, info = await self.admin("GetBucketInfo", {"globalAlias": BUCKET})
        self.assertEqual(code, 200, info)
        code, error = await self.admin("DeleteBucket", {"id": info["id"]}, method="POST")
        self.assertEqual((code, error["code"]), (409, "BucketNotEmpty"), error)
        bucket_id = await self.fixture.node.helper.resolve_global_alias(BUCKET)
        with self.assertRaises(BucketNotEmpty):
            await self.fixture.node.helper.delete_bucket(bucket_id)
        await self.assertAllIntact()

    async def test_lifecycle_expiration(self):
        """Expiring current versions writes delete markers (AWS): the
        versions under retention stay."""
        await self.call("put_bucket_lifecycle_configuration", Bucket=BUCKET,
                        LifecycleConfiguration={"Rules": [
                            {"ID": "wipe", "Status": "Enabled", "Filter": {"Prefix": ""},
                             "Expiration": {"Days": 1}}]})
        await self.run_lifecycle(2)
        await self.run_lifecycle(3)
        for key in self.originals:
            self.assertEqual(await self.refused("get_object", Bucket=BUCKET, Key=key),
                             "NoSuchKey", key)
        await self.assertAllIntact()

    async def test_lifecycle_noncurrent_expiration(self):
        """Expiring noncurrent versions (the markers of the first pass make
        every original noncurrent) spares versions under retention; the
        same rule on a versioned bucket without lock shows it does expire."""
        rules = {"Rules": [{"ID": "wipe", "Status": "Enabled", "Filter": {"Prefix": ""},
                            "Expiration": {"Days": 1},
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]}
        await self.call("create_bucket", Bucket="control")
        await self.call("put_bucket_versioning", Bucket="control",
                        VersioningConfiguration={"Status": "Enabled"})
        control = [(await self.call("put_object", Bucket="control", Key="k",
                                    Body=body))["VersionId"] for body in (b"1", b"2")]
        for bucket in (BUCKET, "control"):
            await self.call("put_bucket_lifecycle_configuration", Bucket=bucket,
                            LifecycleConfiguration=rules)
        await self.run_lifecycle(2)
        await self.run_lifecycle(4)
        await self.run_lifecycle(6)
        for version_id in control:
            self.assertEqual(await self.refused("get_object", Bucket="control", Key="k",
                                                VersionId=version_id), "NoSuchVersion")
        await self.assertAllIntact()


class LegacyNullVersionTests(TestCase):
    """A bucket that had objects before versioning and Object Lock: its null
    version, given COMPLIANCE retention, must survive what replaces or
    removes a null version (a null delete marker, a Suspended overwrite,
    deletion of ``versionId=null``, lifecycle rules)."""

    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket=BUCKET)

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def refused(self, method, **kwargs) -> str:
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        return caught.exception.response["Error"]["Code"]

    async def test_locked_null_version_survives(self):
        await self.call("put_object", Bucket=BUCKET, Key="old", Body=b"before versioning")
        await self.call("put_bucket_versioning", Bucket=BUCKET,
                        VersioningConfiguration={"Status": "Enabled"})
        await self.call("put_object_lock_configuration", Bucket=BUCKET,
                        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
        await self.call("put_object_retention", Bucket=BUCKET, Key="old", VersionId="null",
                        Retention={"Mode": "COMPLIANCE",
                                   "RetainUntilDate": datetime.now(timezone.utc)
                                   + timedelta(days=365)})
        for bypass in (False, True):
            self.assertEqual(await self.refused(
                "delete_object", Bucket=BUCKET, Key="old", VersionId="null",
                BypassGovernanceRetention=bypass), "AccessDenied")
        self.assertEqual(await self.refused(
            "put_bucket_versioning", Bucket=BUCKET,
            VersioningConfiguration={"Status": "Suspended"}), "InvalidBucketState")
        await self.call("put_object", Bucket=BUCKET, Key="old", Body=b"encrypted!")
        await self.call("put_bucket_lifecycle_configuration", Bucket=BUCKET,
                        LifecycleConfiguration={"Rules": [
                            {"ID": "wipe", "Status": "Enabled", "Filter": {"Prefix": ""},
                             "Expiration": {"Days": 1},
                             "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
        worker = self.fixture.node.workers._slots["lifecycle"].worker
        for days in (2, 4, 6):
            now = int(reactor.seconds() * 1000) + days * DAY_MS
            while (await worker.work(now)) == WorkerState.BUSY:
                pass
        await self.call("delete_object", Bucket=BUCKET, Key="old")
        got = await self.call("get_object", Bucket=BUCKET, Key="old", VersionId="null")
        self.assertEqual(await in_thread(got["Body"].read), b"before versioning")
        self.assertEqual(got["ObjectLockMode"], "COMPLIANCE")
