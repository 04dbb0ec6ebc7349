"""``garage admin-token ...``: the real CLI program against a node in this
reactor, each verb with Garage's flags, and a token it made used by it."""

from twisted.trial.unittest import TestCase

from tests.support.node import NodeFixture
from tests.support.process import run, tool


class AdminTokenCliTests(TestCase):
    timeout = 180

    async def setUp(self):
        self.fixture = await NodeFixture.start(self)

    async def garage(self, *argv, token=None):
        """``(stdout, stderr, exit code)`` of ``garage *argv``."""
        return await run(tool("garage"), "--admin-url", self.fixture.admin_url,
                         f"--admin-token={token or self.fixture.admin_token}", *argv,
                         check=False)

    async def ok(self, *argv, token=None) -> str:
        out, err, code = await self.garage(*argv, token=token)
        self.assertEqual(code, 0, f"{argv}: {err}")
        return out

    async def fails(self, *argv, token=None) -> str:
        out, err, code = await self.garage(*argv, token=token)
        self.assertEqual(code, 1, f"{argv}: {out}")
        return err

    async def test_every_verb(self):
        """create, list, info, rename, set (+/- scope, expiry), delete and
        delete-expired, as Garage's CLI; the scope holds for the CLI too."""
        out = await self.ok("admin-token", "create", "console", "--expires-in", "1d",
                            "--scope", "ListBuckets, GetClusterHealth")
        self.assertIn("This is your secret bearer token, it will not be shown again", out)
        (token,) = [line.strip() for line in out.splitlines() if "." in line and
                    line.startswith("  ")]
        self.assertIn("Token name:  console", out)
        self.assertIn("Validity:    valid", out)
        self.assertIn("Scope:       ListBuckets\n             GetClusterHealth", out)
        quiet = (await self.ok("admin-token", "create", "-q", "ci")).strip()
        self.assertRegex(quiet, r"^[0-9a-f]{24}\.[A-Za-z0-9_-]{43}$")

        listed = await self.ok("admin-token", "list")
        lines = listed.splitlines()
        self.assertRegex(lines[0], r"^ID\s+Created\s+Name\s+Expiration\s+Scope$")
        self.assertIn("admin_token (from daemon configuration)", lines[1])
        console = next(line for line in lines if "console" in line)
        self.assertIn(token.split(".")[0], console)
        self.assertIn("ListBuckets, ... (2)", console)
        self.assertIn("never", next(line for line in lines if " ci " in line))

        out = await self.ok("admin-token", "info", "console")
        self.assertIn(f"Token ID:    {token.split('.')[0]}", out)
        out = await self.ok("admin-token", "rename", token[:8], "web")
        self.assertIn("Token name:  web", out)
        out = await self.ok("admin-token", "set", "web", "--scope", "+CreateBucket,ListBuckets")
        self.assertIn("Scope:       ListBuckets\n             GetClusterHealth\n"
                      "             CreateBucket", out)
        out = await self.ok("admin-token", "set", "web", "--scope=-ListBuckets")
        self.assertNotIn("ListBuckets", out)
        out = await self.ok("admin-token", "set", "web", "--never-expires")
        self.assertIn("Expiration:  never", out)
        out = await self.ok("admin-token", "set", "web", "--scope", "ListBuckets")
        self.assertIn("Scope:       ListBuckets\n", out)
        err = await self.fails("admin-token", "set", "web", "--never-expires",
                               "--expires-in", "1h")
        self.assertIn("not both", err)
        err = await self.fails("admin-token", "set", "web", "--expires-in", "soon")
        self.assertIn("Invalid duration passed for --expires-in parameter", err)
        err = await self.fails("admin-token", "create", "--scope", "ListBucket")
        self.assertIn("unknown admin endpoint(s) in scope: ListBucket", err)

        # The token made above, used by the CLI: its scope holds.
        await self.ok("bucket", "list", token=token)
        err = await self.fails("bucket", "create", "nope", token=token)
        self.assertIn("scope does not include CreateBucket", err)
        err = await self.fails("admin-token", "list", token=token)
        self.assertIn("scope does not include ListAdminTokens", err)

        await self.ok("admin-token", "set", "ci", "--expires-in", "0s")
        listed = await self.ok("admin-token", "list")
        self.assertIn("expired", next(line for line in listed.splitlines() if " ci " in line))
        err = await self.fails("admin-token", "delete-expired")
        self.assertIn("This would delete 1 admin API tokens, add the --yes flag to proceed.",
                      err)
        out = await self.ok("admin-token", "delete-expired", "--yes")
        self.assertIn("1 admin API tokens have been deleted.", out)
        err = await self.fails("admin-token", "delete", "web")
        self.assertIn("Add the --yes flag to delete API token `web`", err)
        out = await self.ok("admin-token", "delete", "--yes", "web")
        self.assertIn("Admin API token has been deleted.", out)
        err = await self.fails("bucket", "list", token=token)
        self.assertIn("Invalid bearer token", err)
        listed = await self.ok("admin-token", "list")
        self.assertEqual(len(listed.splitlines()), 2)
