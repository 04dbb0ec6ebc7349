"""Attacks on scoped admin tokens, each refused: a known token id with a
guessed secret, a narrow token reaching for more, the stored hash or the
secret read back through the API or from the disk.

Without the checks each test stands for, a leaked token id (listings show
it) would open the admin API, a ``ListBuckets`` token would make itself a
``*`` token, and a copy of the metadata directory would hold usable tokens.
"""

import os

from twisted.trial.unittest import TestCase

from tests.integration.test_admin_tokens import _Calls
from tests.support.node import NodeFixture


class AdminTokenAttackTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture = await NodeFixture.start(self)
        self.call = _Calls(self, self.fixture.admin_url, self.fixture.admin_token)

    async def create(self, **body):
        code, created = await self.call("CreateAdminToken", body=body)
        self.assertEqual(code, 200, created)
        return created

    async def test_scoped_token_cannot_escalate(self):
        """A ["ListBuckets"] token cannot make, widen or delete tokens, its own included."""
        created = await self.create(scope=["ListBuckets"])
        token, token_id = created["secretToken"], created["id"]
        code, error = await self.call("CreateAdminToken", body={"scope": ["*"]}, token=token)
        self.assertEqual(code, 403)
        code, _ = await self.call("UpdateAdminToken", {"id": token_id}, {"scope": ["*"]},
                                  token=token)
        self.assertEqual(code, 403)
        code, _ = await self.call("DeleteAdminToken", {"id": token_id}, method="POST",
                                  token=token)
        self.assertEqual(code, 403)
        code, listed = await self.call("ListAdminTokens")
        self.assertEqual([t["scope"] for t in listed if t["id"]], [["ListBuckets"]])

    async def test_wrong_secret_is_refused(self):
        """A valid prefix with a wrong secret, or a truncated token, is 403."""
        created = await self.create()
        token, token_id = created["secretToken"], created["id"]
        other = (await self.create())["secretToken"]
        for forged in (token_id + "." + other.split(".", 1)[1], token[:-1], token_id,
                       token_id + "."):
            code, error = await self.call("ListBuckets", token=forged)
            self.assertEqual((code, error["message"]), (403, "Invalid bearer token"), forged)

    async def test_secret_never_stored(self):
        """After creation the token's row is in the metadata directory, and
        neither the secret nor the whole token is in any file there."""
        created = await self.create(name="on-disk")
        secret = created["secretToken"].split(".", 1)[1].encode()
        code, _ = await self.call("ListBuckets", token=created["secretToken"])
        self.assertEqual(code, 200)
        found_prefix = False
        metadata_dir = self.fixture.node.config.metadata_dir
        for root, _, files in os.walk(metadata_dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    content = f.read()
                self.assertNotIn(secret, content, name)
                found_prefix = found_prefix or created["id"].encode() in content
        self.assertTrue(found_prefix, "the token's row was not found on disk")

    async def test_hash_never_leaves_the_node(self):
        """No answer of the API carries the stored argon2 hash (an offline
        guessing target) or the secret, after creation."""
        created = await self.create(name="quiet")
        secret = created["secretToken"].split(".", 1)[1]
        answers = [await self.call("ListAdminTokens"),
                   await self.call("GetAdminTokenInfo", {"id": created["id"]}),
                   await self.call("GetCurrentAdminTokenInfo", token=created["secretToken"]),
                   await self.call("UpdateAdminToken", {"id": created["id"]}, {"name": "q"})]
        for code, body in answers:
            self.assertEqual(code, 200)
            self.assertNotIn("$argon2", repr(body))
            self.assertNotIn(secret, repr(body))

    async def test_id_of_a_deleted_token_stays_dead(self):
        """A deleted token is refused, and its id cannot be given a new life
        by an update."""
        created = await self.create()
        await self.call("DeleteAdminToken", {"id": created["id"]}, method="POST")
        code, _ = await self.call("UpdateAdminToken", {"id": created["id"]}, {"name": "back"})
        self.assertEqual(code, 404)
        code, _ = await self.call("ListBuckets", token=created["secretToken"])
        self.assertEqual(code, 403)
