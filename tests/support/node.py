"""A real garage-twisted node inside the trial reactor, for integration tests.

Real LevelDB files under the test's temp dir, real sockets on 127.0.0.1
port 0, real thread pool. The node is stopped (and its database closed) in
the test's cleanup, so trial's dirty-reactor check stays strict.
"""

import os
import secrets

import boto3
from botocore.config import Config as BotoConfig
from twisted.internet import defer, reactor, threads

from garage_twisted.service.node import GarageNode
from garage_twisted.util.config import parse_config

CONFIG_TEMPLATE = """
metadata_dir = "{base}/meta"
data_dir = "{base}/data"
replication_factor = {replication_factor}
rpc_bind_addr = "{rpc_bind}"
rpc_secret = "{rpc_secret}"
block_size = {block_size}
{extra}

[s3_api]
api_bind_addr = "127.0.0.1:0"
s3_region = "garage"
{s3_extra}
{admin_section}"""


class NodeFixture:
    """A started node, its S3 endpoint, and an access key with a bucket.

    Use :meth:`start` from a test's ``setUp``.
    """

    def __init__(self, testcase, base: str, block_size: int, apply_layout: bool = True,
                 rpc_secret: str | None = None, extra: str = "",
                 rpc_bind: str = "127.0.0.1:0", replication_factor: int = 1,
                 s3_extra: str = ""):
        self.s3_extra = s3_extra
        self.apply_layout = apply_layout
        self.replication_factor = replication_factor
        self.rpc_secret = rpc_secret or secrets.token_hex(32)
        self.extra = extra
        self.rpc_bind = rpc_bind
        self.testcase = testcase
        self.base = base
        self.block_size = block_size
        self.admin_token = secrets.token_urlsafe(16)
        self.node = None
        self.key = None

    @classmethod
    async def start(cls, testcase, block_size: int = 1 << 20, base: str | None = None,
                    apply_layout: bool = True, rpc_secret: str | None = None,
                    extra: str = "", rpc_bind: str = "127.0.0.1:0",
                    replication_factor: int = 1, s3_extra: str = ""):
        """Start a node; ``extra`` is added to the top of its TOML configuration
        (``bootstrap_peers = [...]``), ``s3_extra`` to its ``[s3_api]``,
        ``rpc_secret`` shared by a cluster's nodes."""
        fixture = cls(testcase, base or os.path.abspath(testcase.mktemp()), block_size,
                      apply_layout, rpc_secret, extra, rpc_bind, replication_factor,
                      s3_extra)
        await fixture.boot()
        return fixture

    async def boot(self):
        text = CONFIG_TEMPLATE.format(
            base=self.base, rpc_secret=self.rpc_secret, extra=self.extra,
            rpc_bind=self.rpc_bind, replication_factor=self.replication_factor,
            admin_token=self.admin_token, block_size=self.block_size,
            admin_section=self.admin_section(), s3_extra=self.s3_extra)
        config = parse_config(text, base_dir=self.base, environ={})
        self.node = GarageNode(config, reactor)
        self.node.startService()
        self.testcase.addCleanup(self.stop)
        if self.apply_layout:
            from garage_twisted.rpc.layout import NodeRole

            self.node.layout.stage_role(self.node.node_key.node_id, NodeRole("dc1", 10 ** 10))
            self.node.layout.apply(1)

    def admin_section(self) -> str:
        try:
            import garage_twisted.api.admin.api  # noqa: F401
        except ImportError:
            return ""
        return ('\n[admin]\napi_bind_addr = "127.0.0.1:0"\n'
                f'admin_token = "{self.admin_token}"\n')

    async def stop(self):
        if self.node is not None and self.node.running:
            await self.node.stopService()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.node.s3_listener.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.node.admin_listener.port}"

    async def create_key(self, name="test", allow_create_bucket=True):
        helper = self.node.helper
        key = await helper.create_key(name)
        if allow_create_bucket:
            key = await helper.update_key(key, allow_create_bucket=True)
        return key

    async def create_bucket(self, name, key):
        await self.node.helper.create_bucket(name, owner=key)

    def boto3_client(self, key, **config):
        """A boto3 S3 client for ``key`` (call it from a thread: it blocks)."""
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="garage",
            aws_access_key_id=key.key_id, aws_secret_access_key=key.params.secret_key,
            config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                              **config),
        )


    @property
    def peer_address(self) -> str:
        """``<node id>@127.0.0.1:<rpc port>`` of this node."""
        return f"{self.node.node_key.node_id.hex()}@127.0.0.1:{self.node.rpc_listener.port}"


def in_thread(f, *args, **kwargs):
    """Run a blocking client call off the reactor thread (the node serves it)."""
    return threads.deferToThread(f, *args, **kwargs)


async def start_with_s3_client(testcase, block_size: int, bucket: str | None = None):
    """A started node, a key allowed to create buckets, and its boto3 client.

    :returns: ``(fixture, key, client)``; ``bucket`` is created if given.
    """
    fixture = await NodeFixture.start(testcase, block_size=block_size)
    key = await fixture.create_key()
    client = fixture.boto3_client(key)
    testcase.addCleanup(client.close)
    if bucket is not None:
        await in_thread(client.create_bucket, Bucket=bucket)
    return fixture, key, client

def wait_connected(network, node_id: bytes):
    """A Deferred firing once ``network`` is connected to ``node_id``."""
    if node_id in network.connections:
        return defer.succeed(None)
    done = defer.Deferred()

    def connected(peer):
        if peer == node_id and not done.called:
            network.on_connected.remove(connected)
            done.callback(None)

    network.on_connected.append(connected)
    return done


def wait_layout(node, predicate):
    """Fires once ``predicate(layout manager)`` holds on ``node``."""
    manager = node.layout
    if predicate(manager):
        return defer.succeed(None)
    done = defer.Deferred()

    def changed(_version):
        if not done.called and predicate(manager):
            manager.on_change.remove(changed)
            done.callback(None)

    manager.on_change.append(changed)
    return done


def wait_converged(nodes):
    """Fires once every node holds the same layout state (trackers included)."""
    done = defer.Deferred()

    def check(_version=None):
        if not done.called and len({n.layout.digest() for n in nodes}) == 1:
            for node in nodes:
                node.layout.on_change.remove(check)
            done.callback(None)

    for node in nodes:
        node.layout.on_change.append(check)
    check()
    return done


def _all_synced(manager, version: int) -> bool:
    trackers = manager.trackers()
    nodes = manager.state.storage_nodes()
    return all(trackers.sync_ack.get(n, 0) >= version for n in nodes)


async def wait_synced(nodes, version: int):
    """Fires once every node saw every storage node report ``version``
    synced (their sync workers moved the data), and the states converged."""
    for node in nodes:
        await wait_layout(node, lambda m: _all_synced(m, version))
    await wait_converged(nodes)
