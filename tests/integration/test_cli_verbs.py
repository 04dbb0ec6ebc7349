"""Every ``garage`` verb with its documented flags, parsed and run against a
real node in this reactor: a table of command lines, each with what its
output (or its one-line error) must say.

The commands go through :func:`garage_twisted.cli.main.run_command`, the
dispatch ``main`` uses, with the node's configuration file (``-c``) as a
user gives it.
"""

import io
import json
import os
import sys

from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from garage_twisted.cli.client import CliError
from garage_twisted.cli.main import _TreqWithPool, build_parser, run_command
from tests.support.node import CONFIG_TEMPLATE, NodeFixture

# (command line, what the output must contain) in order: later lines use what
# earlier ones made. "!" starts the text of an expected one-line error; a
# tuple lists texts one of which the output or the error must contain.
# {node}: this node's id; {hash}: a block hash nothing uses.
VERBS = [
    ("status", "==== NODES (layout version 1"),
    ("node id -q", "{node}@127.0.0.1:"),
    ("node id", "{node}@127.0.0.1:"),
    ("node invite", "garage-invite:v1:"),
    ("node connect 00@127.0.0.1:1", "!could not connect to 00@127.0.0.1:1"),
    # keys
    ("key create k1", "Key name: k1"),
    ("key create", "Key name: Unnamed key"),
    ("key list", "k1"),
    ("key info k1", "Secret key: (redacted, use --show-secret)"),
    ("key info --show-secret k1", "Can create buckets: false"),
    ("key rename k1 k2", "Key name: k2"),
    ("key allow --create-bucket k2", "Can create buckets: true"),
    ("key deny --create-bucket k2", "Can create buckets: false"),
    ("key allow k2", "!nothing to change: give --create-bucket"),
    ("key import GK0123456789abcdef01234567 " + "ab" * 32 + " -n imported",
     "!add --yes to really import"),
    ("key import GK0123456789abcdef01234567 " + "ab" * 32 + " -n imported --yes",
     "Key name: imported"),
    ("key import GK1123456789abcdef01234567 " + "ab" * 32 + " --name named --yes",
     "Key name: named"),
    ("key delete imported", "!add --yes to really delete key GK0123456789abcdef01234567"),
    ("key delete --yes imported", "Access key GK0123456789abcdef01234567 has been deleted."),
    # buckets
    ("bucket create bk1", "Bucket bk1 was created."),
    ("bucket create -v bk2", "Website access: false"),
    ("bucket list", "bk1"),
    ("bucket info bk1", "Unfinished uploads: 0"),
    ("bucket allow --read --write --owner bk1 --key k2", "Permissions allowed for key"),
    ("bucket deny --owner bk1 --key k2", "Permissions denied for key"),
    ("bucket allow bk1 --key k2", "!give at least one of --read, --write, --owner"),
    ("key info k2", "RW   bk1  "),
    ("bucket alias bk1 bk1-more", "Alias bk1-more now points to bucket"),
    ("bucket info bk1-more", "  bk1-more"),
    ("bucket unalias bk1-more", "Alias bk1-more was removed."),
    ("bucket alias --local k2 bk1 mine", "Alias mine now points to bucket"),
    ("key info k2", "Key-specific bucket aliases:\n  mine  "),
    ("bucket unalias --local k2 mine", "Alias mine was removed."),
    ("bucket unalias --local k2 mine", "!key has no local alias mine"),
    ("bucket alias bk1 mine --local k2", "Alias mine now points to bucket"),
    ("bucket unalias mine --local k2", "Alias mine was removed."),
    ("bucket website --allow -i idx.html -e err.html bk1", "is now served"),
    ("bucket info bk1", "Website access: true"),
    ("bucket website --allow --index-document i.html --error-document e.html bk1",
     "is now served"),
    ("bucket website --deny bk1", "is no longer served"),
    ("bucket website bk1", "!give --allow or --deny"),
    ("bucket info bk1", "Versioning: never enabled (unversioned)\nObject Lock: disabled"),
    ("bucket versioning bk1 enable", "Versioning of bucket bk1 is now enabled."),
    ("bucket info bk1", "Versioning: enabled\n"),
    ("bucket versioning bk1 suspend", "Versioning of bucket bk1 is now suspended."),
    ("bucket info bk1", "Versioning: suspended\n"),
    ("bucket versioning no-such-bucket enable", "!"),
    ("bucket info bk1", "Policy: none\nACL: none\nPublic access block: none\nPublic: no\n"),
    ("bucket policy bk1 get", "!cannot get the policy of bucket bk1: the bucket has no policy"),
    ("bucket policy bk1 delete", "Bucket bk1 had no policy.\nPublic: no"),
    ("bucket policy bk1 set /no/such/policy.json",
     "!cannot read the policy from /no/such/policy.json"),
    ("bucket policy no-such-bucket get", "!"),
    ("bucket set-quotas bk1 --max-size 10G --max-objects 1000",
     "Quotas: max size 10.0 GB (10000000000 B), max objects 1000"),
    ("bucket set-quotas bk1 --max-size 2GiB", "max size 2.1 GB (2147483648 B), max objects 1000"),
    ("bucket set-quotas bk1 --max-size none", "Quotas: max size -, max objects 1000"),
    ("bucket set-quotas bk1 --max-objects 0", "Quotas: max size -, max objects 0"),
    ("bucket set-quotas bk1 --max-objects none --max-size 5M",
     "Quotas: max size 5.0 MB (5000000 B), max objects -"),
    ("bucket set-quotas bk1", "!give --max-size or --max-objects"),
    ("bucket set-quotas bk1 --max-size lots", "!invalid size: 'lots'"),
    ("bucket set-quotas bk1 --max-objects -3", "!invalid number of objects: '-3'"),
    ("bucket cleanup-incomplete-uploads bk1 bk2", "bk2: 0 incomplete uploads aborted"),
    ("bucket cleanup-incomplete-uploads --older-than 12h bk1", "bk1: 0 incomplete uploads"),
    ("bucket cleanup-incomplete-uploads --older-than soon bk1", "!cannot read duration"),
    ("bucket inspect-object bk1 no/such/key", "!Key not found"),
    ("bucket delete bk2", "!add --yes to really delete bucket bk2"),
    ("bucket delete --yes bk2", "Bucket bk2 has been deleted."),
    ("bucket info bk2", "!"),
    # layout
    ("layout show", "==== CURRENT CLUSTER LAYOUT ===="),
    ("layout assign -z dc2 -c 2G -t fast -t ssd {node8}", "Role changes are staged"),
    ("layout show", "==== STAGED ROLE CHANGES ===="),
    ("layout revert", "!add --yes to revert"),
    ("layout revert --yes", "have been canceled"),
    ("layout assign --zone dc2 --capacity 3GB --tag t {node8}", "Role changes are staged"),
    ("layout revert --yes", "have been canceled"),
    ("layout assign -g {node8}", "Role changes are staged"),
    ("layout revert --yes", "have been canceled"),
    ("layout assign --gateway -c 1G {node8}", "!-g (gateway) and -c (capacity)"),
    ("layout assign -z dc1 --replace ffff {node8}", "!no node id starts with 'ffff'"),
    ("layout remove {node8}", "Role removal is staged"),
    ("layout revert --yes", "have been canceled"),
    ("layout config -r max", "zone redundancy change is staged"),
    ("layout config --redundancy none", "zone redundancy change is staged"),
    ("layout config -r 1", "zone redundancy change is staged"),
    ("layout config -r some", "!zone redundancy must be 'none'/'max' or an integer"),
    ("layout apply", "!give --version 2"),
    ("layout apply --version 2", ""),
    ("layout history", "==== LAYOUT HISTORY ===="),
    ("layout skip-dead-nodes --version 2", "Nothing to do"),
    ("layout skip-dead-nodes --version 2 --allow-missing-data", "Nothing to do"),
    # maintenance
    ("stats", "Table stats:"),
    ("stats -a", "==== node {node}"),
    ("stats --all-nodes", "Cluster statistics:"),
    ("worker list", "block resync"),
    ("worker list -b -e", "TID"),
    ("worker list --busy --errors -a", "==== node {node}"),
    ("worker get resync-tranquility", "resync-tranquility"),
    ("worker get -a", "resync-worker-count"),
    ("worker set resync-tranquility 3", "resync-tranquility set to 3"),
    ("worker set --all-nodes resync-tranquility 4", "resync-tranquility set to 4"),
    ("worker info 1", "Task id:"),
    ("block list-errors", "No block has a resync error."),
    ("block info {hash}", "!"),
    ("block retry-now --all", "block(s) queued for an immediate resync"),
    ("block retry-now {hash}", "1 block(s) queued"),
    ("block retry-now", "!give --all, or one or more block hashes"),
    ("block purge {hash}", "!add --yes"),
    ("block purge --yes {hash}", "Purged 1 blocks"),
    ("repair tables", "!add --yes to launch the repair"),
    ("repair --yes tables", "repair launched"),
    # Parsed and sent; the node answers that these repairs are not built.
    ("repair -a --yes versions", "!the versions repair is not built"),
    ("repair mpu --yes", "!the multipartUploads repair is not built"),
    ("repair --all-nodes --yes block-refs", "!the blockRefs repair is not built"),
    ("repair --yes block-rc", "!the blockRc repair is not built"),
    ("repair --yes aliases", "!the aliases repair is not built"),
    ("repair --yes blocks", "repair launched"),
    ("repair --yes rebalance", "repair launched"),
    # Whether the node's first scrub pass still runs is timing: either answer
    # shows the command reached the scrub worker.
    ("repair --yes scrub pause", ("repair launched", "Cannot pause scrub worker")),
    ("repair scrub resume --yes", ("repair launched", "Cannot resume scrub worker")),
    ("repair -a --yes scrub cancel", ("repair launched", "Cannot cancel scrub worker")),
    ("repair scrub start", "!add --yes to launch the repair"),
    ("meta snapshot", "metadata snapshot taken"),
    ("meta snapshot --all", "metadata snapshot taken"),
    ("meta snapshot -a", "metadata snapshot taken"),
    # last: the key still used above
    ("key delete --yes k2", "has been deleted."),
]


