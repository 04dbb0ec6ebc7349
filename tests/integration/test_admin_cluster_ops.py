"""Node-scoped admin operations across a loopback cluster, and the
maintenance operations: workers and their variables, repairs, metadata
snapshots, cluster statistics, CheckDomain and CORS preflight."""

import io
import json
import os

import treq
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool
from zope.interface.verify import verifyObject

from garage_twisted.cli.client import CliError
from garage_twisted.cli.main import _TreqWithPool, build_parser, run_command
from garage_twisted.db.leveldb import LevelDBStore
from garage_twisted.db.snapshot import KEEP
from garage_twisted.net.errors import RemoteError
from garage_twisted.util.worker import IWorker
from tests.support.cluster import start_cluster
from tests.support.node import NodeFixture


class AdminClient:
    """The admin API of one node, over real HTTP."""

    def __init__(self, testcase, fixture):
        self.fixture = fixture
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        testcase.addCleanup(self.pool.closeCachedConnections)

    async def raw(self, method, path, query=None, body=None, token=True):
        headers = {}
        if token:
            headers[b"authorization"] = [f"Bearer {self.fixture.admin_token}".encode()]
        response = await treq.request(
            method, f"{self.fixture.admin_url}{path}", params=query, headers=headers,
            data=None if body is None else json.dumps(body).encode(), pool=self.pool)
        return response, await treq.content(response)

    async def call(self, name, query=None, body=None):
        method = "POST" if body is not None else "GET"
        response, content = await self.raw(method, f"/v2/{name}", query, body)
        return response.code, (json.loads(content) if content.strip() else None)


class ClusterNodeOperationsTests(TestCase):
    """``?node=`` reaches every node through the one node asked."""

    timeout = 120

    async def setUp(self):
        self.fixtures, self.nodes = await start_cluster(self)
        self.admin = AdminClient(self, self.fixtures[0])
        self.ids = [n.node_key.node_id.hex() for n in self.nodes]

    async def test_every_node_answers(self):
        """``node=*`` gathers every node's own answer; a prefix names one
        node; ``self`` is the node asked."""
        code, result = await self.admin.call("GetNodeInfo", {"node": "*"})
        self.assertEqual((code, result["error"]), (200, {}))
        self.assertEqual(sorted(result["success"]), sorted(self.ids))
        for node_id, info in result["success"].items():
            self.assertEqual(info["nodeId"], node_id)
        code, result = await self.admin.call("GetNodeStatistics", {"node": self.ids[2][:10]})
        self.assertEqual(list(result["success"]), [self.ids[2]])
        self.assertIn("Table stats:", result["success"][self.ids[2]]["freeform"])
        code, result = await self.admin.call("ListWorkers", {"node": "self"}, {})
        self.assertEqual(list(result["success"]), [self.ids[0]])

    async def test_every_nodes_metrics_through_one(self):
        """GetNodeMetrics (ours) with ``node=*``: each node's own /metrics
        text, as its RPC counters show (every node served RPCs of its own)."""
        code, result = await self.admin.call("GetNodeMetrics", {"node": "*"})
        self.assertEqual((code, result["error"]), (200, {}))
        self.assertEqual(sorted(result["success"]), sorted(self.ids))
        texts = [answer["metrics"] for answer in result["success"].values()]
        for text in texts:
            self.assertIn("# TYPE cluster_layout_version gauge", text)
            self.assertIn("rpc_served_counter", text)
        self.assertEqual(len(set(texts)), 3)

    async def test_node_selection_errors(self):
        """A node spec matching nothing, or several nodes, is a 400."""
        code, error = await self.admin.call("GetNodeInfo", {"node": "zz"})
        self.assertEqual((code, error["code"]), (400, "BadRequest"))
        self.assertIn("No nodes matching zz", error["message"])
        code, error = await self.admin.call("GetNodeInfo", {"node": ""})
        self.assertEqual(code, 400)

    async def test_a_down_node_is_an_error_entry(self):
        """A stopped node is in ``error``; the others still answer."""
        await self.fixtures[2].stop()
        code, result = await self.admin.call("GetNodeInfo", {"node": "*"})
        self.assertEqual(code, 200)
        self.assertEqual(sorted(result["success"]), sorted(self.ids[:2]))
        self.assertEqual(list(result["error"]), [self.ids[2]])

    async def test_worker_variables_on_another_node(self):
        """SetWorkerVariable changes the named node's worker, and only its."""
        code, result = await self.admin.call(
            "SetWorkerVariable", {"node": self.ids[1]},
            {"variable": "resync-tranquility", "value": "7"})
        self.assertEqual(result["success"], {self.ids[1]: {"variable": "resync-tranquility",
                                                           "value": "7"}})
        code, result = await self.admin.call("GetWorkerVariable", {"node": "*"},
                                             {"variable": "resync-tranquility"})
        values = {n: v["resync-tranquility"] for n, v in result["success"].items()}
        self.assertEqual(values, {self.ids[0]: "2", self.ids[1]: "7", self.ids[2]: "2"})
        self.assertEqual(self.nodes[1].workers.worker("block resync").tranquility, 7)

    async def test_peers_run_only_node_operations(self):
        """``admin/node_local`` refuses what is not a node operation."""
        network = self.nodes[0].network
        for message in (["DeleteBucket", {}], ["NoSuch", {}], "junk"):
            with self.assertRaises(RemoteError) as raised:
                await network.call(self.nodes[1].node_key.node_id, "admin/node_local",
                                   message, timeout=10)
            self.assertEqual(raised.exception.code, "BadRequest")
        reply = await network.call(self.nodes[1].node_key.node_id, "admin/node_local",
                                   ["GetNodeInfo", {}], timeout=10)
        self.assertEqual(reply.message["nodeId"], self.ids[1])

    async def test_cluster_statistics(self):
        """GetClusterStatistics lists each storage node with its partitions
        and free space, and estimates what the cluster can still store."""
        code, result = await self.admin.call("GetClusterStatistics")
        self.assertEqual(code, 200)
        text = result["freeform"]
        for node_id in self.ids:
            line = next(line for line in text.splitlines() if node_id[:16] in line)
            # Replication factor 3 on three nodes: every node holds every partition.
            self.assertIn(" 256 ", line)
            self.assertIn("%)", line)
        self.assertIn("Estimated available storage space cluster-wide", text)
        self.assertIn("  data: ", text)


