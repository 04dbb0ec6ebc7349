"""A metadata or data disk fills, then frees: no acknowledged write is lost.

Issue 22, defect 2: with ``metadata_dir`` on a 50 MB file system, 20 keys
written, the disk filled (PUTs refused), space freed and 30 new keys and 20
overwrites acknowledged, a restart (SIGTERM or kill -9) used to bring back
the old values or nothing: LevelDB had appended after a torn record of its
write log and dropped the rest at recovery. Real ``twistd`` processes on a
real (tmpfs) file system mounted by the test; boto3 as the client.
"""

import hashlib
import json
import os
import time

from botocore.config import Config
from botocore.exceptions import ClientError
from twisted.internet import reactor, task
from twisted.trial.unittest import TestCase

from tests.support.node import in_thread
from tests.support.process import NodeProcess, setup_key_and_bucket, write_config
from tests.support.process_cluster import ProcessCluster
from tests.support.small_disk import fill, mount_small_tmpfs

BUCKET = "test"
SMALL = 2_000  # stored inline in the metadata
LARGE = 500_000  # stored as a block in data_dir


def _digest(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


class Ledger:
    """What the cluster acknowledged (key -> digest), and its checks."""

    def __init__(self, testcase):
        self.testcase = testcase
        self.acked: dict[str, bytes] = {}
        self.refused: list[int] = []
        self.messages: list[str] = []

    async def put(self, client, key: str, size: int) -> bool:
        body = os.urandom(size)
        try:
            await in_thread(client.put_object, Bucket=BUCKET, Key=key, Body=body)
        except ClientError as e:
            self.refused.append(e.response["ResponseMetadata"]["HTTPStatusCode"])
            self.messages.append(e.response["Error"].get("Message", ""))
            self.acked.pop(key, None)  # its old value may or may not remain
            return False
        self.acked[key] = _digest(body)
        return True

    async def put_all(self, client, keys, size: int) -> None:
        for key in keys:
            self.testcase.assertTrue(await self.put(client, key, size), key)

    async def put_until_accepted(self, client, key: str, size: int, timeout=60.0) -> float:
        """Retry until a PUT is acknowledged (the store heals by itself)."""
        start = time.monotonic()
        while not await self.put(client, key, size):
            if time.monotonic() - start > timeout:
                self.testcase.fail(f"writes still refused {timeout} s after space returned")
            await task.deferLater(reactor, 0.2, lambda: None)
        return time.monotonic() - start

    def report(self, scenario: str, lost: list) -> None:
        """Append this round's figures to $GARAGE_DISK_FULL_REPORT, if set
        (``scripts/disk-full`` runs rounds and sums them)."""
        path = os.environ.get("GARAGE_DISK_FULL_REPORT")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps({"scenario": scenario, "acked": len(self.acked),
                                    "refused": len(self.refused), "lost": len(lost)}) + "\n")

    async def lost(self, client) -> list:
        lost = []
        for key, digest in sorted(self.acked.items()):
            try:
                got = await in_thread(client.get_object, Bucket=BUCKET, Key=key)
                body = await in_thread(got["Body"].read)
            except ClientError as e:
                lost.append((key, e.response["Error"]["Code"]))
                continue
            if _digest(body) != digest:
                lost.append((key, "older value"))
        return lost


def _client(port: int, key_id: str, secret: str):
    import boto3

    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}",
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        region_name="garage",
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


