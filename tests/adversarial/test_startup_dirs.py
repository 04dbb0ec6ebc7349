"""Unusable directories are caught at start (issue 22, defect 9), against real ``twistd garage``.

A ``metadata_dir`` that could not be created printed a Python traceback; a
``data_dir`` that could not be created went unnoticed (the node said
ready, and failed its first PUT). Each is now one ``garage: ...`` line on
stderr and exit status 1, before the node says ready.

The suite runs as root, whom permissions do not stop: the directories are
made uncreatable by a regular file in their path, or by a path under
``/proc`` (where nobody creates directories).
"""

import os

from twisted.trial.unittest import TestCase

from tests.support.process import write_config
from tests.support.watched import WatchedNode


def _config_with(base: str, **paths: str) -> str:
    """``write_config``'s file with some directory keys set to ``paths``."""
    config = write_config(base)
    with open(config) as f:
        lines = f.read().splitlines()
    for key, value in paths.items():
        lines = [f'{key} = "{value}"' if line.startswith(f"{key} =") else line
                 for line in lines]
    with open(config, "w") as f:
        f.write("\n".join(lines) + "\n")
    return config


class StartupDirectoryTests(TestCase):
    timeout = 60

    def setUp(self):
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        # A regular file: nothing can be created under it, not even by root.
        self.blocker = os.path.join(self.base, "blocker")
        with open(self.blocker, "w") as f:
            f.write("not a directory\n")

    async def assert_refused(self, config: str, expected: str):
        """The node exits with status 1 before it says ready, with exactly
        ``expected`` as its one line on stderr and no traceback anywhere."""
        node = WatchedNode.spawn(config)
        try:
            await node.ready
        except RuntimeError:
            pass
        else:
            await node.kill("TERM")
            self.fail("the node said ready:\n" + node.text())
        await node.ended
        self.assertEqual(node.exit_code, 1, node.text())
        self.assertNotIn("Traceback", node.text())
        self.assertEqual(node.stderr().splitlines(), [expected])

    async def test_metadata_dir_under_a_file(self):
        """A metadata_dir under a regular file: one line, exit 1."""
        meta = os.path.join(self.blocker, "meta")
        config = _config_with(self.base, metadata_dir=meta)
        await self.assert_refused(
            config, f"garage: cannot create metadata_dir {meta}: Not a directory")

    async def test_data_dir_under_a_file(self):
        """A data_dir under a regular file: one line, exit 1, not ready."""
        data = os.path.join(self.blocker, "data")
        config = _config_with(self.base, data_dir=data)
        await self.assert_refused(
            config, f"garage: cannot create data_dir {data}: Not a directory")

    async def test_data_dir_under_proc(self):
        """A data_dir where the file system creates nothing (/proc): one
        line, exit 1, not ready."""
        data = "/proc/garage-twisted-test/data"
        config = _config_with(self.base, data_dir=data)
        await self.assert_refused(
            config, f"garage: cannot create data_dir {data}: No such file or directory")

    async def test_metadata_dir_is_a_file(self):
        """A metadata_dir that is a regular file: one line, exit 1."""
        config = _config_with(self.base, metadata_dir=self.blocker)
        await self.assert_refused(
            config, f"garage: cannot create metadata_dir {self.blocker}: a file of that "
                    "name is in the way")