class NodeMaintenanceTests(TestCase):
    """Workers, repairs and snapshots of one node."""

    timeout = 60

    async def setUp(self):
        self.fixture = await NodeFixture.start(self)
        self.node = self.fixture.node
        self.admin = AdminClient(self, self.fixture)
        self.own = self.node.node_key.node_id.hex()

    async def own_answer(self, name, body=None, query=None):
        code, result = await self.admin.call(name, dict(query or {}, node="self"), body)
        self.assertEqual(code, 200)
        return result

    async def test_worker_list_and_info(self):
        """ListWorkers has Garage's fields; GetWorkerInfo gives one by id;
        an unknown id is an error entry."""
        workers = (await self.own_answer("ListWorkers", {}))["success"][self.own]
        names = [w["name"] for w in workers]
        self.assertIn("block resync", names)
        resync = workers[names.index("block resync")]
        self.assertEqual(set(resync), {
            "id", "name", "state", "errors", "consecutiveErrors", "lastError", "tranquility",
            "progress", "queueLength", "persistentErrors", "freeform"})
        self.assertEqual(resync["tranquility"], 2)
        info = (await self.own_answer("GetWorkerInfo", {"id": resync["id"]}))["success"]
        self.assertEqual(info[self.own]["name"], "block resync")
        result = await self.own_answer("GetWorkerInfo", {"id": 10_000})
        self.assertIn("NoSuchWorker (404)", result["error"][self.own])
        busy = (await self.own_answer("ListWorkers", {"errorOnly": True}))["success"]
        self.assertEqual(busy[self.own], [])

    async def test_variables(self):
        """Garage's variables are listed; a setting is checked, applied and
        kept in the store; a read-only one refuses."""
        values = (await self.own_answer("GetWorkerVariable", {}))["success"][self.own]
        for name in ("resync-tranquility", "resync-worker-count", "scrub-tranquility",
                     "scrub-last-completed", "scrub-next-run", "scrub-corruptions_detected",
                     "lifecycle-last-completed"):
            self.assertIn(name, values)
        self.assertEqual((values["scrub-tranquility"], values["resync-worker-count"]),
                         ("4", "1"))
        result = await self.own_answer("SetWorkerVariable",
                                       {"variable": "resync-worker-count", "value": "3"})
        self.assertEqual(result["success"][self.own]["value"], "3")
        self.assertEqual(self.node.workers.worker("block resync").worker_count.value, 3)
        tree = self.node.kv_store.open_tree("block:resync_settings")
        self.assertEqual(tree.get(b"worker_count"), b"3")
        for variable, value, message in (
                ("resync-worker-count", "9", "between 1 and 8"),
                ("resync-tranquility", "fast", "not an integer"),
                ("scrub-last-completed", "x", "Cannot set value of scrub-last-completed"),
                ("no-such-variable", "1", "does not exist")):
            result = await self.own_answer("SetWorkerVariable",
                                           {"variable": variable, "value": value})
            self.assertIn(message, result["error"][self.own])
        self.assertEqual(self.node.workers.worker("block resync").worker_count.value, 3)

    async def test_scrub_commands(self):
        """Scrub commands reach the node's scrubber (their semantics are
        unit-tested): ``start`` is taken, ``resume`` of a scrub not paused
        and an unknown command are error entries."""
        async def scrub(command):
            return await self.own_answer("LaunchRepairOperation",
                                         {"repairType": {"scrub": command}})

        result = await scrub("resume")
        self.assertIn("Cannot resume scrub worker: not paused!", result["error"][self.own])
        # The node's first pass starts with the node; on a loaded machine
        # it may still be running: "start" is for a scrubber at rest.
        scrubber = self.node.workers.worker("block scrub")
        while scrubber.state.last_pass_end_ms == 0 or scrubber.scanning:
            await deferLater(reactor, 0.05, lambda: None)
        result = await scrub("start")
        self.assertEqual(result, {"success": {self.own: None}, "error": {}})
        code, error = await self.admin.call("LaunchRepairOperation", {"node": "self"},
                                            {"repairType": {"scrub": "faster"}})
        self.assertEqual((code, error["code"]), (400, "BadRequest"))

    async def test_repairs(self):
        """``tables`` wakes every sync worker, ``blocks`` launches the block
        repair (once at a time), ``rebalance`` with one data directory has
        nothing to move; repairs not built are 501. Every worker the node
        runs, the launched repair included, provides ``IWorker``."""
        result = await self.own_answer("LaunchRepairOperation", {"repairType": "tables"})
        self.assertEqual(result, {"success": {self.own: None}, "error": {}})
        result = await self.own_answer("LaunchRepairOperation", {"repairType": "blocks"})
        self.assertEqual(result["error"], {})
        self.assertEqual(type(self.node.workers.worker("block repair")).__name__,
                         "BlockRepair")
        names = self.node.workers.names()
        self.assertIn("block scrub", names)
        for name in names:
            verifyObject(IWorker, self.node.workers.worker(name))
        result = await self.own_answer("LaunchRepairOperation", {"repairType": "rebalance"})
        self.assertEqual(result["error"], {})
        result = await self.own_answer("LaunchRepairOperation", {"repairType": "versions"})
        self.assertIn("NotImplemented (501)", result["error"][self.own])
        # A malformed body is the request's 400, checked before any node runs it.
        code, error = await self.admin.call("LaunchRepairOperation", {"node": "*"},
                                            {"repairType": "everything"})
        self.assertEqual((code, error["code"]), (400, "BadRequest"))

    async def test_metadata_snapshots(self):
        """Each snapshot is a whole copy of the database that opens as one;
        the two newest are kept."""
        key = await self.fixture.create_key("in-the-snapshot")
        for _ in range(KEEP + 1):
            result = await self.own_answer("CreateMetadataSnapshot", {})
            self.assertEqual(result, {"success": {self.own: None}, "error": {}})
        snapshots = self.node.admin_api.snapshots.list()
        self.assertEqual(len(snapshots), KEEP)
        copy = LevelDBStore.open(snapshots[-1])
        self.addCleanup(copy.close)
        rows = list(copy.open_tree("key:table").range())
        self.assertTrue(any(key.key_id.encode() in raw for _, raw in rows))
        self.assertEqual(os.path.dirname(snapshots[0]),
                         os.path.join(self.node.config.metadata_dir, "snapshots"))


