"""S3 on a 3-node cluster (replication factor 3) in one reactor, with boto3."""

import hashlib
import os

import treq
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from garage_twisted.table.data import row_key
from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import in_thread


def _stored_files(data_dir: str) -> tuple[list, list]:
    """Block files under ``data_dir``: (compressed ones, plain ones)."""
    from garage_twisted.block.store import COMPRESSED_SUFFIX

    compressed, plain = [], []
    for directory, _, names in os.walk(data_dir):
        for name in names:
            if len(name.split(".")[0]) == 64:
                (compressed if name.endswith(COMPRESSED_SUFFIX) else plain).append(
                    os.path.join(directory, name))
    return compressed, plain


class S3ClusterTests(TestCase):
    timeout = 120
    _cluster = start_cluster

    async def test_put_on_one_node_get_and_list_on_the_others(self):
        fixtures, (a, b, c) = await self._cluster()
        key = await fixtures[0].create_key()
        clients = boto3_clients(self, fixtures, key)
        await in_thread(clients[0].create_bucket, Bucket="shared")
        small, big = b"hello cluster", os.urandom(3 * 1024 * 1024 + 5)
        await in_thread(clients[0].put_object, Bucket="shared", Key="small.txt", Body=small)
        await in_thread(clients[1].put_object, Bucket="shared", Key="big.bin", Body=big)
        for client in clients:
            got = await in_thread(client.get_object, Bucket="shared", Key="big.bin")
            body = await in_thread(got["Body"].read)
            self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(big).digest())
            got = await in_thread(client.get_object, Bucket="shared", Key="small.txt")
            self.assertEqual(await in_thread(got["Body"].read), small)
            listed = await in_thread(client.list_objects_v2, Bucket="shared")
            self.assertEqual([o["Key"] for o in listed["Contents"]], ["big.bin", "small.txt"])
        # A small object goes to each replica in one message.
        await in_thread(clients[0].put_object, Bucket="shared", Key="small-block",
                        Body=b"s" * 5000)
        # The RPC calls, table requests and block bytes behind it are in /metrics.
        pool = HTTPConnectionPool(reactor, persistent=False)
        response = await treq.get(f"{fixtures[0].admin_url}/metrics", pool=pool)
        metrics = dict(line.rsplit(" ", 1) for line in
                       (await treq.content(response)).decode().splitlines()
                       if line and not line.startswith("#"))
        self.assertGreater(
            float(metrics['rpc_request_counter{rpc_endpoint="object/put_small"}']), 0)
        self.assertGreater(
            float(metrics['rpc_request_counter{rpc_endpoint="table/object/update_read"}']), 0)
        self.assertGreater(
            float(metrics['rpc_served_counter{rpc_endpoint="table/object/update_read"}']), 0)
        self.assertGreater(
            float(metrics['rpc_served_counter{rpc_endpoint="block/put"}']), 0)
        self.assertGreater(float(metrics[
            'rpc_duration_seconds_count{rpc_endpoint="table/object/update_read"}']), 0)
        self.assertGreater(float(metrics['table_put_request_counter{table_name="object"}']), 0)
        self.assertGreaterEqual(float(metrics["block_bytes_written"]), len(big))
        self.assertEqual(float(metrics["cluster_storage_nodes_ok"]), 3)
        # With one node stopped, the others still write and read.
        await fixtures[2].stop()
        await in_thread(clients[0].put_object, Bucket="shared", Key="later", Body=b"x")
        got = await in_thread(clients[1].get_object, Bucket="shared", Key="later")
        self.assertEqual(await in_thread(got["Body"].read), b"x")
        # With two stopped, a small upload fails (503) and leaves nothing
        # visible on the node that took it: its version is aborted, its rows
        # released (the one-message path stored them before sending).
        await fixtures[1].stop()
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as caught:
            await in_thread(clients[0].put_object, Bucket="shared", Key="failed",
                            Body=b"f" * 5000)
        self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"], 503)
        bucket_id = await a.helper.resolve_global_alias("shared")
        entry = a.model.object_table.data.read_entry(bucket_id, b"failed")
        self.assertIsNone(entry.last_data_version() if entry is not None else None)
        table = a.model.version_table
        versions = [table.schema.decode_entry(raw) for _, raw in table.data.rows.range()]
        versions = [v for v in versions if v.key == "failed"]
        self.assertTrue(versions)  # one per attempt: the SDK retries 503s
        self.assertTrue(all(v.deleted.value for v in versions))

    async def test_a_large_block_is_compressed_once_and_sent_in_its_stored_form(self):
        """The node that takes the upload compresses; the others store what
        they receive. They are set to never compress, so a compressed file
        on them can only be the form that node sent."""
        fixtures, nodes = await start_cluster(
            self, extras=("", 'compression_level = "none"', 'compression_level = "none"'))
        key = await fixtures[0].create_key()
        clients = boto3_clients(self, fixtures, key)
        await in_thread(clients[0].create_bucket, Bucket="packed")
        text = b"".join(b"line %d of a log file that compresses well\n" % i
                        for i in range(60000))
        noise = os.urandom(2 * 1024 * 1024)
        await in_thread(clients[0].put_object, Bucket="packed", Key="log", Body=text)
        await in_thread(clients[0].put_object, Bucket="packed", Key="noise", Body=noise)
        for node in nodes:
            compressed, plain = _stored_files(node.block_manager.store.data_dir)
            # The log's blocks compressed, the random blocks stored plain.
            self.assertEqual(len(compressed), -(-len(text) // (1 << 20)), node)
            self.assertEqual(len(plain), 2, node)
        # Each node serves both objects whole (a replica alone, too).
        await fixtures[0].stop()
        for client in clients[1:]:
            for name, body in (("log", text), ("noise", noise)):
                got = await in_thread(client.get_object, Bucket="packed", Key=name)
                self.assertEqual(await in_thread(got["Body"].read), body)

    async def test_a_node_whose_clock_is_behind_still_overwrites(self):
        """Read-after-write with skewed clocks: a PUT through a node 30 s
        behind, after a PUT through another node, is the one read back
        (inline and block-backed bodies), and leaves one version."""
        from twisted.internet import reactor

        fixtures, (a, b, c) = await self._cluster()
        b.s3_api.clock = _SkewedClock(reactor, -30.0)
        key = await fixtures[0].create_key()
        clients = boto3_clients(self, fixtures, key)
        await in_thread(clients[0].create_bucket, Bucket="skew")
        bucket_id = await a.helper.resolve_global_alias("skew")
        for name, size in (("inline", 100), ("blocks", 5000)):
            await in_thread(clients[0].put_object, Bucket="skew", Key=name,
                            Body=b"a" * size)
            # As if b had been outside the first write's quorum: it knows
            # nothing of the key until its own write's replies. (The write
            # returned at two nodes: b's copy may still be on its way.)
            data = b.model.object_table.data
            raw = await _row_arrived(reactor, data, bucket_id, name.encode())
            self.assertTrue(data.delete_if_equal(row_key(bucket_id, name.encode()), raw))
            await in_thread(clients[1].put_object, Bucket="skew", Key=name,
                            Body=b"b" * size)
            for client in clients:
                got = await in_thread(client.get_object, Bucket="skew", Key=name)
                self.assertEqual(await in_thread(got["Body"].read), b"b" * size, name)
        for node in (a, b, c):
            entries = node.model.object_table.data.read_range(bucket_id, None, None, 10)
            self.assertEqual(len(entries), 2)
            for entry in entries:
                self.assertEqual([v.is_complete for v in entry.versions], [True])


async def _row_arrived(reactor, data, partition: bytes, sort_key: bytes) -> bytes:
    """The row's bytes once this node has it (a reactor turn at a time)."""
    from twisted.internet import task

    for _ in range(10_000):
        raw = data.read_raw(partition, sort_key)
        if raw is not None:
            return raw
        await task.deferLater(reactor, 0, lambda: None)
    raise AssertionError("the row never arrived")


class _SkewedClock:
    """A reactor's clock, ``offset`` seconds off (a node with a wrong clock)."""

    def __init__(self, reactor, offset: float):
        self.reactor = reactor
        self.offset = offset

    def seconds(self) -> float:
        return self.reactor.seconds() + self.offset

    def callLater(self, delay, f, *args, **kwargs):
        return self.reactor.callLater(delay, f, *args, **kwargs)
