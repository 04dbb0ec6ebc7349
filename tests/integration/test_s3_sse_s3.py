"""SSE-S3 through boto3 against a real node: PUT/GET/HEAD, ranges, parts,
multipart, copies between encrypted and plain objects, bucket default
encryption, browser POST, rotation of the secret across restarts, and a
3-node cluster."""

import hashlib
import os

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import NodeFixture, in_thread, start_with_s3_client

BLOCK = 64 * 1024
SECRET = "5e" * 32
NEW_SECRET = "7a" * 32
SSE = {"ServerSideEncryption": "AES256"}
MIB = 1024 * 1024


def secret_config(current, old=()):
    lines = f'sse_s3_secret = "{current}"\n'
    if old:
        lines += "sse_s3_old_secrets = [" + ", ".join(f'"{s}"' for s in old) + "]\n"
    return lines


class SseS3Tests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture = await NodeFixture.start(self, block_size=BLOCK,
                                               s3_extra=secret_config(SECRET))
        self.key = await self.fixture.create_key()
        self.connect()
        await self.call("create_bucket", Bucket="enc")

    def connect(self):
        self.s3 = self.fixture.boto3_client(self.key)
        self.addCleanup(self.s3.close)

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def body(self, **kwargs):
        got = await self.call("get_object", **kwargs)
        return got, await in_thread(got["Body"].read)

    async def error(self, method, **kwargs):
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        response = caught.exception.response
        return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]

    def block_count(self):
        return sum(1 for _ in self.fixture.node._block_store.iter_block_hashes())

    async def stored_encryption(self, bucket, key):
        """The ``encryption`` field of the object's current version."""
        node = self.fixture.node
        bucket_id = await node.helper.resolve_bucket(bucket, self.key)
        obj = await node.helper.model.object_table.get(bucket_id, key.encode())
        return obj.last_data_version().data.meta.encryption

    async def test_put_get_head_and_ranges(self):
        """Inline and multi-block objects: the answers carry AES256, the
        ETag is the MD5 of the plain bytes (as AWS for SSE-S3), ranges and
        ranges across blocks read the plain bytes."""
        for key, data in (("small", b"a small secret"), ("large", os.urandom(5 * BLOCK + 77))):
            put = await self.call("put_object", Bucket="enc", Key=key, Body=data, **SSE)
            self.assertEqual(put["ServerSideEncryption"], "AES256")
            self.assertEqual(put["ETag"].strip('"'), hashlib.md5(data).hexdigest())
            got, body = await self.body(Bucket="enc", Key=key)
            self.assertEqual(body, data)
            self.assertEqual(got["ServerSideEncryption"], "AES256")
            head = await self.call("head_object", Bucket="enc", Key=key)
            self.assertEqual((head["ServerSideEncryption"], head["ContentLength"]),
                             ("AES256", len(data)))
            for first, last in ((0, 0), (3, 9), (len(data) - 5, len(data) - 1)):
                got, body = await self.body(Bucket="enc", Key=key, Range=f"bytes={first}-{last}")
                self.assertEqual(body, data[first:last + 1])
            self.assertTrue((await self.stored_encryption("enc", key)).startswith("sse-s3:"))
        _, body = await self.body(Bucket="enc", Key="large",
                                  Range=f"bytes={BLOCK - 10}-{3 * BLOCK + 10}")
        self.assertEqual(body, data[BLOCK - 10:3 * BLOCK + 11])
        _, body = await self.body(Bucket="enc", Key="large", Range="bytes=-100")
        self.assertEqual(body, data[-100:])
        # A plain object says nothing of encryption.
        await self.call("put_object", Bucket="enc", Key="plain", Body=b"p")
        got, _ = await self.body(Bucket="enc", Key="plain")
        self.assertNotIn("ServerSideEncryption", got)
        # SSE-C parameters on an SSE-S3 object: 400, as AWS.
        status, code = await self.error("get_object", Bucket="enc", Key="small",
                                        SSECustomerAlgorithm="AES256",
                                        SSECustomerKey=os.urandom(32))
        self.assertEqual((status, code), (400, "InvalidRequest"))

    async def test_sizes_around_a_block(self):
        """An encrypted block holds 28 bytes less than a plain one (so that
        what is stored is a whole block): every size around that edge,
        SSE-S3 and SSE-C, reads back whole."""
        customer = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": os.urandom(32)}
        plain = BLOCK - 28
        for size in (plain - 1, plain, plain + 1, BLOCK, 2 * plain, 2 * plain + 1):
            for sse in (SSE, customer):
                data = os.urandom(size)
                await self.call("put_object", Bucket="enc", Key="edge", Body=data, **sse)
                read = {} if sse is SSE else customer
                _, body = await self.body(Bucket="enc", Key="edge", **read)
                self.assertEqual(body, data, (size, sse is SSE))

    async def test_methods_other_than_aes256(self):
        """aws:kms stays 501; an unknown method is 400; SSE-C with AES256 400."""
        self.assertEqual(await self.error("put_object", Bucket="enc", Key="k", Body=b"x",
                                          ServerSideEncryption="aws:kms"),
                         (501, "NotImplemented"))
        self.assertEqual(await self.error("create_multipart_upload", Bucket="enc", Key="k",
                                          ServerSideEncryption="aws:kms"),
                         (501, "NotImplemented"))
        status, code = await self.error("put_object", Bucket="enc", Key="k", Body=b"x",
                                        ServerSideEncryption="AES256",
                                        SSECustomerAlgorithm="AES256",
                                        SSECustomerKey=os.urandom(32))
        self.assertEqual((status, code), (400, "InvalidArgument"))
        listed = await self.call("list_objects_v2", Bucket="enc")
        self.assertEqual(listed["KeyCount"], 0)

    async def test_multipart(self):
        """The upload's data key, made at creation, encrypts every part (and
        a part copied from a plain object); the answers carry AES256; the
        whole, ranges and each part read back."""
        source = os.urandom(5 * MIB)
        await self.call("put_object", Bucket="enc", Key="plain-src", Body=source)
        parts = {1: os.urandom(5 * MIB), 2: source, 3: os.urandom(2 * BLOCK + 5)}
        created = await self.call("create_multipart_upload", Bucket="enc", Key="mp", **SSE)
        self.assertEqual(created["ServerSideEncryption"], "AES256")
        upload = created["UploadId"]
        done = []
        for number in (1, 3):
            result = await self.call("upload_part", Bucket="enc", Key="mp", UploadId=upload,
                                     PartNumber=number, Body=parts[number])
            self.assertEqual(result["ServerSideEncryption"], "AES256")
            self.assertEqual(result["ETag"].strip('"'), hashlib.md5(parts[number]).hexdigest())
            done.append({"PartNumber": number, "ETag": result["ETag"]})
        copied = await self.call("upload_part_copy", Bucket="enc", Key="mp", UploadId=upload,
                                 PartNumber=2, CopySource="enc/plain-src")
        self.assertEqual(copied["ServerSideEncryption"], "AES256")
        done.insert(1, {"PartNumber": 2, "ETag": copied["CopyPartResult"]["ETag"]})
        # SSE-C parameters on a part of an SSE-S3 upload: refused.
        status, _ = await self.error("upload_part", Bucket="enc", Key="mp", UploadId=upload,
                                     PartNumber=4, Body=b"x", SSECustomerAlgorithm="AES256",
                                     SSECustomerKey=os.urandom(32))
        self.assertEqual(status, 400)
        completed = await self.call("complete_multipart_upload", Bucket="enc", Key="mp",
                                    UploadId=upload, MultipartUpload={"Parts": done})
        self.assertEqual(completed["ServerSideEncryption"], "AES256")
        whole = parts[1] + parts[2] + parts[3]
        got, body = await self.body(Bucket="enc", Key="mp")
        self.assertEqual(body, whole)
        self.assertEqual(got["ServerSideEncryption"], "AES256")
        start = 5 * MIB - 3
        _, body = await self.body(Bucket="enc", Key="mp", Range=f"bytes={start}-{start + 9}")
        self.assertEqual(body, whole[start:start + 10])
        got, body = await self.body(Bucket="enc", Key="mp", PartNumber=3)
        self.assertEqual((body, got["PartsCount"]), (parts[3], 3))
        self.assertTrue((await self.stored_encryption("enc", "mp")).startswith("sse-s3:"))

    async def test_copies_both_ways(self):
        """Plain -> SSE-S3 and SSE-S3 -> plain copy the bytes anew; SSE-S3 ->
        SSE-S3 shares the blocks (no new block) under a rewrapped key;
        copying an object onto itself with the header encrypts it in place."""
        data = os.urandom(3 * BLOCK + 11)
        await self.call("put_object", Bucket="enc", Key="plain", Body=data)
        await self.call("put_object", Bucket="enc", Key="small-plain", Body=b"tiny")
        before = self.block_count()
        copied = await self.call("copy_object", Bucket="enc", Key="encrypted",
                                 CopySource="enc/plain", **SSE)
        self.assertEqual(copied["ServerSideEncryption"], "AES256")
        self.assertGreater(self.block_count(), before)
        got, body = await self.body(Bucket="enc", Key="encrypted")
        self.assertEqual((body, got["ServerSideEncryption"]), (data, "AES256"))
        before = self.block_count()
        copied = await self.call("copy_object", Bucket="enc", Key="again",
                                 CopySource="enc/encrypted", **SSE)
        self.assertEqual(copied["ServerSideEncryption"], "AES256")
        self.assertEqual(self.block_count(), before)
        self.assertNotEqual(await self.stored_encryption("enc", "again"),
                            await self.stored_encryption("enc", "encrypted"))
        _, body = await self.body(Bucket="enc", Key="again")
        self.assertEqual(body, data)
        copied = await self.call("copy_object", Bucket="enc", Key="back",
                                 CopySource="enc/encrypted")
        self.assertNotIn("ServerSideEncryption", copied)
        got, body = await self.body(Bucket="enc", Key="back")
        self.assertEqual(body, data)
        self.assertNotIn("ServerSideEncryption", got)
        self.assertIsNone(await self.stored_encryption("enc", "back"))
        # A part copied from an SSE-S3 object into a plain upload is plain.
        upload = (await self.call("create_multipart_upload", Bucket="enc",
                                  Key="parts"))["UploadId"]
        part = await self.call("upload_part_copy", Bucket="enc", Key="parts", UploadId=upload,
                               PartNumber=1, CopySource="enc/encrypted",
                               CopySourceRange="bytes=5-70004")
        self.assertNotIn("ServerSideEncryption", part)
        await self.call("complete_multipart_upload", Bucket="enc", Key="parts",
                        UploadId=upload, MultipartUpload={"Parts": [
                            {"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
        got, body = await self.body(Bucket="enc", Key="parts")
        self.assertEqual(body, data[5:70005])
        self.assertNotIn("ServerSideEncryption", got)
        # In place: refused without a change, allowed with the header.
        self.assertEqual((await self.error("copy_object", Bucket="enc", Key="small-plain",
                                           CopySource="enc/small-plain"))[0], 400)
        await self.call("copy_object", Bucket="enc", Key="small-plain",
                        CopySource="enc/small-plain", **SSE)
        got, body = await self.body(Bucket="enc", Key="small-plain")
        self.assertEqual((body, got["ServerSideEncryption"]), (b"tiny", "AES256"))

    async def test_bucket_default_encryption(self):
        """PutBucketEncryption AES256: objects written without a header are
        SSE-S3 (PUT, copy, multipart); SSE-C ones keep their key; after
        DeleteBucketEncryption GET is AWS's 404 and new objects are plain."""
        self.assertEqual(await self.error("get_bucket_encryption", Bucket="enc"),
                         (404, "ServerSideEncryptionConfigurationNotFoundError"))
        rule = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                           "BucketKeyEnabled": False}]}
        await self.call("put_bucket_encryption", Bucket="enc",
                        ServerSideEncryptionConfiguration=rule)
        got = await self.call("get_bucket_encryption", Bucket="enc")
        self.assertEqual(got["ServerSideEncryptionConfiguration"], rule)
        put = await self.call("put_object", Bucket="enc", Key="default", Body=b"d" * 5000)
        self.assertEqual(put["ServerSideEncryption"], "AES256")
        head = await self.call("head_object", Bucket="enc", Key="default")
        self.assertEqual(head["ServerSideEncryption"], "AES256")
        created = await self.call("create_multipart_upload", Bucket="enc", Key="mp")
        self.assertEqual(created["ServerSideEncryption"], "AES256")
        await self.call("abort_multipart_upload", Bucket="enc", Key="mp",
                        UploadId=created["UploadId"])
        customer = os.urandom(32)
        put = await self.call("put_object", Bucket="enc", Key="sse-c", Body=b"c",
                              SSECustomerAlgorithm="AES256", SSECustomerKey=customer)
        self.assertNotIn("ServerSideEncryption", put)
        self.assertEqual(put["SSECustomerAlgorithm"], "AES256")
        await self.call("create_bucket", Bucket="plain")
        await self.call("put_object", Bucket="plain", Key="p", Body=b"p")
        copied = await self.call("copy_object", Bucket="enc", Key="from-plain",
                                 CopySource="plain/p")
        self.assertEqual(copied["ServerSideEncryption"], "AES256")
        for algorithm in ("aws:kms", "aws:kms:dsse"):
            kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": algorithm}}]}
            self.assertEqual(await self.error("put_bucket_encryption", Bucket="enc",
                                              ServerSideEncryptionConfiguration=kms),
                             (501, "NotImplemented"))
        await self.call("delete_bucket_encryption", Bucket="enc")
        self.assertEqual(await self.error("get_bucket_encryption", Bucket="enc"),
                         (404, "ServerSideEncryptionConfigurationNotFoundError"))
        put = await self.call("put_object", Bucket="enc", Key="after", Body=b"a")
        self.assertNotIn("ServerSideEncryption", put)
        _, body = await self.body(Bucket="enc", Key="default")
        self.assertEqual(body, b"d" * 5000)

    async def test_browser_post(self):
        """A form with x-amz-server-side-encryption: AES256 (in its policy)
        stores the file encrypted and says so."""
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        field = {"x-amz-server-side-encryption": "AES256"}
        post = await in_thread(self.s3.generate_presigned_post, Bucket="enc", Key="form",
                               Fields=field, Conditions=[field], ExpiresIn=300)
        response = await treq.post(post["url"], data=list(post["fields"].items()),
                                   files={"file": ("f", "text/plain", b"from a form")},
                                   pool=pool)
        await treq.content(response)
        self.assertEqual(response.code, 204)
        self.assertEqual(response.headers.getRawHeaders(b"x-amz-server-side-encryption"),
                         [b"AES256"])
        got, body = await self.body(Bucket="enc", Key="form")
        self.assertEqual((body, got["ServerSideEncryption"]), (b"from a form", "AES256"))

    async def restart(self, s3_extra):
        await self.fixture.stop()
        self.fixture.s3_extra = s3_extra
        self.fixture.apply_layout = False
        await self.fixture.boot()
        self.connect()

    async def test_rotation_across_restarts(self):
        """A new secret with the old one kept as old: old objects read, new
        ones are wrapped with the new key, a copy in place moves an object
        to it; with the old secret gone, only moved objects read (500 for
        the others, naming the missing key)."""
        data = os.urandom(2 * BLOCK)
        for key in ("moved", "left"):
            await self.call("put_object", Bucket="enc", Key=key, Body=data, **SSE)
        old_id = (await self.stored_encryption("enc", "moved")).split(":")[1]
        await self.restart(secret_config(NEW_SECRET, [SECRET]))
        for key in ("moved", "left"):
            _, body = await self.body(Bucket="enc", Key=key)
            self.assertEqual(body, data)
        await self.call("put_object", Bucket="enc", Key="new", Body=b"n", **SSE)
        new_id = (await self.stored_encryption("enc", "new")).split(":")[1]
        self.assertNotEqual(new_id, old_id)
        await self.call("copy_object", Bucket="enc", Key="moved", CopySource="enc/moved",
                        **SSE)
        self.assertEqual((await self.stored_encryption("enc", "moved")).split(":")[1], new_id)
        await self.restart(secret_config(NEW_SECRET))
        _, body = await self.body(Bucket="enc", Key="moved")
        self.assertEqual(body, data)
        self.assertEqual(await self.error("get_object", Bucket="enc", Key="left"),
                         (500, "InternalError"))
        # Without any secret, SSE-S3 is off: 501, reads of SSE-S3 objects too.
        await self.restart("")
        self.assertEqual(await self.error("put_object", Bucket="enc", Key="k", Body=b"x",
                                          **SSE), (501, "NotImplemented"))
        self.assertEqual(await self.error("get_object", Bucket="enc", Key="moved"),
                         (501, "NotImplemented"))


class WithoutSecretTests(TestCase):
    timeout = 60

    async def test_bucket_default_needs_the_secret(self):
        """A node without an SSE-S3 secret refuses to set a default it could
        not honour (501), and SSE-S3 writes."""
        fixture, key, s3 = await start_with_s3_client(self, BLOCK, bucket="plain")
        rule = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
        with self.assertRaises(ClientError) as caught:
            await in_thread(s3.put_bucket_encryption, Bucket="plain",
                            ServerSideEncryptionConfiguration=rule)
        self.assertEqual(caught.exception.response["Error"]["Code"], "NotImplemented")
        self.assertIn("sse_s3_secret", caught.exception.response["Error"]["Message"])


class ClusterTests(TestCase):
    timeout = 120

    async def test_every_node_reads_and_writes(self):
        """On a 3-node cluster (1 MiB blocks, replicated sealed): an SSE-S3
        object written through one node reads whole and in ranges through
        each; a bucket default set through one node encrypts writes through
        another; a multipart upload spans nodes."""
        fixtures, _ = await start_cluster(self, s3_extra=secret_config(SECRET))
        key = await fixtures[0].create_key()
        clients = boto3_clients(self, fixtures, key)
        await in_thread(clients[0].create_bucket, Bucket="enc")
        data = os.urandom(2 * MIB + 12345)
        await in_thread(clients[0].put_object, Bucket="enc", Key="k", Body=data, **SSE)
        for client in clients:
            got = await in_thread(client.get_object, Bucket="enc", Key="k")
            self.assertEqual(await in_thread(got["Body"].read), data)
            self.assertEqual(got["ServerSideEncryption"], "AES256")
            got = await in_thread(client.get_object, Bucket="enc", Key="k",
                                  Range=f"bytes={MIB - 3}-{MIB + 3}")
            self.assertEqual(await in_thread(got["Body"].read), data[MIB - 3:MIB + 4])
        await in_thread(clients[0].put_bucket_encryption, Bucket="enc",
                        ServerSideEncryptionConfiguration={"Rules": [{
                            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        put = await in_thread(clients[2].put_object, Bucket="enc", Key="d", Body=data)
        self.assertEqual(put["ServerSideEncryption"], "AES256")
        upload = (await in_thread(clients[1].create_multipart_upload, Bucket="enc",
                                  Key="mp"))["UploadId"]
        parts = [os.urandom(5 * MIB), os.urandom(100)]
        done = []
        for number, (client, body) in enumerate(zip(clients[1:], parts), 1):
            result = await in_thread(client.upload_part, Bucket="enc", Key="mp",
                                     UploadId=upload, PartNumber=number, Body=body)
            self.assertEqual(result["ServerSideEncryption"], "AES256")
            done.append({"PartNumber": number, "ETag": result["ETag"]})
        await in_thread(clients[0].complete_multipart_upload, Bucket="enc", Key="mp",
                        UploadId=upload, MultipartUpload={"Parts": done})
        for client in clients:
            got = await in_thread(client.get_object, Bucket="enc", Key="mp")
            self.assertEqual(await in_thread(got["Body"].read), b"".join(parts))
            got = await in_thread(client.get_object, Bucket="enc", Key="d")
            self.assertEqual(await in_thread(got["Body"].read), data)

    async def test_read_from_a_peer_when_the_local_copy_is_corrupt(self):
        """Every local block copy of an SSE-S3 object on one node corrupt:
        a GET through that node fetches the blocks from its peers and
        decrypts them there (the block read's ``then`` on the remote path)."""
        fixtures, nodes = await start_cluster(self, s3_extra=secret_config(SECRET),
                                              extras=("disable_scrub = true",) * 3)
        key = await fixtures[0].create_key()
        clients = boto3_clients(self, fixtures, key)
        await in_thread(clients[0].create_bucket, Bucket="enc")
        data = os.urandom(2 * MIB + 4321)
        await in_thread(clients[1].put_object, Bucket="enc", Key="k", Body=data, **SSE)
        store = nodes[0].block_manager.store
        flipped = 0
        for root, _, files in os.walk(store.data_dir):
            for name in files:
                path = os.path.join(root, name)
                if os.path.getsize(path) > 64 * 1024:
                    with open(path, "r+b") as f:
                        f.seek(1000)
                        chunk = f.read(16)
                        f.seek(1000)
                        f.write(bytes(b ^ 0x5A for b in chunk))
                    flipped += 1
        self.assertGreaterEqual(flipped, 2)
        got = await in_thread(clients[0].get_object, Bucket="enc", Key="k")
        self.assertEqual(await in_thread(got["Body"].read), data)
        self.assertGreaterEqual(nodes[0].block_manager.counts["corrupt"], 2)
