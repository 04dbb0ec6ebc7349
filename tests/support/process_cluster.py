"""A cluster of real ``twistd garage`` processes on loopback, for system tests.

Every node binds port 0 and says its ports in ``node.json``; node 0 is the
bootstrap peer of the others. Readiness is read from the nodes themselves
(their ``ready:`` log line, then the admin API's cluster status and layout),
polled at short intervals with a deadline: never a fixed sleep.
"""

import json
import os
import secrets
import shutil
import time

import treq
from twisted.internet import reactor, task
from twisted.web.client import HTTPConnectionPool

from tests.support.process import NodeProcess, run, tool

GB = "1G"


class ProcessCluster:
    """``count`` nodes, replication factor 3, one zone each.

    :param base: directory holding one sub-directory per node.
    :param gateways: how many of the last nodes are assigned a gateway role
        (``layout assign -g``) instead of a capacity.
    :param web_root_domain: if given, every node serves websites
        (``[s3_web]``) under it.
    """

    def __init__(self, testcase, base: str, count: int = 3, block_size: int = 1 << 20,
                 gateways: int = 0, web_root_domain: str | None = None):
        self.testcase = testcase
        self.base = base
        self.count = count
        self.block_size = block_size
        self.gateways = gateways
        self.web_root_domain = web_root_domain
        self.secret = secrets.token_hex(32)
        self.admin_token = secrets.token_urlsafe(16)
        self.processes: dict[int, NodeProcess] = {}
        self.key_id = self.key_secret = None
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        testcase.addCleanup(self.pool.closeCachedConnections)
        testcase.addCleanup(self.stop_all)

    # -- files -----------------------------------------------------------

    def directory(self, i: int) -> str:
        return os.path.join(self.base, f"node{i}")

    def config(self, i: int) -> str:
        return os.path.join(self.directory(i), "garage.toml")

    def _write_config(self, i: int, bootstrap: str | None) -> None:
        d = self.directory(i)
        os.makedirs(d, exist_ok=True)
        peers = f'bootstrap_peers = ["{bootstrap}"]' if bootstrap else ""
        web = "" if self.web_root_domain is None else (
            f'[s3_web]\nbind_addr = "127.0.0.1:0"\nroot_domain = "{self.web_root_domain}"\n')
        with open(self.config(i), "w") as f:
            f.write(f"""metadata_dir = "{d}/meta"
data_dir = "{d}/data"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:0"
rpc_secret = "{self.secret}"
block_size = {self.block_size}
{peers}

[s3_api]
api_bind_addr = "127.0.0.1:0"
s3_region = "garage"

[admin]
api_bind_addr = "127.0.0.1:0"
admin_token = "{self.admin_token}"
{web}""")

    def info(self, i: int) -> dict:
        with open(os.path.join(self.directory(i), "meta", "node.json")) as f:
            return json.load(f)

    def wipe(self, i: int) -> None:
        """Delete node ``i``'s metadata and data directories."""
        shutil.rmtree(os.path.join(self.directory(i), "meta"))
        shutil.rmtree(os.path.join(self.directory(i), "data"))

    def block_files(self, i: int) -> set:
        found = set()
        for _, _, files in os.walk(os.path.join(self.directory(i), "data")):
            found.update(f.split(".")[0] for f in files
                         if len(f.split(".")[0]) == 64 and not f.endswith((".tmp", ".corrupted")))
        return found

    # -- processes -------------------------------------------------------

    async def start(self) -> None:
        """Start every node, connect them, apply layout version 1, create a
        key and a bucket ``test``."""
        self._write_config(0, None)
        await self.spawn(0)
        for i in range(1, self.count):
            await self.add_node(i)
        await self.wait_connected(range(self.count))
        for i in range(self.count):
            role = ("-g",) if i >= self.count - self.gateways else ("-c", GB)
            await self.garage(0, "layout", "assign", "-z", f"z{i}", *role,
                              self.info(i)["node_id"])
        await self.garage(0, "layout", "apply", "--version", "1")
        await self.wait(lambda: self._all_on_version(range(self.count), 1),
                        "layout version 1 on every node")
        out = await self.garage(0, "key", "create", "system-test")
        fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        self.key_id, self.key_secret = fields["Key ID"], fields["Secret key"]
        await self.garage(0, "bucket", "create", "test")
        await self.garage(0, "bucket", "allow", "--read", "--write", "--owner", "test",
                          "--key", self.key_id)

    async def add_node(self, i: int) -> None:
        """Write node ``i``'s configuration (bootstrap: node 0) and start it."""
        first = self.info(0)
        self._write_config(i, f"{first['node_id']}@127.0.0.1:{first['rpc_port']}")
        await self.spawn(i)

    async def spawn(self, i: int) -> NodeProcess:
        process = NodeProcess.spawn(self.config(i))
        self.processes[i] = process
        await process.ready
        return process

    def dump_logs(self) -> None:
        for i, process in self.processes.items():
            with open(os.path.join(self.directory(i), "output.log"), "wb") as f:
                f.write(b"".join(process.output))

    async def kill(self, i: int, signal: str = "KILL") -> None:
        await self.processes.pop(i).kill(signal)

    async def stop_all(self) -> None:
        for i in list(self.processes):
            await self.kill(i, "TERM")

    # -- admin -----------------------------------------------------------

    async def garage(self, i: int, *args: str) -> str:
        out, _, _ = await run(tool("garage"), "-c", self.config(i), *args)
        return out

    async def admin(self, i: int, name: str, query=None, body=None):
        url = f"http://127.0.0.1:{self.info(i)['admin_port']}/v2/{name}"
        headers = {b"authorization": [f"Bearer {self.admin_token}".encode()]}
        method = "GET" if body is None else "POST"
        response = await treq.request(method, url, params=query, headers=headers,
                                      data=None if body is None else json.dumps(body).encode(),
                                      pool=self.pool)
        return json.loads(await treq.content(response))

    async def wait(self, predicate, what: str, timeout: float = 120.0, every: float = 0.2):
        """Poll ``predicate`` (async or not) until true, or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if hasattr(result, "__await__"):
                result = await result
            if result:
                return
            if time.monotonic() > deadline:
                self.dump_logs()
                self.testcase.fail(f"timed out waiting for {what() if callable(what) else what}")
            await task.deferLater(reactor, every, lambda: None)

    async def _connected(self, nodes) -> bool:
        ids = {self.info(i)["node_id"] for i in nodes}
        for i in nodes:
            status = await self.admin(i, "GetClusterStatus")
            up = {n["id"] for n in status["nodes"] if n["isUp"]}
            if not ids <= up:
                return False
        return True

    def wait_connected(self, nodes):
        nodes = list(nodes)
        return self.wait(lambda: self._connected(nodes), f"nodes {nodes} connected")

    async def _all_on_version(self, nodes, version: int) -> bool:
        for i in nodes:
            layout = await self.admin(i, "GetClusterLayout")
            if layout["version"] != version:
                return False
        return True

    async def history(self, i: int) -> dict:
        return await self.admin(i, "GetClusterLayoutHistory")

    async def table_items(self, i: int) -> dict:
        """``{table name: local rows}`` from ``GetNodeStatistics``."""
        result = await self.admin(i, "GetNodeStatistics", {"node": "self"})
        (stats,) = result["success"].values()
        items = {}
        for line in stats["freeform"].splitlines():
            parts = line.split()
            if line.startswith("  ") and len(parts) == 5 and parts[1].isdigit():
                items[parts[0]] = int(parts[1])
        return items

    # -- S3 --------------------------------------------------------------

    def s3(self, i: int, **config):
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.info(i)['s3_port']}",
            aws_access_key_id=self.key_id, aws_secret_access_key=self.key_secret,
            region_name="garage",
            config=Config(s3={"addressing_style": "path"}, **config))
        self.testcase.addCleanup(client.close)
        return client
