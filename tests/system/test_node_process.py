"""Real `twistd garage` processes with real clients (aws-cli, boto3), kill -9."""

import hashlib
import os
import socket

import boto3
from botocore.config import Config as BotoConfig
from twisted.internet import threads
from twisted.trial.unittest import TestCase

from tests.support.process import NodeProcess, run, setup_key_and_bucket, tool, write_config


class ConfigErrorTests(TestCase):
    timeout = 60

    async def test_missing_config(self):
        """A missing configuration file is one clear line and a non-zero exit."""
        out, err, code = await run(tool("twistd"), "-n", "--pidfile", "", "garage", "-c",
                                   "/nonexistent/garage.toml", check=False)
        self.assertNotEqual(code, 0)
        self.assertIn("configuration file /nonexistent/garage.toml not found", out + err)
        self.assertNotIn("Traceback", out + err)

    async def test_invalid_config(self):
        """A config with a bad value names the problem in one line."""
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        path = os.path.join(base, "garage.toml")
        with open(path, "w") as f:
            f.write('metadata_dir = "m"\ndata_dir = "d"\nreplication_factor = 1\n'
                    'rpc_bind_addr = "127.0.0.1:0"\nrpc_secret = "short"\n')
        out, err, code = await run(tool("twistd"), "-n", "--pidfile", "", "garage", "-c", path,
                                   check=False)
        self.assertNotEqual(code, 0)
        self.assertIn("rpc_secret must be 64 hexadecimal characters", out + err)
        self.assertNotIn("Traceback", out + err)


class NodeProcessTests(TestCase):
    timeout = 300

    async def start_node(self, config):
        node = NodeProcess.spawn(config)
        self.addCleanup(node.kill)
        await node.ready
        return node

    async def boot(self):
        self.base = os.path.abspath(self.mktemp())
        self.config = write_config(self.base)
        self.node = await self.start_node(self.config)
        self.key_id, self.secret = await setup_key_and_bucket(self.config, "system")

    def s3(self):
        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.node.info()['s3_port']}",
            region_name="garage", aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret, config=BotoConfig(retries={"max_attempts": 1}))
        self.addCleanup(client.close)
        return client

    async def aws(self, *args):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.key_id,
                   AWS_SECRET_ACCESS_KEY=self.secret, AWS_DEFAULT_REGION="garage",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        endpoint = f"http://127.0.0.1:{self.node.info()['s3_port']}"
        return await run(tool("aws"), "--endpoint-url", endpoint, *args, env=env)

    async def test_aws_cli_round_trip(self):
        """aws-cli creates a bucket, uploads and downloads 20 MiB, 3 KiB and 0 bytes
        byte-identical, lists and deletes them."""
        await self.boot()
        await self.aws("s3", "mb", "s3://cli-bucket")
        work = os.path.abspath(self.mktemp())
        os.makedirs(work)
        sizes = {"big.bin": 20 * 1024 * 1024, "small.bin": 3 * 1024, "empty.bin": 0}
        for name, size in sizes.items():
            with open(os.path.join(work, name), "wb") as f:
                f.write(os.urandom(size))
            await self.aws("s3", "cp", os.path.join(work, name), f"s3://cli-bucket/{name}")
            await self.aws("s3", "cp", f"s3://cli-bucket/{name}", os.path.join(work, name + ".back"))
            with open(os.path.join(work, name), "rb") as a, \
                    open(os.path.join(work, name + ".back"), "rb") as b:
                self.assertEqual(hashlib.sha256(a.read()).digest(),
                                 hashlib.sha256(b.read()).digest(), name)
        listing = (await self.aws("s3", "ls", "s3://cli-bucket/"))[0]
        for name, size in sizes.items():
            self.assertIn(f"{size} {name}", " ".join(listing.split()))
        await self.aws("s3", "rm", "--recursive", "s3://cli-bucket/")
        await self.aws("s3", "rb", "s3://cli-bucket")
        buckets = (await self.aws("s3", "ls"))[0]
        self.assertNotIn("cli-bucket", buckets)

    async def test_kill_9_keeps_acknowledged_hides_interrupted(self):
        """After kill -9 during an upload, every acknowledged object is served and
        the interrupted upload is invisible."""
        await self.boot()
        s3 = self.s3()
        bodies = {f"ok-{i}": os.urandom(size) for i, size in
                  enumerate((100, 5000, 3 * 1024 * 1024 + 7))}
        for key, body in bodies.items():
            await threads.deferToThread(s3.put_object, Bucket="system", Key=key, Body=body)
        # Start an upload that never finishes: headers and half its body.
        port = self.node.info()["s3_port"]
        sock = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(sock.close)
        from tests.support import signer

        url = f"http://127.0.0.1:{port}/system/interrupted"
        headers, *_ = signer.sign("PUT", url, self.key_id, self.secret, "garage",
                                  "UNSIGNED-PAYLOAD", {"content-length": str(8 * 1024 * 1024)})
        request = "PUT /system/interrupted HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(request.encode() + os.urandom(3 * 1024 * 1024))
        await self.node.kill("KILL")
        self.node = await self.start_node(self.config)
        s3 = self.s3()
        for key, body in bodies.items():
            got = await threads.deferToThread(s3.get_object, Bucket="system", Key=key)
            data = await threads.deferToThread(got["Body"].read)
            self.assertEqual(hashlib.sha256(data).digest(), hashlib.sha256(body).digest(), key)
        listed = await threads.deferToThread(s3.list_objects_v2, Bucket="system")
        self.assertEqual(sorted(o["Key"] for o in listed["Contents"]), sorted(bodies))


class CliErrorTests(TestCase):
    timeout = 60

    async def test_unreachable_node(self):
        """The CLI says in one line that the node's admin API cannot be reached."""
        out, err, code = await run(tool("garage"), "--admin-url", "http://127.0.0.1:9",
                                   "--admin-token", "x", "status", check=False)
        self.assertEqual(code, 1)
        self.assertIn("cannot reach the node's admin API at http://127.0.0.1:9", err)
        self.assertEqual(len(err.strip().splitlines()), 1)

    async def test_missing_config(self):
        """node id with a missing configuration file is one line and exit 1."""
        out, err, code = await run(tool("garage"), "-c", "/nonexistent.toml", "node", "id",
                                   check=False)
        self.assertEqual(code, 1)
        self.assertIn("/nonexistent.toml not found", err)
