"""The real ``garage`` program, as a user runs it, against a node in this
reactor: a pipe closed early, the admin API's errors, ``--help``, and the
``--local`` aliases that once crashed it."""

import os
import sys

from twisted.internet import defer, protocol, reactor
from twisted.trial.unittest import TestCase

from tests.support.node import NodeFixture
from tests.support.process import run, tool


class _Ended(protocol.ProcessProtocol):
    """A child process whose stderr is kept and whose end is awaited."""

    def __init__(self):
        self.err = []
        self.ended = defer.Deferred()

    def childDataReceived(self, fd, data):
        if fd == 2:
            self.err.append(data)

    def processEnded(self, reason):
        self.ended.callback((reason.value.exitCode, getattr(reason.value, "signal", None)))


class CliProcessTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture = await NodeFixture.start(self)
        self.base = ["--admin-url", self.fixture.admin_url,
                     f"--admin-token={self.fixture.admin_token}"]

    async def garage(self, *argv, check=False):
        return await run(tool("garage"), *self.base, *argv, check=check)

    async def piped_to_head(self, *argv):
        """``garage *argv | head``, with the reader gone before garage writes
        (the pipe is built by hand, without a shell, to see garage's own exit
        and stderr); returns (exit code, signal, stderr)."""
        read_end, write_end = os.pipe()
        head = _Ended()
        reactor.spawnProcess(head, sys.executable, [sys.executable, "-c", "pass"],
                             childFDs={0: read_end, 1: "r", 2: "r"})
        os.close(read_end)
        await head.ended
        garage = _Ended()
        reactor.spawnProcess(garage, tool("garage"), [tool("garage"), *self.base, *argv],
                             env=dict(os.environ), childFDs={0: "w", 1: write_end, 2: "r"})
        os.close(write_end)
        code, signal = await garage.ended
        return code, signal, b"".join(garage.err).decode()

    async def test_output_into_a_closed_pipe_ends_quietly(self):
        """``garage bucket list | head``, ``garage --help | head``: no
        traceback, no "Exception ignored"; garage ends as a Unix tool does,
        by SIGPIPE."""
        for i in range(3):
            await self.fixture.node.helper.create_bucket(f"bucket-{i}")
        code, signal, err = await self.piped_to_head("bucket", "list")
        self.assertEqual((code, signal, err), (None, 13, ""))
        for argv in (("--help",), ("bucket", "--help"), ("bucket", "set-quotas", "--help")):
            # argparse itself ignores the failed write of its help text:
            # garage then ends with status 0, as quietly.
            code, signal, err = await self.piped_to_head(*argv)
            self.assertEqual(err, "", argv)
            self.assertIn((code, signal), [(None, 13), (0, None)], argv)

    async def test_admin_api_errors_are_one_line_and_exit_1(self):
        """What the admin API refuses comes back as its message on one line of
        stderr, exit status 1, never a traceback."""
        cases = [
            (("bucket", "info", "no-such-bucket"), "not found"),
            (("key", "info", "no-such-key"), "no-such-key"),
            (("bucket", "create", "x"), "invalid bucket name"),
            (("layout", "apply", "--version", "7"), "version"),
            (("repair", "--yes", "versions"), "the versions repair is not built"),
            (("worker", "set", "resync-worker-count", "99"), "between 1 and 8"),
            (("layout", "config", "-r", "lots"), "zone redundancy must be"),
        ]
        for argv, message in cases:
            out, err, code = await self.garage(*argv)
            self.assertEqual(code, 1, (argv, err))
            self.assertEqual(len(err.strip().splitlines()), 1, (argv, err))
            self.assertTrue(err.startswith("garage: "), (argv, err))
            self.assertIn(message, err, argv)
            self.assertNotIn("Traceback", err, argv)
        out, err, code = await run(tool("garage"), "--admin-url", self.fixture.admin_url,
                                   "--admin-token=wrong", "status", check=False)
        self.assertEqual((code, len(err.strip().splitlines())), (1, 1), err)

    async def test_local_aliases(self):
        """``bucket alias --local KEY BUCKET ALIAS`` and ``unalias --local``
        (they crashed with "'str' object is not callable")."""
        key = await self.fixture.create_key("owner")
        await self.fixture.create_bucket("photos", key)
        out, err, code = await self.garage("bucket", "alias", "--local", key.key_id,
                                           "photos", "pics")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("Alias pics now points to bucket", out)
        refreshed = await self.fixture.node.helper.get_existing_key(key.key_id)
        self.assertIsNotNone(refreshed.params.local_aliases.get("pics"))
        out, err, code = await self.garage("bucket", "unalias", "--local", key.key_id, "pics")
        self.assertEqual((code, err), (0, ""))
        refreshed = await self.fixture.node.helper.get_existing_key(key.key_id)
        self.assertIsNone(refreshed.params.local_aliases.get("pics"))

    async def test_set_quotas(self):
        """``bucket set-quotas`` sets and removes a bucket's quotas."""
        key = await self.fixture.create_key("owner")
        await self.fixture.create_bucket("photos", key)
        out, err, code = await self.garage("bucket", "set-quotas", "photos",
                                           "--max-size", "10G", "--max-objects", "1000")
        self.assertEqual((code, err), (0, ""))
        bucket = await self.fixture.node.helper.find_bucket("photos")
        quotas = bucket.params.quotas.value
        self.assertEqual((quotas.max_size, quotas.max_objects), (10 ** 10, 1000))
        out, err, code = await self.garage("bucket", "set-quotas", "photos",
                                           "--max-size", "none", "--max-objects", "none")
        self.assertEqual((code, err), (0, ""))
        bucket = await self.fixture.node.helper.find_bucket("photos")
        quotas = bucket.params.quotas.value
        self.assertEqual((quotas.max_size, quotas.max_objects), (None, None))
