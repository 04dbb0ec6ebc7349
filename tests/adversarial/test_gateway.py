"""Issue 22, defect 6: a gateway node (``layout assign -g``) serves S3 and
websites, storing nothing of the objects itself.

Three storage nodes and one gateway, real ``twistd`` processes; aws-cli,
boto3 and rclone talk to the gateway alone (PUT, multipart, copy, list,
GET, delete, a website GET), and the admin operations (key, bucket, website)
go through the gateway's CLI too. Then the gateway's data directory holds
no block and its sharded tables (object, version, block_ref, mpu, counter)
no row, while the storage nodes hold them. (The full-copy tables, buckets,
keys and aliases, are on every node of the layout, gateways included, as in
Garage.)
"""

import hashlib
import os

import treq
from twisted.trial.unittest import TestCase

from tests.support.node import in_thread
from tests.support.process import run, tool
from tests.support.process_cluster import ProcessCluster

GATEWAY = 3
SHARDED_TABLES = ("object", "version", "block_ref", "mpu", "counter")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class GatewayTests(TestCase):
    timeout = 120

    async def test_clients_through_the_gateway_alone(self):
        """aws-cli, boto3 and rclone work through the gateway alone, which
        stores no block and no object row."""
        cluster = ProcessCluster(self, os.path.abspath(self.mktemp()), count=4, gateways=1,
                                 web_root_domain=".web.test")
        await cluster.start()
        # Admin operations through the gateway: a key, a bucket, a website.
        out = await cluster.garage(GATEWAY, "key", "create", "gateway-key")
        fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        key_id, secret = fields["Key ID"], fields["Secret key"]
        await cluster.garage(GATEWAY, "bucket", "create", "through-gw")
        await cluster.garage(GATEWAY, "bucket", "allow", "--read", "--write", "--owner",
                             "through-gw", "--key", key_id)
        await cluster.garage(GATEWAY, "bucket", "website", "--allow", "through-gw")
        endpoint = f"http://127.0.0.1:{cluster.info(GATEWAY)['s3_port']}"
        work = os.path.abspath(self.mktemp())
        os.makedirs(work)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret,
                   AWS_DEFAULT_REGION="garage", AWS_EC2_METADATA_DISABLED="true",
                   RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_GW_TYPE="s3",
                   RCLONE_CONFIG_GW_PROVIDER="Other", RCLONE_CONFIG_GW_ACCESS_KEY_ID=key_id,
                   RCLONE_CONFIG_GW_SECRET_ACCESS_KEY=secret, RCLONE_CONFIG_GW_ENDPOINT=endpoint,
                   RCLONE_CONFIG_GW_REGION="garage", RCLONE_CONFIG_GW_FORCE_PATH_STYLE="true")

        def aws(*args):
            return run(tool("aws"), "--endpoint-url", endpoint, *args, env=env)

        def rclone(*args):
            return run(tool("rclone"), *args, env=env)

        payloads = {}

        def payload(name, size):
            path = os.path.join(work, name)
            data = os.urandom(size)
            with open(path, "wb") as f:
                f.write(data)
            payloads[name] = _digest(data)
            return path

        def same(path, name):
            with open(path, "rb") as f:
                self.assertEqual(_digest(f.read()), payloads[name], name)

        # aws-cli: an inline object and one above its multipart threshold
        # (8 MiB: two 8 MiB parts and a rest), up, down, listed, removed.
        for name, size in (("aws-small", 900), ("aws-big", 17 * 1024 * 1024 + 5)):
            await aws("s3", "cp", payload(name, size), f"s3://through-gw/{name}")
            await aws("s3", "cp", f"s3://through-gw/{name}", os.path.join(work, name + ".out"))
            same(os.path.join(work, name + ".out"), name)
        listed, _, _ = await aws("s3", "ls", "s3://through-gw/")
        self.assertIn("aws-big", listed)
        self.assertIn("aws-small", listed)
        await aws("s3", "rm", "s3://through-gw/aws-small")

        # boto3: multi-block PUT, explicit multipart, copy, list, delete.
        s3 = _boto3(self, endpoint, key_id, secret)
        big = os.urandom(3 * 1024 * 1024 + 11)
        await in_thread(s3.put_object, Bucket="through-gw", Key="boto-big", Body=big)
        parts = (os.urandom(5 * 1024 * 1024), os.urandom(1024 * 1024 + 3))
        upload = await in_thread(s3.create_multipart_upload, Bucket="through-gw",
                                 Key="boto-mpu")
        done = []
        for number, body in enumerate(parts, 1):
            got = await in_thread(s3.upload_part, Bucket="through-gw", Key="boto-mpu",
                                  PartNumber=number, UploadId=upload["UploadId"], Body=body)
            done.append({"PartNumber": number, "ETag": got["ETag"]})
        await in_thread(s3.complete_multipart_upload, Bucket="through-gw", Key="boto-mpu",
                        UploadId=upload["UploadId"], MultipartUpload={"Parts": done})
        await in_thread(s3.copy_object, Bucket="through-gw", Key="boto-copy",
                        CopySource={"Bucket": "through-gw", "Key": "boto-big"})
        for name, body in (("boto-big", big), ("boto-mpu", b"".join(parts)),
                           ("boto-copy", big)):
            got = await in_thread(s3.get_object, Bucket="through-gw", Key=name)
            self.assertEqual(_digest(await in_thread(got["Body"].read)), _digest(body), name)
        await in_thread(s3.delete_objects, Bucket="through-gw",
                        Delete={"Objects": [{"Key": "boto-copy"}]})

        # rclone: up, cat, list, delete.
        path = payload("rclone", 2 * 1024 * 1024 + 1)
        await rclone("copyto", path, "gw:through-gw/rclone")
        data = await run_bytes(tool("rclone"), "cat", "gw:through-gw/rclone", env=env)
        self.assertEqual(_digest(data), payloads["rclone"])
        listed, _, _ = await rclone("lsf", "gw:through-gw/")
        self.assertEqual(sorted(listed.split()),
                         ["aws-big", "boto-big", "boto-mpu", "rclone"])
        await rclone("deletefile", "gw:through-gw/rclone")

        # A website GET through the gateway's web endpoint.
        await in_thread(s3.put_object, Bucket="through-gw", Key="index.html",
                        Body=b"<h1>via gateway</h1>", ContentType="text/html")
        response = await treq.get(
            f"http://127.0.0.1:{cluster.info(GATEWAY)['web_port']}/",
            headers={"Host": "through-gw.web.test"}, pool=cluster.pool)
        self.assertEqual((response.code, await treq.content(response)),
                         (200, b"<h1>via gateway</h1>"))
        listed = await in_thread(s3.list_objects_v2, Bucket="through-gw")
        self.assertEqual([o["Key"] for o in listed["Contents"]],
                         ["aws-big", "boto-big", "boto-mpu", "index.html"])

        # The gateway stored nothing of it; the storage nodes did.
        self.assertEqual(cluster.block_files(GATEWAY), set())
        items = await cluster.table_items(GATEWAY)
        self.assertEqual({t: items[t] for t in SHARDED_TABLES},
                         dict.fromkeys(SHARDED_TABLES, 0))
        for i in range(3):
            self.assertTrue(cluster.block_files(i), i)
            self.assertGreaterEqual((await cluster.table_items(i))["object"], 4, i)


def _boto3(testcase, endpoint, key_id, secret):
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key_id,
                          aws_secret_access_key=secret, region_name="garage",
                          config=Config(s3={"addressing_style": "path"}))
    testcase.addCleanup(client.close)
    return client


async def run_bytes(*args, env):
    """A command's standard output as bytes (``run`` decodes it as text)."""
    from twisted.internet.utils import getProcessOutputAndValue

    out, err, code = await getProcessOutputAndValue(args[0], args[1:], env=env)
    if code != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({code}): {err.decode()}")
    return out