class CliVerbTests(TestCase):
    """Each line of :data:`VERBS` against one node."""

    timeout = 120

    async def setUp(self):
        self.fixture = await NodeFixture.start(self)
        fixture = self.fixture
        self.config = os.path.join(fixture.base, "garage.toml")
        with open(self.config, "w") as f:
            f.write(CONFIG_TEMPLATE.format(
                base=fixture.base, rpc_secret=fixture.rpc_secret, extra=fixture.extra,
                rpc_bind=fixture.rpc_bind, replication_factor=fixture.replication_factor,
                admin_token=fixture.admin_token, block_size=fixture.block_size,
                admin_section=fixture.admin_section(), s3_extra=fixture.s3_extra))
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def garage(self, line: str) -> str:
        args = build_parser().parse_args(["-c", self.config, *line.split()])
        out = io.StringIO()
        await run_command(reactor, args, out, http=_TreqWithPool(self.pool))
        return out.getvalue()

    async def test_every_verb_and_flag(self):
        """Each command line parses, runs, and says what it must."""
        node = self.fixture.node.node_key.node_id.hex()
        names = {"node": node, "node8": node[:8], "hash": "ab" * 32}
        for line, expected in VERBS:
            line = line.format(**names)
            if isinstance(expected, tuple):
                try:
                    text = await self.garage(line)
                except CliError as e:
                    text = str(e)
                self.assertTrue(any(e in text for e in expected), f"{line}:\n{text}")
                continue
            expected = expected.format(**names)
            if expected.startswith("!"):
                with self.assertRaises(CliError, msg=line) as raised:
                    await self.garage(line)
                self.assertIn(expected[1:], str(raised.exception), line)
                self.assertNotIn("\n", str(raised.exception), line)
            else:
                out = await self.garage(line)
                self.assertIn(expected, out, f"{line}:\n{out}")

    async def test_object_lock_bucket(self):
        """``bucket info`` shows an Object Lock bucket's lock and default
        retention; ``bucket versioning ... suspend`` is refused with one line
        saying why, and ``enable`` keeps it Enabled."""
        helper = self.fixture.node.helper
        bucket = await helper.create_bucket("locked", object_lock=True)
        out = await self.garage("bucket info locked")
        self.assertIn("Versioning: enabled\nObject Lock: enabled, no default retention\n", out)
        await helper.set_object_lock(bucket.bucket_id, ("COMPLIANCE", None, 2))
        out = await self.garage("bucket info locked")
        self.assertIn("Object Lock: enabled, default retention COMPLIANCE for 2 year(s)\n", out)
        with self.assertRaises(CliError) as raised:
            await self.garage("bucket versioning locked suspend")
        message = str(raised.exception)
        self.assertNotIn("\n", message)
        self.assertIn("the versioning of bucket locked was not changed: the bucket has "
                      "Object Lock enabled", message)
        self.assertIn("Versioning: enabled\n", await self.garage("bucket info locked"))
        out = await self.garage("bucket versioning locked enable")
        self.assertIn("Versioning of bucket locked is now enabled.", out)

    async def test_bucket_policy(self):
        """``bucket policy BUCKET set FILE|-``, ``get`` (the text as put),
        ``delete``; ``bucket info`` shows the policy's presence, the ACL, the
        PublicAccessBlock flags and whether the bucket is public and why; a
        refused policy is one line naming what is wrong."""
        helper = self.fixture.node.helper
        bucket = await helper.create_bucket("pub")
        text = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pub/public/*"}]}, indent=2)
        path = os.path.join(self.fixture.base, "policy.json")
        with open(path, "w", newline="") as f:
            f.write(text.replace("\n", "\r\n"))
        out = await self.garage(f"bucket policy pub set {path}")
        self.assertEqual(out, "The policy of bucket pub is set.\nPublic: yes, because\n"
                         "  bucket policy statement 'PublicRead' allows s3:GetObject to "
                         "everyone\n")
        self.assertEqual(await self.garage("bucket policy pub get"),
                         text.replace("\n", "\r\n") + "\n")
        self.patch(sys, "stdin", io.StringIO(text))
        await self.garage("bucket policy pub set -")
        self.assertEqual(await self.garage("bucket policy pub get"), text + "\n")
        self.assertEqual((await helper.get_existing_bucket(bucket.bucket_id))
                         .params.policy.value, text)

        await helper.set_bucket_config(bucket.bucket_id, "acl", "public-read-write")
        out = await self.garage("bucket info pub")
        self.assertIn("Policy: set (garage bucket policy BUCKET get)\n"
                      "ACL: public-read-write\n"
                      "Public access block: none\n"
                      "Public: yes, because\n"
                      "  bucket policy statement 'PublicRead' allows s3:GetObject to "
                      "everyone\n"
                      "  bucket ACL public-read-write lets everyone list and write objects "
                      "in it\n", out)
        await helper.set_bucket_config(bucket.bucket_id, "public_access_block",
                                       (False, True, True, False))
        out = await self.garage("bucket info pub")
        self.assertIn("Public access block: IgnorePublicAcls, BlockPublicPolicy\n"
                      "Public: yes, because\n  bucket policy statement 'PublicRead'", out)
        self.assertNotIn("bucket ACL", out)
        with self.assertRaises(CliError) as raised:
            await self.garage(f"bucket policy pub set {path}")
        self.assertIn("the policy of bucket pub was not set: the bucket's "
                      "PublicAccessBlock (BlockPublicPolicy) refuses public policies",
                      str(raised.exception))
        self.assertNotIn("\n", str(raised.exception))
        await helper.set_bucket_config(bucket.bucket_id, "public_access_block",
                                       (False, False, False, False))
        self.assertIn("Public access block: set, every flag off\n",
                      await self.garage("bucket info pub"))

        with open(path, "w") as f:
            f.write(json.dumps({"Statement": [{
                "Effect": "Allow", "NotPrincipal": {"AWS": "*"}, "Action": "s3:*",
                "Resource": "arn:aws:s3:::pub/*"}]}))
        with self.assertRaises(CliError) as raised:
            await self.garage(f"bucket policy pub set {path}")
        self.assertIn("the policy of bucket pub was not set: NotPrincipal is not supported",
                      str(raised.exception))
        out = await self.garage("bucket policy pub delete")
        self.assertEqual(out, "The policy of bucket pub is deleted.\nPublic: yes, because\n"
                         "  bucket ACL public-read-write lets everyone list and write "
                         "objects in it\n")
        self.assertIn("Policy: none\n", await self.garage("bucket info pub"))