class DomainAndPreflightTests(TestCase):
    """``/check?domain=`` and ``OPTIONS``, which need no token."""

    timeout = 60

    async def setUp(self):
        self.fixture = await NodeFixture.start(
            self, extra='[s3_web]\nbind_addr = "127.0.0.1:0"\nroot_domain = ".web.example.org"\n')
        self.admin = AdminClient(self, self.fixture)
        key = await self.fixture.create_key()
        await self.fixture.create_bucket("site", key)
        await self.fixture.create_bucket("plain", key)
        helper = self.fixture.node.helper
        bucket = await helper.get_bucket(await helper.resolve_global_alias("site"))
        code, _ = await self.admin.call("UpdateBucket", {"id": bucket.bucket_id.hex()},
                                        {"websiteAccess": {"enabled": True,
                                                           "indexDocument": "index.html"}})
        self.assertEqual(code, 200)

    async def check(self, domain):
        response, content = await self.admin.raw("GET", "/check", {"domain": domain},
                                                 token=False)
        return response.code, content

    async def test_check_domain(self):
        """A website bucket's name, or its name under the web root domain,
        is the cluster's; a bucket without a website, or no bucket, is not."""
        for domain in ("site", "site.web.example.org", "SITE.web.example.org"):
            code, content = await self.check(domain)
            self.assertEqual(code, 200, domain)
            self.assertIn(b"is managed by Garage", content)
        for domain in ("plain", "plain.web.example.org", "nothing.web.example.org",
                       "web.example.org"):
            code, content = await self.check(domain)
            self.assertEqual(code, 400, domain)
            self.assertIn(b"is not managed by Garage", content)

    async def test_preflight_and_cors(self):
        """OPTIONS answers CORS headers without a token; JSON answers allow
        any origin, as Garage's."""
        response, _ = await self.admin.raw("OPTIONS", "/v2/ListKeys", token=False)
        self.assertEqual(response.code, 200)
        headers = response.headers
        self.assertEqual(headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])
        self.assertEqual(headers.getRawHeaders(b"access-control-allow-headers"),
                         [b"authorization,content-type"])
        response, _ = await self.admin.raw("GET", "/v2/ListKeys")
        self.assertEqual(response.headers.getRawHeaders(b"access-control-allow-origin"),
                         [b"*"])
        # An operation with nothing to say answers JSON null, with CORS too.
        key = await self.fixture.create_key("gone")
        response, content = await self.admin.raw("POST", "/v2/DeleteKey", {"id": key.key_id})
        self.assertEqual((response.code, content.strip()), (200, b"null"))
        self.assertEqual(response.headers.getRawHeaders(b"access-control-allow-origin"),
                         [b"*"])


