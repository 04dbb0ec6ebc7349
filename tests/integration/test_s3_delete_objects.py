"""DeleteObjects through boto3 and raw requests: per-key results, quiet mode,
bad documents."""

from botocore.exceptions import ClientError
from twisted.trial.unittest import TestCase

from tests.support.node import in_thread, start_with_s3_client


class DeleteObjectsTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="multi")

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def keys(self):
        listed = await self.call("list_objects_v2", Bucket="multi")
        return [o["Key"] for o in listed.get("Contents", [])]

    async def test_delete_several_and_missing(self):
        names = ["a.txt", "dir/b é&+.bin", "big", "c"]
        for name in names:
            body = b"x" * (100_000 if name == "big" else 10)
            await self.call("put_object", Bucket="multi", Key=name, Body=body)
        result = await self.call("delete_objects", Bucket="multi", Delete={
            "Objects": [{"Key": "a.txt"}, {"Key": "dir/b é&+.bin"}, {"Key": "big"},
                        {"Key": "never-existed"}]})
        self.assertEqual(sorted(d["Key"] for d in result["Deleted"]),
                         sorted(["a.txt", "dir/b é&+.bin", "big", "never-existed"]))
        self.assertNotIn("Errors", result)
        self.assertEqual(await self.keys(), ["c"])
        with self.assertRaises(ClientError):
            await self.call("get_object", Bucket="multi", Key="big")

    async def test_quiet_mode_lists_only_errors(self):
        await self.call("put_object", Bucket="multi", Key="q", Body=b"1")
        result = await self.call("delete_objects", Bucket="multi", Delete={
            "Objects": [{"Key": "q"}, {"Key": "k" * 1100}], "Quiet": True})
        self.assertNotIn("Deleted", result)
        self.assertEqual([(e["Key"][:3], e["Code"]) for e in result["Errors"]],
                         [("kkk", "KeyTooLongError")])
        self.assertEqual(await self.keys(), [])

    async def test_malformed_document(self):
        with self.assertRaises(ClientError) as caught:
            await self.call("delete_objects", Bucket="multi", Delete={"Objects": []})
        self.assertEqual(caught.exception.response["Error"]["Code"], "MalformedXML")

    async def test_needs_write_permission(self):
        helper = self.fixture.node.helper
        reader = await self.fixture.create_key(name="reader", allow_create_bucket=False)
        await helper.set_permissions(await helper.resolve_bucket("multi", None),
                                     reader.key_id, read=True, write=False, owner=False)
        client = self.fixture.boto3_client(reader)
        self.addCleanup(client.close)
        await self.call("put_object", Bucket="multi", Key="kept", Body=b"1")
        # Each key is its own decision (a bucket policy may allow some), so
        # the refusal is per key, as AWS answers it.
        result = await in_thread(client.delete_objects, Bucket="multi",
                                 Delete={"Objects": [{"Key": "kept"}]})
        self.assertEqual([(e["Key"], e["Code"]) for e in result["Errors"]],
                         [("kept", "AccessDenied")])
        self.assertEqual(await self.keys(), ["kept"])
