"""S3 and websites through a gateway node (a role without capacity), in one
reactor: three storage nodes and one gateway, every request through the
gateway; the gateway stores no object rows and no blocks."""

import hashlib
import os
from dataclasses import replace

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from garage_twisted.model.bucket import BucketQuotas
from tests.support.cluster import add_node, boto3_clients, start_cluster
from tests.support.node import in_thread

WEB = '[s3_web]\nbind_addr = "127.0.0.1:0"\nroot_domain = ".web.test"\n'
# Tables whose rows live on the storage nodes only (sharded tables).
SHARDED = ("object", "version", "block_ref", "mpu", "counter")


def _files(data_dir: str) -> list:
    """Block files under ``data_dir``, temporary ones included."""
    return [name for _, _, names in os.walk(data_dir) for name in names
            if len(name.split(".")[0]) == 64]


def _rows(table) -> int:
    return sum(1 for _ in table.data.rows.range())


class GatewayTests(TestCase):
    timeout = 120

    async def test_s3_and_website_through_the_gateway_alone(self):
        """PUT (inline, multi-block), multipart, copy, list, GET, delete and
        a website GET all go through the gateway; its data directory holds
        no block and its sharded tables no row."""
        fixtures, nodes = await start_cluster(self, count=4, gateways=1,
                                              extras=("",) * 3 + (WEB,))
        gateway = nodes[3]
        self.assertTrue(gateway.layout.current().roles[gateway.node_key.node_id].is_gateway)
        key = await fixtures[3].create_key()  # admin operations on the gateway too
        (s3,) = boto3_clients(self, fixtures[3:], key)
        (storage_s3,) = boto3_clients(self, fixtures[:1], key)
        await in_thread(s3.create_bucket, Bucket="gate")
        small, big = b"through the gateway", os.urandom(2 * 1024 * 1024 + 7)
        await in_thread(s3.put_object, Bucket="gate", Key="small", Body=small)
        await in_thread(s3.put_object, Bucket="gate", Key="big", Body=big)
        # Multipart: two parts, assembled.
        part1, part2 = os.urandom(5 * 1024 * 1024), os.urandom(1024 * 1024 + 3)
        upload = await in_thread(s3.create_multipart_upload, Bucket="gate", Key="mpu")
        etags = []
        for number, body in ((1, part1), (2, part2)):
            got = await in_thread(s3.upload_part, Bucket="gate", Key="mpu", PartNumber=number,
                                  UploadId=upload["UploadId"], Body=body)
            etags.append({"PartNumber": number, "ETag": got["ETag"]})
        listed = await in_thread(s3.list_parts, Bucket="gate", Key="mpu",
                                 UploadId=upload["UploadId"])
        self.assertEqual([p["PartNumber"] for p in listed["Parts"]], [1, 2])
        await in_thread(s3.complete_multipart_upload, Bucket="gate", Key="mpu",
                        UploadId=upload["UploadId"], MultipartUpload={"Parts": etags})
        await in_thread(s3.copy_object, Bucket="gate", Key="copy",
                        CopySource={"Bucket": "gate", "Key": "big"})
        # A part copied from an object; an upload listed, then aborted.
        upload = await in_thread(s3.create_multipart_upload, Bucket="gate", Key="parts")
        got = await in_thread(s3.upload_part_copy, Bucket="gate", Key="parts", PartNumber=1,
                              UploadId=upload["UploadId"], CopySourceRange="bytes=0-99",
                              CopySource={"Bucket": "gate", "Key": "mpu"})
        self.assertIn("ETag", got["CopyPartResult"])
        uploads = await in_thread(s3.list_multipart_uploads, Bucket="gate")
        self.assertEqual([u["Key"] for u in uploads["Uploads"]], ["parts"])
        await in_thread(s3.abort_multipart_upload, Bucket="gate", Key="parts",
                        UploadId=upload["UploadId"])
        for name, body in (("small", small), ("big", big), ("mpu", part1 + part2),
                           ("copy", big)):
            got = await in_thread(s3.get_object, Bucket="gate", Key=name)
            data = await in_thread(got["Body"].read)
            self.assertEqual(hashlib.sha256(data).digest(), hashlib.sha256(body).digest(), name)
        listed = await in_thread(s3.list_objects_v2, Bucket="gate")
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["big", "copy", "mpu", "small"])
        # Read-after-write through the gateway of a write through a storage node.
        await in_thread(storage_s3.put_object, Bucket="gate", Key="small", Body=b"newer")
        got = await in_thread(s3.get_object, Bucket="gate", Key="small")
        self.assertEqual(await in_thread(got["Body"].read), b"newer")
        # The website endpoint of the gateway.
        await in_thread(s3.put_object, Bucket="gate", Key="index.html", Body=b"<h1>gw</h1>",
                        ContentType="text/html")
        await in_thread(s3.put_bucket_website, Bucket="gate", WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"}})
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        response = await treq.get(f"http://127.0.0.1:{gateway.web_listener.port}/",
                                  headers={"Host": "gate.web.test"}, pool=pool)
        self.assertEqual((response.code, await treq.content(response)), (200, b"<h1>gw</h1>"))
        await in_thread(s3.delete_object, Bucket="gate", Key="big")
        listed = await in_thread(s3.list_objects_v2, Bucket="gate")
        self.assertEqual([o["Key"] for o in listed["Contents"]],
                         ["copy", "index.html", "mpu", "small"])
        # Nothing stored on the gateway, everything on the storage nodes.
        self.assertEqual(_files(gateway.block_manager.store.data_dir), [])
        for table in gateway.model.tables:
            if table.name in SHARDED:
                self.assertEqual(_rows(table), 0, table.name)
        for node in nodes[:3]:
            self.assertTrue(_files(node.block_manager.store.data_dir))
            self.assertGreater(_rows(node.model.object_table), 0)

    async def test_quota_through_the_gateway_counts_every_acknowledged_write(self):
        """Objects written one after the other through the gateway count at
        once (not after the counters' publication): the third of a
        two-object quota is refused."""
        fixtures, nodes = await start_cluster(self, count=4, gateways=1)
        key = await fixtures[3].create_key()
        (s3,) = boto3_clients(self, fixtures[3:], key)
        await in_thread(s3.create_bucket, Bucket="quota")
        helper = nodes[3].helper
        bucket_id = await helper.resolve_bucket("quota", None)
        bucket = await helper.get_existing_bucket(bucket_id)
        await helper.model.bucket_table.insert(bucket.with_params(replace(
            bucket.params, quotas=bucket.params.quotas.update(helper.now(),
                                                              BucketQuotas(None, 2)))))
        for name in ("one", "two"):
            await in_thread(s3.put_object, Bucket="quota", Key=name, Body=b"x")
        with self.assertRaises(ClientError) as caught:
            await in_thread(s3.put_object, Bucket="quota", Key="three", Body=b"x")
        self.assertEqual(caught.exception.response["Error"]["Code"], "AccessDenied")
        self.assertEqual(await helper.bucket_counts(bucket_id), [2, 2, 0])

    async def test_a_node_without_a_role_still_refuses(self):
        """A node of the cluster that is not in the layout answers 503, as
        Garage does: only a role (storage or gateway) lets a node serve."""
        fixtures, _ = await start_cluster(self)
        key = await fixtures[0].create_key()
        outsider = await add_node(self, fixtures)
        (s3,) = boto3_clients(self, [outsider], key)
        with self.assertRaises(ClientError) as caught:
            await in_thread(s3.list_buckets)
        self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"], 503)
