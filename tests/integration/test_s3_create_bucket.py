"""CreateBucket of a name that exists, through boto3 against a real node:
idempotent for a key that owns the bucket or may write to it (as Garage,
Ceph RGW and AWS in us-east-1), 409 BucketAlreadyExists for any other key."""

from twisted.internet.defer import gatherResults

from tests.integration.test_s3_boto3 import _Boto3Calls
from tests.support.node import in_thread, start_with_s3_client


class CreateExistingBucketTests(_Boto3Calls):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024)
        self.helper = self.fixture.node.helper

    async def client_for(self, name, **permissions):
        """A second key (allowed to create buckets) and its boto3 client;
        ``permissions`` (read, write, owner) on bucket ``photos`` if given."""
        key = await self.fixture.create_key(name)
        if permissions:
            bucket = await self.helper.find_bucket("photos")
            await self.helper.set_permissions(
                bucket.bucket_id, key.key_id, permissions.get("read", False),
                permissions.get("write", False), permissions.get("owner", False))
        client = self.fixture.boto3_client(key)
        self.addCleanup(client.close)
        return key, client

    async def snapshot(self):
        """What a repeated CreateBucket must not change: the bucket's id,
        creation date, rights and aliases, and the buckets that exist."""
        bucket = await self.helper.find_bucket("photos")
        params = bucket.params
        rights = {k: (p.allow_read, p.allow_write, p.allow_owner)
                  for k, p in params.authorized_keys.items()}
        buckets = sorted(b.bucket_id for b in await self.helper.list_buckets())
        return (bucket.bucket_id, params.creation_date, rights, bucket.global_aliases(),
                sorted(params.local_aliases.items()), buckets)

    async def test_owner_recreates_with_200_and_nothing_changes(self):
        """The owning key's second CreateBucket (with or without a location
        constraint) answers 200 and leaves bucket and objects as they were."""
        await self.call("create_bucket", Bucket="photos")
        await self.call("put_object", Bucket="photos", Key="a", Body=b"kept")
        before = await self.snapshot()
        again = await self.call("create_bucket", Bucket="photos")
        self.assertEqual(again["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(again["Location"], "/photos")
        again = await self.call("create_bucket", Bucket="photos", CreateBucketConfiguration={
            "LocationConstraint": "garage"})
        self.assertEqual(again["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(await self.snapshot(), before)
        got = await self.call("get_object", Bucket="photos", Key="a")
        self.assertEqual(await in_thread(got["Body"].read), b"kept")
        listed = await self.call("list_buckets")
        self.assertEqual([b["Name"] for b in listed["Buckets"]], ["photos"])

    async def test_another_key_gets_409(self):
        """A key with no right, or only read, on the bucket gets 409
        BucketAlreadyExists and changes nothing."""
        await self.call("create_bucket", Bucket="photos")
        _, stranger = await self.client_for("stranger")
        _, reader = await self.client_for("reader", read=True)
        before = await self.snapshot()
        for client in (stranger, reader):
            self.s3 = client
            error = await self.assertS3Error("BucketAlreadyExists", "create_bucket",
                                             Bucket="photos")
            self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 409)
        self.assertEqual(await self.snapshot(), before)

    async def test_a_writer_recreates_with_200_without_gaining_rights(self):
        """A key that may write to the bucket (Garage's rule) gets 200; it is
        not made owner."""
        await self.call("create_bucket", Bucket="photos")
        writer_key, writer = await self.client_for("writer", read=True, write=True)
        before = await self.snapshot()
        self.s3 = writer
        again = await self.call("create_bucket", Bucket="photos")
        self.assertEqual(again["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(await self.snapshot(), before)
        bucket = await self.helper.find_bucket("photos")
        self.assertFalse(bucket.key_permissions(writer_key.key_id).allow_owner)

    async def test_concurrent_creates_by_one_key_all_succeed(self):
        """Four overlapping CreateBucket calls of one new name by one key
        all answer 200, and one bucket holds the name."""
        clients = [self.fixture.boto3_client(self.key) for _ in range(4)]
        for client in clients:
            self.addCleanup(client.close)
        answers = await gatherResults([
            in_thread(client.create_bucket, Bucket="photos")
            for client in clients])
        self.assertEqual([a["ResponseMetadata"]["HTTPStatusCode"] for a in answers],
                         [200] * 4)
        listed = await self.call("list_buckets")
        self.assertEqual([b["Name"] for b in listed["Buckets"]], ["photos"])
