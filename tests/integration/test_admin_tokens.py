"""Scoped admin tokens over real HTTP: Garage's six endpoints, the scope and
expiration of every admin call, ``/metrics`` tokens, what is on disk, and
tokens made on one node of a cluster used on the others."""

import json
import os
from datetime import datetime, timedelta, timezone

import treq
from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from garage_twisted.table.schema import EMPTY_PARTITION
from tests.support.cluster import start_cluster
from tests.support.node import NodeFixture


def rfc3339(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).isoformat(timespec="seconds")


class _Calls:
    """Admin API calls of a test, through one connection pool."""

    def __init__(self, testcase, admin_url, master):
        self.admin_url = admin_url
        self.master = master
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        testcase.addCleanup(self.pool.closeCachedConnections)

    async def __call__(self, name, query=None, body=None, token=None, method=None):
        headers = {b"authorization": [f"Bearer {token or self.master}".encode()]}
        method = method or ("POST" if body is not None else "GET")
        response = await treq.request(
            method, f"{self.admin_url}/v2/{name}", params=query, headers=headers,
            data=None if body is None else json.dumps(body).encode(), pool=self.pool)
        content = await treq.content(response)
        return response.code, (json.loads(content) if content.strip() else None)

    async def metrics(self, token=None):
        headers = {} if token is None else {b"authorization": [f"Bearer {token}".encode()]}
        response = await treq.get(f"{self.admin_url}/metrics", headers=headers, pool=self.pool)
        return response.code, (await treq.content(response)).decode()


async def start_node(testcase, admin_extra=""):
    """A node whose ``[admin]`` section ends with ``admin_extra``."""
    fixture = NodeFixture(testcase, os.path.abspath(testcase.mktemp()), 1 << 20)
    section = fixture.admin_section() + admin_extra
    fixture.admin_section = lambda: section
    await fixture.boot()
    return fixture


def wait_row(node, prefix: str, deleted: bool = False):
    """Fires once ``node``'s own copy of the token table holds ``prefix``
    (or its deletion): replication to the last node of a write quorum
    finishes a moment after the write returned."""
    data = node.model.admin_token_table.data

    def holds():
        row = data.read_entry(EMPTY_PARTITION, prefix.encode())
        return row is not None and row.is_tombstone() == deleted

    if holds():
        return defer.succeed(None)
    done = defer.Deferred()

    def written():
        if not done.called and holds():
            data.on_merkle_todo.remove(written)
            done.callback(None)

    data.on_merkle_todo.append(written)
    return done


class AdminTokenTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture = await NodeFixture.start(self)
        self.call = _Calls(self, self.fixture.admin_url, self.fixture.admin_token)

    async def create(self, **body):
        code, created = await self.call("CreateAdminToken", body=body)
        self.assertEqual(code, 200, created)
        return created

    async def test_lifecycle(self):
        """Create, list, info (id and search), current, rename, set, delete:
        Garage's shapes and errors."""
        created = await self.create(name="console",
                                    scope=["ListBuckets", "GetCurrentAdminTokenInfo"])
        token, token_id = created["secretToken"], created["id"]
        self.assertTrue(token.startswith(token_id + "."))
        self.assertEqual(set(created), {"id", "created", "name", "expiration", "expired",
                                        "scope", "secretToken"})
        self.assertEqual((created["name"], created["expiration"], created["expired"],
                          created["scope"]),
                         ("console", None, False, ["ListBuckets", "GetCurrentAdminTokenInfo"]))
        unnamed = await self.create()
        self.assertRegex(unnamed["name"], r"^token_\d{8}_\d{4}$")
        self.assertEqual(unnamed["scope"], ["*"])

        code, listed = await self.call("ListAdminTokens")
        self.assertEqual(listed[0], {"id": None, "created": None,
                                     "name": "admin_token (from daemon configuration)",
                                     "expiration": None, "expired": False, "scope": ["*"]})
        self.assertEqual(sorted(t["id"] for t in listed[1:]), sorted([token_id, unnamed["id"]]))
        self.assertFalse(any("secretToken" in t for t in listed))

        code, info = await self.call("GetAdminTokenInfo", {"id": token_id})
        self.assertEqual(info, {k: v for k, v in created.items() if k != "secretToken"})
        code, info = await self.call("GetAdminTokenInfo", {"search": "console"})
        self.assertEqual(info["id"], token_id)
        code, info = await self.call("GetAdminTokenInfo", {"search": token_id[:6]})
        self.assertEqual(info["id"], token_id)
        code, error = await self.call("GetAdminTokenInfo", {"search": "nothing"})
        self.assertEqual((code, error["message"]), (400, "0 matching admin tokens"))
        code, error = await self.call("GetAdminTokenInfo")
        self.assertEqual(code, 400)
        code, error = await self.call("GetAdminTokenInfo", {"id": "0" * 24})
        self.assertEqual((code, error["code"]), (404, "NoSuchAdminToken"))

        code, mine = await self.call("GetCurrentAdminTokenInfo", token=token)
        self.assertEqual((code, mine["id"], mine["name"]), (200, token_id, "console"))
        code, master = await self.call("GetCurrentAdminTokenInfo")
        self.assertEqual(master, listed[0])

        expiration = rfc3339(timedelta(days=2))
        code, updated = await self.call("UpdateAdminToken", {"id": token_id}, {
            "name": "renamed", "expiration": expiration, "scope": ["*"]})
        self.assertEqual(code, 200, updated)
        self.assertEqual((updated["name"], updated["scope"], updated["expired"]),
                         ("renamed", ["*"], False))
        self.assertEqual(datetime.fromisoformat(updated["expiration"]),
                         datetime.fromisoformat(expiration))
        code, updated = await self.call("UpdateAdminToken", {"id": token_id},
                                        {"neverExpires": True})
        self.assertEqual((updated["name"], updated["expiration"]), ("renamed", None))
        code, error = await self.call("UpdateAdminToken", {"id": token_id},
                                      {"neverExpires": True, "expiration": expiration})
        self.assertEqual(code, 400)

        code, _ = await self.call("DeleteAdminToken", {"id": token_id}, method="POST")
        self.assertEqual(code, 200)
        code, error = await self.call("GetAdminTokenInfo", {"id": token_id})
        self.assertEqual((code, error["code"]), (404, "NoSuchAdminToken"))
        code, error = await self.call("ListBuckets", token=token)
        self.assertEqual(code, 403)
        code, error = await self.call("DeleteAdminToken", {"id": token_id}, method="POST")
        self.assertEqual(code, 404)

    async def test_scope_is_checked_on_every_endpoint(self):
        """A token without CreateBucket gets 403 on it and 200 on ListBuckets;
        node-scoped operations (?node=) are checked by name too."""
        created = await self.create(scope=["ListBuckets", "GetNodeInfo"])
        token = created["secretToken"]
        code, _ = await self.call("ListBuckets", token=token)
        self.assertEqual(code, 200)
        code, error = await self.call("CreateBucket", body={"globalAlias": "nope"}, token=token)
        self.assertEqual((code, error["code"]), (403, "Forbidden"))
        self.assertIn("CreateBucket", error["message"])
        code, buckets = await self.call("ListBuckets")
        self.assertEqual(buckets, [])
        code, info = await self.call("GetNodeInfo", {"node": "self"}, token=token)
        self.assertEqual((code, len(info["success"])), (200, 1))
        code, _ = await self.call("ListWorkers", {"node": "self"}, {}, token=token)
        self.assertEqual(code, 403)
        code, _ = await self.call("GetCurrentAdminTokenInfo", token=token)
        self.assertEqual(code, 403)

    async def test_expired_token_is_refused(self):
        """A token past its expiration is refused; lifting it makes it work again."""
        created = await self.create(expiration=rfc3339(timedelta(hours=1)), scope=["ListBuckets"])
        token, token_id = created["secretToken"], created["id"]
        code, _ = await self.call("ListBuckets", token=token)
        self.assertEqual(code, 200)
        # The node's clock is the real one: an expiration in the past is
        # what that clock reaches, without waiting for it.
        code, info = await self.call("UpdateAdminToken", {"id": token_id},
                                     {"expiration": rfc3339(timedelta(seconds=-1))})
        self.assertTrue(info["expired"])
        code, error = await self.call("ListBuckets", token=token)
        self.assertEqual(code, 403)
        self.assertIn("expired", error["message"])
        code, listed = await self.call("ListAdminTokens")
        self.assertEqual([t["expired"] for t in listed if t["id"]], [True])
        await self.call("UpdateAdminToken", {"id": token_id}, {"neverExpires": True})
        code, _ = await self.call("ListBuckets", token=token)
        self.assertEqual(code, 200)

    async def test_unknown_scope_names_refused(self):
        """A scope naming no admin endpoint is 400, not a token that never works."""
        code, error = await self.call("CreateAdminToken", body={"scope": ["ListBucket"]})
        self.assertEqual((code, error["code"]), (400, "BadRequest"))
        self.assertIn("ListBucket", error["message"])


