"""Lifecycle rules through boto3, applied by the worker run at a later date
(versioned buckets and Object Lock included)."""

from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from garage_twisted.util.worker import WorkerState
from tests.support.node import in_thread, start_with_s3_client

DAY_MS = 24 * 3600 * 1000


class LifecycleTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="aging")

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def run_worker(self, days_later):
        worker = self.fixture.node.workers._slots["lifecycle"].worker
        now = int(reactor.seconds() * 1000) + days_later * DAY_MS
        while (await worker.work(now)) == WorkerState.BUSY:
            pass
        return worker

    async def keys(self):
        listed = await self.call("list_objects_v2", Bucket="aging")
        return sorted(o["Key"] for o in listed.get("Contents", []))

    async def test_expiration_and_abort(self):
        await self.call("put_bucket_lifecycle_configuration", Bucket="aging",
                        LifecycleConfiguration={"Rules": [
                            {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
                             "Expiration": {"Days": 1},
                             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
                            {"ID": "big", "Status": "Enabled",
                             "Filter": {"And": {"Prefix": "logs/",
                                                "ObjectSizeGreaterThan": 100}},
                             "Expiration": {"Days": 3}},
                            {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": ""},
                             "Expiration": {"Days": 1}},
                        ]})
        got = await self.call("get_bucket_lifecycle_configuration", Bucket="aging")
        self.assertEqual([r["ID"] for r in got["Rules"]], ["tmp", "big", "off"])
        self.assertEqual(got["Rules"][1]["Filter"]["And"]["ObjectSizeGreaterThan"], 100)
        for key, size in (("tmp/a", 10), ("keep/b", 10), ("logs/small", 50),
                          ("logs/big", 5000)):
            await self.call("put_object", Bucket="aging", Key=key, Body=b"x" * size)
        upload = await self.call("create_multipart_upload", Bucket="aging", Key="tmp/upload")
        self.assertEqual(upload["Key"], "tmp/upload")
        await self.run_worker(0)
        self.assertEqual(await self.keys(), ["keep/b", "logs/big", "logs/small", "tmp/a"])
        worker = await self.run_worker(1)
        self.assertEqual(await self.keys(), ["keep/b", "logs/big", "logs/small"])
        uploads = await self.call("list_multipart_uploads", Bucket="aging")
        self.assertEqual(len(uploads.get("Uploads", [])), 1)  # 2 days not reached
        self.assertEqual(worker.status()["expired"], 1)
        # Another day: a new pass; after 3 days the big log goes, the upload too.
        await self.run_worker(3)
        self.assertEqual(await self.keys(), ["keep/b", "logs/small"])
        uploads = await self.call("list_multipart_uploads", Bucket="aging")
        self.assertEqual(uploads.get("Uploads", []), [])

    async def test_unsupported_and_delete(self):
        with self.assertRaises(ClientError) as caught:
            await self.call("put_bucket_lifecycle_configuration", Bucket="aging",
                            LifecycleConfiguration={"Rules": [
                                {"Status": "Enabled", "Filter": {"Prefix": ""},
                                 "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]}]})
        self.assertEqual(caught.exception.response["Error"]["Code"], "NotImplemented")
        with self.assertRaises(ClientError) as caught:
            await self.call("get_bucket_lifecycle_configuration", Bucket="aging")
        self.assertEqual(caught.exception.response["Error"]["Code"],
                         "NoSuchLifecycleConfiguration")
        await self.call("put_bucket_lifecycle_configuration", Bucket="aging",
                        LifecycleConfiguration={"Rules": [
                            {"Status": "Enabled", "Filter": {"Prefix": "old/"},
                             "Expiration": {"Date": "2020-01-01"}}]})
        await self.call("put_object", Bucket="aging", Key="old/x", Body=b"1")
        # Today's pass ran when the node started: rules apply from the next one.
        await self.run_worker(1)
        self.assertEqual(await self.keys(), [])
        await self.call("delete_bucket_lifecycle", Bucket="aging")
        with self.assertRaises(ClientError):
            await self.call("get_bucket_lifecycle_configuration", Bucket="aging")

    async def test_rule_ids_and_legacy_prefix(self):
        """Rule IDs are at most 255 characters and unique; a rule without one
        gets one; a rule given with the older top-level Prefix comes back so."""
        for rules in ([{"ID": "a" * 256, "Status": "Enabled", "Prefix": "x/",
                        "Expiration": {"Days": 2}}],
                      [{"ID": "r", "Status": "Enabled", "Prefix": "x/",
                        "Expiration": {"Days": 2}},
                       {"ID": "r", "Status": "Enabled", "Prefix": "y/",
                        "Expiration": {"Days": 3}}]):
            with self.assertRaises(ClientError) as caught:
                await self.call("put_bucket_lifecycle_configuration", Bucket="aging",
                                LifecycleConfiguration={"Rules": rules})
            self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidArgument")
        rules = [{"ID": "legacy", "Expiration": {"Days": 31}, "Prefix": "test1/",
                  "Status": "Enabled"}]
        await self.call("put_bucket_lifecycle_configuration", Bucket="aging",
                        LifecycleConfiguration={"Rules": rules})
        got = await self.call("get_bucket_lifecycle_configuration", Bucket="aging")
        self.assertEqual(got["Rules"], rules)
        await self.call("put_bucket_lifecycle_configuration", Bucket="aging",
                        LifecycleConfiguration={"Rules": [
                            {"Status": "Enabled", "Filter": {"Prefix": "a/"},
                             "Expiration": {"Days": 1}},
                            {"Status": "Enabled", "Filter": {"Prefix": "b/"},
                             "Expiration": {"Days": 1}}]})
        got = await self.call("get_bucket_lifecycle_configuration", Bucket="aging")
        ids = [r["ID"] for r in got["Rules"]]
        self.assertEqual(len(set(ids)), 2)
        self.assertTrue(all(ids))


class VersionedLifecycleTests(TestCase):
    """Lifecycle rules on versioned buckets and Object Lock, through boto3."""

    timeout = 90

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024)

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def run_worker(self, days_later):
        return await LifecycleTests.run_worker(self, days_later)

    async def versions(self, bucket, prefix) -> list:
        """``(key, version id, is latest, is a delete marker)``, oldest first
        (each list is newest first; LastModified orders across the two)."""
        listed = await self.call("list_object_versions", Bucket=bucket, Prefix=prefix)
        out = []
        for name, marker in (("Versions", False), ("DeleteMarkers", True)):
            for i, v in enumerate(listed.get(name, [])):
                out.append(((v["Key"], v["LastModified"], -i),
                            (v["Key"], v["VersionId"], v["IsLatest"], marker)))
        return [v for _, v in sorted(out, key=lambda item: item[0])]

    async def put(self, bucket, key, body=b"x", **extra) -> str:
        return (await self.call("put_object", Bucket=bucket, Key=key, Body=body,
                                **extra))["VersionId"]

    async def test_noncurrent_versions_and_delete_markers(self):
        await self.call("create_bucket", Bucket="kept")
        await self.call("put_bucket_versioning", Bucket="kept",
                        VersioningConfiguration={"Status": "Enabled"})
        rules = [{"ID": "noncurrent", "Status": "Enabled", "Filter": {"Prefix": "docs/"},
                  "NoncurrentVersionExpiration": {"NoncurrentDays": 1,
                                                  "NewerNoncurrentVersions": 1}},
                 {"ID": "markers", "Status": "Enabled", "Filter": {"Prefix": "gone/"},
                  "Expiration": {"ExpiredObjectDeleteMarker": True}},
                 {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
                  "Expiration": {"Days": 1}}]
        await self.call("put_bucket_lifecycle_configuration", Bucket="kept",
                        LifecycleConfiguration={"Rules": rules})
        got = await self.call("get_bucket_lifecycle_configuration", Bucket="kept")
        self.assertEqual(got["Rules"], rules)
        docs = [await self.put("kept", "docs/a", b"%d" % n) for n in range(4)]
        tmp = await self.put("kept", "tmp/x")
        gone = await self.put("kept", "gone/k")
        await self.call("delete_object", Bucket="kept", Key="gone/k")
        await self.call("delete_object", Bucket="kept", Key="gone/k", VersionId=gone)
        worker = await self.run_worker(2)
        # The two newest of docs/a stay (current, and one noncurrent kept).
        self.assertEqual(await self.versions("kept", "docs/"),
                         [("docs/a", docs[2], False, False), ("docs/a", docs[3], True, False)])
        got = await self.call("get_object", Bucket="kept", Key="docs/a", VersionId=docs[2])
        self.assertEqual(await in_thread(got["Body"].read), b"2")
        # tmp/x expired behind a marker of its own; its data is still there.
        (data, marker) = await self.versions("kept", "tmp/")
        self.assertEqual((data[1:], marker[2:]), ((tmp, False, False), (True, True)))
        with self.assertRaises(ClientError):
            await self.call("get_object", Bucket="kept", Key="tmp/x")
        await self.call("get_object", Bucket="kept", Key="tmp/x", VersionId=tmp)
        # The marker left alone went.
        self.assertEqual(await self.versions("kept", "gone/"), [])
        self.assertEqual(worker.status()["deleted"], 3)
        self.assertEqual(worker.status()["expired"], 1)

    async def test_object_lock_keeps_versions(self):
        await self.call("create_bucket", Bucket="locked", ObjectLockEnabledForBucket=True)
        await self.call("put_bucket_lifecycle_configuration", Bucket="locked",
                        LifecycleConfiguration={"Rules": [
                            {"ID": "all", "Status": "Enabled", "Filter": {},
                             "Expiration": {"Days": 1},
                             "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
        held = await self.put("locked", "k", b"held", ObjectLockLegalHoldStatus="ON")
        plain = await self.put("locked", "k", b"plain")
        until = datetime.now(timezone.utc) + timedelta(days=30)
        retained = await self.put("locked", "k", b"retained", ObjectLockMode="GOVERNANCE",
                                  ObjectLockRetainUntilDate=until)
        await self.run_worker(2)
        # The current version, though retained, expired behind a marker
        # (which removes nothing); the unprotected noncurrent one went.
        listed = await self.versions("locked", "k")
        self.assertEqual([v[1:] for v in listed[:2]],
                         [(held, False, False), (retained, False, False)])
        self.assertEqual(listed[2][2:], (True, True))
        await self.run_worker(4)
        # Noncurrent for two days, but held and retained: both stay.
        self.assertEqual([v[1] for v in await self.versions("locked", "k")][:2],
                         [held, retained])
        await self.call("put_object_legal_hold", Bucket="locked", Key="k", VersionId=held,
                        LegalHold={"Status": "OFF"})
        await self.run_worker(5)
        self.assertEqual([v[1] for v in await self.versions("locked", "k")][:1], [retained])
        self.assertNotIn(plain, [v[1] for v in await self.versions("locked", "k")])
