"""Object and bucket tags through boto3 (and a browser POST) on a real node,
tags read through another node of a cluster, and lifecycle rules filtering
on tags applied by the worker."""

import os

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from garage_twisted.util.worker import WorkerState
from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import in_thread, start_with_s3_client

BUCKET = "tagged"
DAY_MS = 24 * 3600 * 1000


def tag_set(**tags) -> list:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


class _Calls:
    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def assertError(self, code, method, **kwargs):
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        self.assertEqual(caught.exception.response["Error"]["Code"], code, method)
        return caught.exception

    async def tags(self, key, client=None):
        client = client or self.s3
        got = await in_thread(client.get_object_tagging, Bucket=BUCKET, Key=key)
        return got["TagSet"]


class ObjectTaggingTests(_Calls, TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 1 << 20,
                                                                     bucket=BUCKET)

    async def test_put_get_replace_delete(self):
        await self.call("put_object", Bucket=BUCKET, Key="k", Body=b"x",
                        Tagging="project=alpha&owner=%C3%A9quipe")
        self.assertEqual(await self.tags("k"), tag_set(owner="équipe", project="alpha"))
        head = await self.call("head_object", Bucket=BUCKET, Key="k")
        self.assertEqual(head["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"], "2")
        got = await self.call("get_object", Bucket=BUCKET, Key="k")
        self.assertEqual(got["TagCount"], 2)
        await self.call("put_object_tagging", Bucket=BUCKET, Key="k",
                        Tagging={"TagSet": tag_set(stage="prod")})
        self.assertEqual(await self.tags("k"), tag_set(stage="prod"))
        self.assertEqual(await in_thread(
            (await self.call("get_object", Bucket=BUCKET, Key="k"))["Body"].read), b"x")
        await self.call("delete_object_tagging", Bucket=BUCKET, Key="k")
        self.assertEqual(await self.tags("k"), [])
        head = await self.call("head_object", Bucket=BUCKET, Key="k")
        self.assertNotIn("x-amz-tagging-count", head["ResponseMetadata"]["HTTPHeaders"])
        # An overwrite starts from its own tags.
        await self.call("put_object", Bucket=BUCKET, Key="k", Body=os.urandom(2 << 20),
                        Tagging="v=2")
        self.assertEqual(await self.tags("k"), tag_set(v="2"))
        await self.assertError("NoSuchKey", "get_object_tagging", Bucket=BUCKET, Key="none")
        await self.assertError("NoSuchKey", "put_object_tagging", Bucket=BUCKET, Key="none",
                               Tagging={"TagSet": tag_set(a="1")})

    async def test_aws_limits(self):
        await self.call("put_object", Bucket=BUCKET, Key="k", Body=b"x")
        for tags in ([{"Key": f"k{i}", "Value": "v"} for i in range(11)],
                     [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
                     [{"Key": "k" * 129, "Value": "v"}],
                     [{"Key": "k", "Value": "v" * 257}],
                     [{"Key": "aws:k", "Value": "v"}]):
            await self.assertError("InvalidTag", "put_object_tagging", Bucket=BUCKET, Key="k",
                                   Tagging={"TagSet": tags})
        self.assertEqual(await self.tags("k"), [])
        error = await self.assertError("InvalidTag", "put_object", Bucket=BUCKET, Key="new",
                                       Body=b"x", Tagging="a=1&a=2")
        self.assertEqual(error.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        await self.assertError("404", "head_object", Bucket=BUCKET, Key="new")

    async def test_multipart_copy_and_post(self):
        upload = await self.call("create_multipart_upload", Bucket=BUCKET, Key="mpu",
                                 Tagging="kind=big")
        part = await self.call("upload_part", Bucket=BUCKET, Key="mpu", PartNumber=1,
                               UploadId=upload["UploadId"], Body=b"m" * 1000)
        await self.call("complete_multipart_upload", Bucket=BUCKET, Key="mpu",
                        UploadId=upload["UploadId"],
                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        self.assertEqual(await self.tags("mpu"), tag_set(kind="big"))
        head = await self.call("head_object", Bucket=BUCKET, Key="mpu")
        self.assertNotIn("x-garage-tagging", str(head["ResponseMetadata"]["HTTPHeaders"]))
        # Copies: COPY (the default) keeps the source's, REPLACE takes the header's.
        await self.call("copy_object", Bucket=BUCKET, Key="copied",
                        CopySource={"Bucket": BUCKET, "Key": "mpu"})
        self.assertEqual(await self.tags("copied"), tag_set(kind="big"))
        await self.call("copy_object", Bucket=BUCKET, Key="replaced",
                        CopySource={"Bucket": BUCKET, "Key": "mpu"},
                        TaggingDirective="REPLACE", Tagging="kind=copy")
        self.assertEqual(await self.tags("replaced"), tag_set(kind="copy"))
        await self.call("copy_object", Bucket=BUCKET, Key="bare",
                        CopySource={"Bucket": BUCKET, "Key": "mpu"},
                        TaggingDirective="REPLACE")
        self.assertEqual(await self.tags("bare"), [])
        # A browser POST's tagging field is a Tagging document.
        document = ("<Tagging><TagSet><Tag><Key>from</Key><Value>form</Value></Tag>"
                    "</TagSet></Tagging>")
        post = await self.call("generate_presigned_post", Bucket=BUCKET, Key="posted",
                               Fields={"tagging": document},
                               Conditions=[{"tagging": document}], ExpiresIn=300)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        response = await treq.post(post["url"], data=list(post["fields"].items()),
                                   files={"file": ("f", "text/plain", b"posted")}, pool=pool)
        self.assertEqual(response.code, 204, await treq.content(response))
        self.assertEqual(await self.tags("posted"), tag_set(**{"from": "form"}))

    async def test_lifecycle_filters_on_tags(self):
        await self.call("put_bucket_lifecycle_configuration", Bucket=BUCKET,
                        LifecycleConfiguration={"Rules": [
                            {"ID": "cold", "Status": "Enabled",
                             "Filter": {"And": {"Prefix": "logs/",
                                                "Tags": tag_set(tier="cold")}},
                             "Expiration": {"Days": 1}}]})
        got = await self.call("get_bucket_lifecycle_configuration", Bucket=BUCKET)
        self.assertEqual(got["Rules"][0]["Filter"]["And"]["Tags"], tag_set(tier="cold"))
        await self.call("put_object", Bucket=BUCKET, Key="logs/cold", Body=b"1",
                        Tagging="tier=cold&x=y")
        await self.call("put_object", Bucket=BUCKET, Key="logs/hot", Body=b"1",
                        Tagging="tier=hot")
        await self.call("put_object", Bucket=BUCKET, Key="logs/retagged", Body=b"1",
                        Tagging="tier=hot")
        await self.call("put_object_tagging", Bucket=BUCKET, Key="logs/retagged",
                        Tagging={"TagSet": tag_set(tier="cold")})
        worker = self.fixture.node.workers._slots["lifecycle"].worker
        now = int(reactor.seconds() * 1000) + DAY_MS
        while (await worker.work(now)) == WorkerState.BUSY:
            pass
        listed = await self.call("list_objects_v2", Bucket=BUCKET)
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["logs/hot"])


class BucketTaggingTests(_Calls, TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 1 << 20,
                                                                     bucket=BUCKET)

    async def test_put_get_delete(self):
        await self.assertError("NoSuchTagSet", "get_bucket_tagging", Bucket=BUCKET)
        await self.call("put_bucket_tagging", Bucket=BUCKET,
                        Tagging={"TagSet": tag_set(team="ops", cost="home")})
        got = await self.call("get_bucket_tagging", Bucket=BUCKET)
        self.assertEqual(got["TagSet"], tag_set(cost="home", team="ops"))
        await self.assertError("InvalidTag", "put_bucket_tagging", Bucket=BUCKET,
                               Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"}
                                                   for i in range(51)]})
        fifty = [{"Key": f"k{i:02d}", "Value": "v"} for i in range(50)]
        await self.call("put_bucket_tagging", Bucket=BUCKET, Tagging={"TagSet": fifty})
        self.assertEqual((await self.call("get_bucket_tagging", Bucket=BUCKET))["TagSet"],
                         fifty)
        await self.call("delete_bucket_tagging", Bucket=BUCKET)
        await self.assertError("NoSuchTagSet", "get_bucket_tagging", Bucket=BUCKET)


class ClusterTaggingTests(_Calls, TestCase):
    timeout = 120

    async def test_tags_written_through_one_node_read_through_the_others(self):
        fixtures, nodes = await start_cluster(self)
        key = await fixtures[0].create_key()
        clients = boto3_clients(self, fixtures, key)
        self.s3 = clients[0]
        await self.call("create_bucket", Bucket=BUCKET)
        await self.call("put_object", Bucket=BUCKET, Key="k", Body=os.urandom(3 << 20),
                        Tagging="a=1")
        await in_thread(clients[1].put_object_tagging, Bucket=BUCKET, Key="k",
                        Tagging={"TagSet": tag_set(b="2")})
        for client in clients:
            self.assertEqual(await self.tags("k", client), tag_set(b="2"))
        await in_thread(clients[2].put_bucket_tagging, Bucket=BUCKET,
                        Tagging={"TagSet": tag_set(site="home")})
        for client in clients:
            got = await in_thread(client.get_bucket_tagging, Bucket=BUCKET)
            self.assertEqual(got["TagSet"], tag_set(site="home"))
