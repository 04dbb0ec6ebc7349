"""Lifecycle rules through boto3, applied by the worker run at a later date."""

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
