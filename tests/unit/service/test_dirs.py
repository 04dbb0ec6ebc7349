"""Start-up checks of the node's directories (``service/dirs.py``), on real files."""

import os
import stat
from types import SimpleNamespace

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.recovery import PROBE_NAME
from garage_twisted.service.dirs import (
    DirectoryError,
    prepare_directories,
    prepare_directory,
)
from garage_twisted.util.config import DataDir


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


class PrepareDirectoriesTests(SynchronousTestCase):

    def setUp(self):
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        old = os.umask(0o022)
        self.addCleanup(os.umask, old)

    def config(self, meta="meta", data=("data",), read_only=False):
        return SimpleNamespace(
            metadata_dir=os.path.join(self.base, meta),
            data_dirs=tuple(DataDir(os.path.join(self.base, d), read_only=read_only)
                            for d in data))

    def test_created_private_and_probed(self):
        """Missing directories (with missing parents) are created 0700 under
        umask 022, and the probe file is gone afterwards."""
        config = self.config(meta="m/meta", data=("d/data", "d2"))
        prepare_directories(config)
        for path in (config.metadata_dir, *(d.path for d in config.data_dirs)):
            self.assertEqual(_mode(path), 0o700, path)
        for path in (config.metadata_dir, *(d.path for d in config.data_dirs)):
            self.assertEqual(os.listdir(path), [])

    def test_existing_open_directories_and_secrets_tightened(self):
        """Existing directories open to others become 0700; the LevelDB
        directory and the secret files lose group and world access; other
        files are left alone."""
        config = self.config()
        meta = config.metadata_dir
        os.makedirs(os.path.join(meta, "db.leveldb"), mode=0o755)
        os.chmod(meta, 0o755)
        for name in ("node_key", "cluster_secret", "node.json"):
            with open(os.path.join(meta, name), "w") as f:
                f.write("x")
            os.chmod(os.path.join(meta, name), 0o644)
        os.makedirs(config.data_dirs[0].path, mode=0o775)
        os.chmod(config.data_dirs[0].path, 0o775)
        prepare_directories(config)
        self.assertEqual(_mode(meta), 0o700)
        self.assertEqual(_mode(os.path.join(meta, "db.leveldb")), 0o700)
        self.assertEqual(_mode(os.path.join(meta, "node_key")), 0o600)
        self.assertEqual(_mode(os.path.join(meta, "cluster_secret")), 0o600)
        self.assertEqual(_mode(os.path.join(meta, "node.json")), 0o644)
        self.assertEqual(_mode(config.data_dirs[0].path), 0o700)

    def test_under_a_file_is_one_line(self):
        """A directory that cannot be created raises DirectoryError naming the
        key, the path and the reason."""
        blocker = os.path.join(self.base, "blocker")
        with open(blocker, "w") as f:
            f.write("x")
        with self.assertRaises(DirectoryError) as caught:
            prepare_directory(os.path.join(blocker, "data"), "data_dir")
        self.assertEqual(str(caught.exception),
                         f"cannot create data_dir {blocker}/data: Not a directory")
        with self.assertRaises(DirectoryError) as caught:
            prepare_directory(blocker, "metadata_dir")
        self.assertIn("a file of that name is in the way", str(caught.exception))

    def test_read_only_data_dir_must_exist_and_is_not_written(self):
        """A read-only data_dir is neither created nor probed."""
        config = self.config(data=("ro",), read_only=True)
        with self.assertRaises(DirectoryError) as caught:
            prepare_directories(config)
        self.assertIn("does not exist", str(caught.exception))
        os.makedirs(config.data_dirs[0].path, mode=0o700)
        prepare_directories(config)
        self.assertFalse(os.path.exists(os.path.join(config.data_dirs[0].path, PROBE_NAME)))
