"""Bucket quotas (max objects, max size) enforced on PUT, copy and multipart,
from the per-bucket counters."""

from dataclasses import replace

from botocore.exceptions import ClientError
from twisted.trial.unittest import TestCase

from garage_twisted.model.bucket import BucketQuotas
from tests.support.node import in_thread, start_with_s3_client


class QuotaTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="small")
        helper = self.fixture.node.helper
        self.bucket_id = await helper.resolve_bucket("small", None)
        bucket = await helper.get_existing_bucket(self.bucket_id)
        params = bucket.params
        await helper.model.bucket_table.insert(bucket.with_params(replace(
            params, quotas=params.quotas.update(helper.now(), BucketQuotas(10_000, 3)))))

    async def refused(self, method, **kwargs):
        with self.assertRaises(ClientError) as caught:
            await in_thread(getattr(self.s3, method), **kwargs)
        self.assertEqual(caught.exception.response["Error"]["Code"], "AccessDenied")
        return caught.exception.response["Error"]["Message"]

    async def test_objects_and_size(self):
        for i in range(3):
            await in_thread(self.s3.put_object, Bucket="small", Key=f"k{i}", Body=b"x" * 1000)
        self.assertEqual(await self.fixture.node.helper.bucket_counts(self.bucket_id),
                         [3, 3000, 0])
        message = await self.refused("put_object", Bucket="small", Key="k3", Body=b"x")
        self.assertIn("Object quota is reached", message)
        # Replacing an object is no new object: allowed within the size quota.
        await in_thread(self.s3.put_object, Bucket="small", Key="k0", Body=b"y" * 7000)
        message = await self.refused("put_object", Bucket="small", Key="k1",
                                     Body=b"z" * 5000)
        self.assertIn("size quota is reached", message)
        await self.refused("copy_object", Bucket="small", Key="k4", CopySource="small/k1")
        # Deleting frees room.
        await in_thread(self.s3.delete_object, Bucket="small", Key="k2")
        await in_thread(self.s3.put_object, Bucket="small", Key="k5", Body=b"ok")
        got = await in_thread(self.s3.list_objects_v2, Bucket="small")
        self.assertEqual([o["Key"] for o in got["Contents"]], ["k0", "k1", "k5"])