class ClusterCliTests(TestCase):
    """The ``garage`` verbs of these operations, against the cluster."""

    timeout = 120

    async def setUp(self):
        self.fixtures, self.nodes = await start_cluster(self)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def garage(self, *argv):
        fixture = self.fixtures[0]
        # "--admin-token=T": a random token may begin with "-", which
        # argparse would take for an option as a separate argument.
        args = build_parser().parse_args(["--admin-url", fixture.admin_url,
                                          f"--admin-token={fixture.admin_token}", *argv])
        out = io.StringIO()
        await run_command(reactor, args, out, http=_TreqWithPool(self.pool))
        return out.getvalue()

    async def test_stats_all_nodes(self):
        """``stats -a`` prints every node's statistics, then the cluster's."""
        out = await self.garage("stats", "-a")
        for node in self.nodes:
            self.assertIn(f"==== node {node.node_key.node_id.hex()}", out)
        self.assertEqual(out.count("Table stats:"), 3)
        self.assertIn("Cluster statistics:", out)
        self.assertIn("Estimated available storage space", out)

    async def test_worker_verbs(self):
        """``worker set -a`` reaches every node; ``get``, ``list`` and
        ``info`` show it."""
        out = await self.garage("worker", "set", "-a", "scrub-tranquility", "9")
        self.assertEqual(out.count("scrub-tranquility set to 9"), 3)
        out = await self.garage("worker", "get", "-a", "scrub-tranquility")
        self.assertEqual(out.count("scrub-tranquility  9"), 3)
        out = await self.garage("worker", "list")
        self.assertIn("block scrub", out)
        (scrub_id,) = [i.id for i in self.nodes[0].workers.list_workers()
                       if i.name == "block scrub"]
        out = await self.garage("worker", "info", str(scrub_id))
        self.assertRegex(out, r"Worker name: +block scrub\n")
        self.assertRegex(out, r"Tranquility: +9\n")
        with self.assertRaises(CliError) as raised:
            await self.garage("worker", "set", "resync-worker-count", "99")
        self.assertIn("between 1 and 8", str(raised.exception))

    async def test_repair_and_snapshot(self):
        """``repair`` wants --yes; ``meta snapshot -a`` snapshots every node."""
        with self.assertRaises(CliError):
            await self.garage("repair", "tables")
        out = await self.garage("repair", "--yes", "-a", "tables")
        self.assertEqual(out.count("repair launched"), 3)
        out = await self.garage("meta", "snapshot", "-a")
        self.assertEqual(out.count("metadata snapshot taken"), 3)
        for node in self.nodes:
            self.assertEqual(len(node.admin_api.snapshots.list()), 1)
        with self.assertRaises(CliError):
            await self.garage("block", "purge", "00" * 32)