class MetricsTokenTests(TestCase):
    timeout = 60

    async def test_metrics_require_token(self):
        """With metrics_require_token, /metrics takes a token whose scope
        holds Metrics (or *), or admin_token; nothing else."""
        fixture = await start_node(self, "metrics_require_token = true\n")
        call = _Calls(self, fixture.admin_url, fixture.admin_token)
        code, _ = await call.metrics()
        self.assertEqual(code, 403)
        code, _ = await call.metrics("wrong")
        self.assertEqual(code, 403)
        _, metrics = await call("CreateAdminToken", body={"scope": ["Metrics"]})
        _, other = await call("CreateAdminToken", body={"scope": ["ListBuckets"]})
        code, text = await call.metrics(metrics["secretToken"])
        self.assertEqual(code, 200)
        self.assertIn("# TYPE ", text)
        code, _ = await call.metrics(other["secretToken"])
        self.assertEqual(code, 403)
        code, _ = await call.metrics(fixture.admin_token)
        self.assertEqual(code, 200)
        code, _ = await call("ListBuckets", token=metrics["secretToken"])
        self.assertEqual(code, 403)

    async def test_metrics_token_is_for_metrics_only(self):
        """metrics_token opens /metrics and nothing else; it is listed as Garage lists it."""
        fixture = await start_node(self, 'metrics_token = "scrape-me"\n')
        call = _Calls(self, fixture.admin_url, fixture.admin_token)
        code, _ = await call.metrics()
        self.assertEqual(code, 403)
        code, _ = await call.metrics("scrape-me")
        self.assertEqual(code, 200)
        code, _ = await call("ListBuckets", token="scrape-me")
        self.assertEqual(code, 403)
        code, listed = await call("ListAdminTokens")
        self.assertEqual([(t["name"], t["scope"]) for t in listed],
                         [("admin_token (from daemon configuration)", ["*"]),
                          ("metrics_token (from daemon configuration)", ["Metrics"])])

    async def test_open_metrics_by_default(self):
        """Without metrics_token nor metrics_require_token, /metrics is open."""
        fixture = await NodeFixture.start(self)
        code, _ = await _Calls(self, fixture.admin_url, fixture.admin_token).metrics()
        self.assertEqual(code, 200)


class AdminTokenClusterTests(TestCase):
    timeout = 120

    async def test_token_replicates_and_works_everywhere(self):
        """A token made on one node works on the others; its deletion on
        another node refuses it everywhere."""
        fixtures, nodes = await start_cluster(self)
        calls = [_Calls(self, f.admin_url, f.admin_token) for f in fixtures]
        code, created = await calls[0]("CreateAdminToken",
                                       body={"name": "shared", "scope": ["ListBuckets"]})
        self.assertEqual(code, 200)
        token, token_id = created["secretToken"], created["id"]
        for node, call in zip(nodes, calls):
            await wait_row(node, token_id)
            code, _ = await call("ListBuckets", token=token)
            self.assertEqual(code, 200)
            code, _ = await call("CreateBucket", body={"globalAlias": "x"}, token=token)
            self.assertEqual(code, 403)
        code, _ = await calls[1]("DeleteAdminToken", {"id": token_id}, method="POST")
        self.assertEqual(code, 200)
        for node, call in zip(nodes, calls):
            await wait_row(node, token_id, deleted=True)
            code, _ = await call("ListBuckets", token=token)
            self.assertEqual(code, 403)