class SingleNodeDiskFullTests(TestCase):
    """One node (replication factor 1): nothing can hide a local loss."""

    timeout = 180

    async def _start(self, which: str):
        base = os.path.abspath(self.mktemp())
        disk = mount_small_tmpfs(self, os.path.join(base, which))
        self.config = write_config(base)
        self.node = NodeProcess.spawn(self.config)
        self.addCleanup(lambda: self.node.kill("TERM"))
        await self.node.ready
        key_id, secret = await setup_key_and_bucket(self.config, BUCKET)
        self.credentials = key_id, secret
        return disk

    def _s3(self):
        client = _client(self.node.info()["s3_port"], *self.credentials)
        self.addCleanup(client.close)
        return client

    async def _restart(self, signal: str):
        os.unlink(os.path.join(os.path.dirname(self.config), "meta", "node.json"))
        await self.node.kill(signal)
        self.node = NodeProcess.spawn(self.config)
        await self.node.ready

    async def _scenario(self, which: str, size: int, signal: str):
        disk = await self._start(which)
        client = self._s3()
        ledger = Ledger(self)
        await ledger.put_all(client, [f"before/{i}" for i in range(20)], size)
        filler = await in_thread(fill, disk)
        for i in range(10):
            await ledger.put(client, f"full/{i}", size)
        self.assertTrue(ledger.refused, "no PUT was refused on a full disk")
        self.assertEqual(set(ledger.refused), {503}, ledger.refused)
        # The cause (with the node's paths) is logged, not told to clients.
        self.assertFalse([m for m in ledger.messages if disk in m], ledger.messages)
        os.unlink(filler)
        await ledger.put_until_accepted(client, "probe", size)
        await ledger.put_all(client, [f"after/{i}" for i in range(30)], size)
        await ledger.put_all(client, [f"before/{i}" for i in range(20)], size)  # overwrites
        await self._restart(signal)
        client = self._s3()
        lost = await ledger.lost(client)
        ledger.report(f"1 node, {which} disk, {signal}", lost)
        self.assertEqual(lost, [])
        # A refused upload left no half-written object: absent or whole.
        for i in range(10):
            try:
                got = await in_thread(client.get_object, Bucket=BUCKET, Key=f"full/{i}")
                body = await in_thread(got["Body"].read)
                self.assertEqual(len(body), size)
            except ClientError as e:
                self.assertEqual(e.response["Error"]["Code"], "NoSuchKey")

    async def test_metadata_disk_full_then_sigterm(self):
        """Metadata disk full then freed, SIGTERM restart: nothing acknowledged lost."""
        await self._scenario("meta", SMALL, "TERM")

    async def test_metadata_disk_full_then_kill(self):
        """Metadata disk full then freed, kill -9 restart: nothing acknowledged lost."""
        await self._scenario("meta", SMALL, "KILL")

    async def test_data_disk_full_then_kill(self):
        """Data disk full: block writes answer 503, leave nothing behind, and
        resume by themselves once space returns."""
        await self._scenario("data", LARGE, "KILL")


class ClusterDiskFullTests(TestCase):
    """Three nodes, RF 3: one node's metadata disk fills and frees."""

    timeout = 300

    async def _scenario(self, signal: str):
        base = os.path.abspath(self.mktemp())
        disk = mount_small_tmpfs(self, os.path.join(base, "node0", "meta"))
        cluster = ProcessCluster(self, base, 3)
        await cluster.start()
        clients = [cluster.s3(i, retries={"max_attempts": 1}) for i in range(3)]
        ledger = Ledger(self)
        await ledger.put_all(clients[0], [f"before/{i}" for i in range(20)], SMALL)
        filler = await in_thread(fill, disk)
        # The other two nodes make the quorum: writes through any node go on.
        await ledger.put_all(clients[1], [f"full/{i}" for i in range(10)], SMALL)
        for i in range(10):
            await ledger.put(clients[0], f"full0/{i}", SMALL)
        os.unlink(filler)
        # Node 0 heals by itself (its log says so); then it takes writes again.
        await cluster.wait(lambda: b"writable again" in b"".join(cluster.processes[0].output),
                           "node 0's metadata store writable again", timeout=60)
        await ledger.put_all(clients[2], [f"after/{i}" for i in range(30)], SMALL)
        await ledger.put_all(clients[0], [f"before/{i}" for i in range(20)], SMALL)
        # Node 0 restarts alone: what it holds is what it kept of its own
        # acknowledgements (no peer can fill a gap yet). It took every
        # write before the disk filled and after it healed: 50 keys.
        await cluster.kill(1, "TERM")
        await cluster.kill(2, "TERM")
        await cluster.kill(0, signal)
        await cluster.spawn(0)
        self.assertGreaterEqual((await cluster.table_items(0))["object"], 50)
        for i in (1, 2):
            # Every node has a new port: node 0 is told where the others are.
            await cluster.spawn(i)
            info = cluster.info(i)
            await cluster.garage(0, "node", "connect",
                                 f"{info['node_id']}@127.0.0.1:{info['rpc_port']}")
        await cluster.wait_connected(range(3))
        client = cluster.s3(0, retries={"max_attempts": 1})
        lost = await ledger.lost(client)
        # Node 0 and node 2 alone must still hold every write.
        await cluster.kill(1, "TERM")
        lost += await ledger.lost(client)
        ledger.report(f"3 nodes RF3, node 0's metadata disk, {signal}", lost)
        self.assertEqual(lost, [])

    async def test_one_metadata_disk_full_then_kill(self):
        """One replica's metadata disk fills and frees, kill -9: nothing lost."""
        await self._scenario("KILL")

    async def test_one_metadata_disk_full_then_sigterm(self):
        """One replica's metadata disk fills and frees, SIGTERM: nothing lost."""
        await self._scenario("TERM")
