"""Secrets a local user must not read (issue 22, defect 5), against real ``twistd garage``.

- Started with umask 022 (as README "By hand" shows), the metadata
  database (every S3 secret key), the node's key and the blocks were
  readable by every local user.
- A failed presigned GET was logged with its whole query string: the URL,
  copied from the log, fetched the object once it existed.
- ``--join 'garage-invite:...'`` kept the cluster secret in the process's
  argv, which every local user reads in ``/proc/<pid>/cmdline``.
"""

import os
import re
import stat
from urllib.parse import parse_qs, urlsplit

import boto3
import treq
from botocore.config import Config as BotoConfig
from twisted.internet import reactor, threads
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support.process import run, setup_key_and_bucket, tool, write_config
from tests.support.watched import WatchedNode

STATUS_ROUNDS = 200


def _without_rpc_secret(config: str) -> None:
    with open(config) as f:
        text = "".join(line for line in f if not line.startswith("rpc_secret"))
    with open(config, "w") as f:
        f.write(text)


class NodeFixture:
    """Starts watched nodes for a test and stops them at its end."""

    def __init__(self, test: TestCase):
        self.test = test

    async def start(self, config: str, *options: str, stdin: bytes | None = None):
        node = WatchedNode.spawn(config, *options)
        self.test.addCleanup(node.kill, "TERM")
        if stdin is not None:
            node.transport.write(stdin)
            node.transport.closeStdin()
        await node.ready
        return node


class FilesPrivateTests(TestCase):
    timeout = 120

    async def test_files_private_under_umask_022(self):
        """Started with umask 022, nothing in metadata_dir or data_dir (LevelDB
        files, node key, blocks) is open to group or others, nor are the
        directories themselves."""
        base = os.path.abspath(self.mktemp())
        config = write_config(base)
        old = os.umask(0o022)
        try:
            node = await NodeFixture(self).start(config)
        finally:
            os.umask(old)
        key_id, secret = await setup_key_and_bucket(config, "private")
        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{node.info()['s3_port']}",
            region_name="garage", aws_access_key_id=key_id, aws_secret_access_key=secret,
            config=BotoConfig(retries={"max_attempts": 1}))
        self.addCleanup(client.close)
        await threads.deferToThread(client.put_object, Bucket="private", Key="k",
                                    Body=os.urandom(100_000))

        meta, data = os.path.join(base, "meta"), os.path.join(base, "data")
        self.assertTrue(os.path.isdir(os.path.join(meta, "db.leveldb")))
        open_to_others = []
        count = 0
        for top in (meta, data):
            for directory, dirs, files in os.walk(top):
                for path in [directory] + [os.path.join(directory, f) for f in files]:
                    count += 1
                    mode = stat.S_IMODE(os.stat(path).st_mode)
                    if mode & 0o077:
                        open_to_others.append(f"{path} {mode:o}")
        self.assertGreater(count, 10)
        self.assertEqual(open_to_others, [])


class LogRedactionTests(TestCase):
    timeout = 120

    async def test_failed_presigned_get_log_holds_no_signature(self):
        """A presigned GET that fails (no such key; a tampered signature) is
        logged, with neither its signature nor its credential in the line."""
        base = os.path.abspath(self.mktemp())
        config = write_config(base)
        node = await NodeFixture(self).start(config)
        key_id, secret = await setup_key_and_bucket(config, "logged")
        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{node.info()['s3_port']}",
            region_name="garage", aws_access_key_id=key_id, aws_secret_access_key=secret)
        self.addCleanup(client.close)
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": "logged", "Key": "later.txt"}, ExpiresIn=3600)
        query = parse_qs(urlsplit(url).query)
        signature = query["X-Amz-Signature"][0]
        credential = query["X-Amz-Credential"][0]
        tampered = url.replace(signature, "0" * 64)
        self.assertNotEqual(url, tampered)

        pool = HTTPConnectionPool(reactor, persistent=False)
        for target, code in ((url, "NoSuchKey"), (tampered, "SignatureDoesNotMatch")):
            response = await treq.get(target, pool=pool)
            body = (await treq.content(response)).decode()
            self.assertIn(f"<Code>{code}</Code>", body)
            request_id = re.search(r"<RequestId>([^<]+)</RequestId>", body).group(1)
            # The node logs the failure before it answers; the line reaches
            # this process's pipe a moment later.
            await node.when_output(f"(request {request_id})".encode())
            lines = [line for line in node.text().splitlines() if request_id in line]
            self.assertTrue(any("/logged/later.txt" in line and code in line
                                for line in lines), lines)
        log = node.text()
        # The credential as sent (percent-encoded) and as decoded.
        for secret_value in (signature, credential, credential.replace("/", "%2F")):
            self.assertNotIn(secret_value, log)


class JoinSecretTests(TestCase):
    timeout = 180

    async def test_join_from_stdin_and_file_keep_secret_out_of_argv(self):
        """``--join -`` (the invitation on standard input) and ``--join-file``
        both join the cluster, and neither process's argv holds the secret."""
        fixture = NodeFixture(self)
        config_a = write_config(os.path.abspath(os.path.join(self.mktemp(), "a")))
        node_a = await fixture.start(config_a)
        invitation = (await run(tool("garage"), "-c", config_a, "node", "invite"))[0].strip()
        cluster_secret = invitation.split(":")[2]
        self.assertEqual(len(cluster_secret), 64)
        a_id = node_a.info()["node_id"]

        config_b = write_config(os.path.abspath(os.path.join(self.mktemp(), "b")))
        _without_rpc_secret(config_b)
        node_b = await fixture.start(config_b, "--join", "-",
                                     stdin=invitation.encode() + b"\n")

        base_c = os.path.abspath(os.path.join(self.mktemp(), "c"))
        config_c = write_config(base_c)
        _without_rpc_secret(config_c)
        invitation_file = os.path.join(base_c, "invitation")
        with open(invitation_file, "w") as f:
            f.write(invitation + "\n")
        node_c = await fixture.start(config_c, "--join-file", invitation_file)

        for node, config in ((node_b, config_b), (node_c, config_c)):
            with open(f"/proc/{node.transport.pid}/cmdline", "rb") as f:
                argv = f.read()
            self.assertIn(b"garage", argv)
            self.assertNotIn(cluster_secret.encode(), argv.lower())
            await self._wait_up(config, a_id)

    async def test_unreadable_join_file_is_one_line(self):
        """A --join-file that cannot be read stops the node with one line."""
        config = write_config(os.path.abspath(self.mktemp()))
        _without_rpc_secret(config)
        node = WatchedNode.spawn(config, "--join-file", "/nonexistent/invitation")
        with self.assertRaises(RuntimeError):
            await node.ready
        await node.ended
        self.assertEqual(node.exit_code, 1)
        self.assertIn("garage: cannot read the invitation file /nonexistent/invitation: "
                      "No such file or directory", node.text())
        self.assertNotIn("Traceback", node.text())

    async def _wait_up(self, config, node_id):
        """Until `garage status` on ``config``'s node shows ``node_id`` up
        (each status call is a round trip to the node, not a sleep)."""
        for _ in range(STATUS_ROUNDS):
            out, _, _ = await run(tool("garage"), "-c", config, "status")
            if any(line.startswith(node_id[:16]) and " up" in line
                   for line in out.splitlines()):
                return
        self.fail(f"{node_id[:16]} never up:\n{out}")
