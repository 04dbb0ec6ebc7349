"""Conditional PutObject: If-None-Match: * lets exactly one racing writer win,
on one node and across the nodes of a cluster; If-Match guards replacements."""

import os

from botocore.exceptions import ClientError
from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import in_thread, start_with_s3_client


async def _race(testcase, clients, bucket, key):
    """Each client PUTs its own body with If-None-Match: *; returns the
    statuses and the bodies, by client."""
    bodies = [os.urandom(100 + 5000 * (i % 2)) for i in range(len(clients))]

    async def one(client, body):
        try:
            await in_thread(client.put_object, Bucket=bucket, Key=key, Body=body,
                            IfNoneMatch="*")
            return 200
        except ClientError as e:
            return int(e.response["ResponseMetadata"]["HTTPStatusCode"])

    statuses = await defer.gatherResults(
        [defer.ensureDeferred(one(c, b)) for c, b in zip(clients, bodies)])
    return statuses, bodies


class ConditionalPutTests(TestCase):
    timeout = 120

    async def test_racing_writers_on_one_node(self):
        fixture, key, s3 = await start_with_s3_client(self, 64 * 1024, bucket="race")
        clients = [s3] + [fixture.boto3_client(key) for _ in range(3)]
        for client in clients[1:]:
            self.addCleanup(client.close)
        for round_ in range(5):
            name = f"k{round_}"
            statuses, bodies = await _race(self, clients, "race", name)
            self.assertEqual(statuses.count(200), 1, statuses)
            self.assertEqual(sorted(statuses)[1:], [412] * 3, statuses)
            got = await in_thread(s3.get_object, Bucket="race", Key=name)
            self.assertEqual(await in_thread(got["Body"].read), bodies[statuses.index(200)])

    async def test_if_none_match_and_if_match(self):
        fixture, key, s3 = await start_with_s3_client(self, 64 * 1024, bucket="cond")
        first = await in_thread(s3.put_object, Bucket="cond", Key="k", Body=b"1",
                                IfNoneMatch="*")
        with self.assertRaises(ClientError) as caught:
            await in_thread(s3.put_object, Bucket="cond", Key="k", Body=b"2", IfNoneMatch="*")
        self.assertEqual(caught.exception.response["Error"]["Code"], "PreconditionFailed")
        with self.assertRaises(ClientError) as caught:
            await in_thread(s3.put_object, Bucket="cond", Key="k", Body=b"3",
                            IfMatch='"00000000000000000000000000000000"')
        self.assertEqual(caught.exception.response["Error"]["Code"], "PreconditionFailed")
        await in_thread(s3.put_object, Bucket="cond", Key="k", Body=b"4", IfMatch=first["ETag"])
        got = await in_thread(s3.get_object, Bucket="cond", Key="k")
        self.assertEqual(await in_thread(got["Body"].read), b"4")
        # Deleted: If-None-Match succeeds again.
        await in_thread(s3.delete_object, Bucket="cond", Key="k")
        await in_thread(s3.put_object, Bucket="cond", Key="k", Body=b"5", IfNoneMatch="*")

    async def test_racing_writers_on_three_nodes(self):
        fixtures, _ = await start_cluster(self)
        key = await fixtures[0].create_key()
        clients = boto3_clients(self, fixtures, key)
        await in_thread(clients[0].create_bucket, Bucket="spread")
        for round_ in range(4):
            name = f"k{round_}"
            statuses, bodies = await _race(self, clients, "spread", name)
            self.assertEqual(statuses.count(200), 1, statuses)
            got = await in_thread(clients[(round_ + 1) % 3].get_object, Bucket="spread",
                                  Key=name)
            self.assertEqual(await in_thread(got["Body"].read), bodies[statuses.index(200)])


class ConditionalCompleteTests(TestCase):
    timeout = 60

    async def test_complete_if_none_match(self):
        fixture, key, s3 = await start_with_s3_client(self, 64 * 1024, bucket="mpc")
        await in_thread(s3.put_object, Bucket="mpc", Key="k", Body=b"already")
        upload = await in_thread(s3.create_multipart_upload, Bucket="mpc", Key="k")
        part = await in_thread(s3.upload_part, Bucket="mpc", Key="k", PartNumber=1,
                               UploadId=upload["UploadId"], Body=b"part")
        with self.assertRaises(ClientError) as caught:
            await in_thread(s3.complete_multipart_upload, Bucket="mpc", Key="k",
                            UploadId=upload["UploadId"], IfNoneMatch="*",
                            MultipartUpload={"Parts": [{"PartNumber": 1,
                                                        "ETag": part["ETag"]}]})
        self.assertEqual(caught.exception.response["Error"]["Code"], "PreconditionFailed")
        got = await in_thread(s3.get_object, Bucket="mpc", Key="k")
        self.assertEqual(await in_thread(got["Body"].read), b"already")
