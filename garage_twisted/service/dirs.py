"""Start-up checks of the node's directories: each exists, is private, and takes a write.

``metadata_dir`` holds every S3 secret key (in LevelDB) and the node's
private key; ``data_dir`` holds every object's bytes. Before the node opens
anything in them (and so before it says ready), :func:`prepare_directories`:

- creates each directory that is missing, mode ``PRIVATE_DIR_MODE``;
- tightens one that exists with group or world access to
  ``PRIVATE_DIR_MODE``, with a warning saying so (PostgreSQL refuses to
  start on such a data directory; Garage neither checks nor creates it
  private. Tightening keeps a node that an old version or a umask of 022 set
  up working, and closes the hole at once). The LevelDB directory and the
  secret files inside ``metadata_dir`` get the same treatment, so copying
  ``metadata_dir`` elsewhere with its modes keeps them closed;
- writes a probe file in each writable directory, fsyncs it and removes it:
  a directory on a read-only or broken mount is found now, not at the first
  PUT after the node has said ready.

Any failure raises :class:`DirectoryError` with one line naming the
configuration key, the path and the system's reason; ``GarageNode`` prints
it as ``garage: ...`` and exits with status 1. The file I/O is blocking,
which is acceptable here: it runs once, in ``startService``, before any
listener is bound.
"""

import os
import stat

from twisted.logger import Logger

from garage_twisted.db.recovery import write_probe_file
from garage_twisted.util.errors import GarageError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# Inside metadata_dir: what must never be readable by another local user.
# (Names owned by their modules: db.leveldb by GarageNode, node_key by
# net/keys.py, cluster_secret by util/config.py.)
SECRET_DIRS = ("db.leveldb",)
SECRET_FILES = ("node_key", "cluster_secret")

log = Logger()


class DirectoryError(GarageError):
    """A directory of the node cannot be created or written to."""

    code = "DirectoryError"


def prepare_directories(config) -> None:
    """Create, tighten and probe ``metadata_dir`` and every ``data_dir``.

    :param config: the node's :class:`~garage_twisted.util.config.Config`.
    :raises DirectoryError: on the first directory that is not usable.
    """
    metadata_dir = config.metadata_dir
    prepare_directory(metadata_dir, "metadata_dir")
    for name in SECRET_DIRS:
        _tighten(os.path.join(metadata_dir, name), PRIVATE_DIR_MODE)
    for name in SECRET_FILES:
        _tighten(os.path.join(metadata_dir, name), PRIVATE_FILE_MODE)
    for data_dir in config.data_dirs:
        prepare_directory(data_dir.path, "data_dir", writable=not data_dir.read_only)


def prepare_directory(path: str, what: str, writable: bool = True) -> None:
    """Make ``path`` an existing private directory that takes a write.

    :param what: the configuration key, for the error message.
    :param writable: ``False`` for a read-only ``data_dir``: it must exist,
        nothing is created or written.
    :raises DirectoryError: with one readable line.
    """
    try:
        if writable:
            # The directory itself is private; missing parents get the
            # process umask's default (077 under twistd garage), which is
            # enough: nothing of the node lives in them.
            os.makedirs(path, mode=PRIVATE_DIR_MODE, exist_ok=True)
        if not os.path.exists(path):
            raise DirectoryError(f"{what} {path} does not exist")
        if not os.path.isdir(path):
            raise DirectoryError(f"{what} {path} is not a directory")
    except FileExistsError:
        raise DirectoryError(f"cannot create {what} {path}: a file of that name "
                             "is in the way") from None
    except OSError as e:
        raise DirectoryError(f"cannot create {what} {path}: {e.strerror}") from None
    _tighten(path, PRIVATE_DIR_MODE)
    if writable:
        _probe(path, what)


def _tighten(path: str, mode: int) -> None:
    """Take group and world access away from ``path`` if it has any."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    except OSError as e:
        raise DirectoryError(f"cannot read the mode of {path}: {e.strerror}") from None
    if not current & 0o077:
        return
    try:
        os.chmod(path, current & mode)
    except OSError as e:
        log.warn("{path} is open to other local users (mode {mode:o}) and could not be "
                 "restricted: {error}", path=path, mode=current, error=e.strerror)
        return
    log.warn("{path} was open to other local users (mode {mode:o}): restricted to "
             "{new:o}", path=path, mode=current, new=current & mode)


def _probe(path: str, what: str) -> None:
    """Write, fsync and remove a small file in ``path``."""
    try:
        write_probe_file(path, size=4096)
    except OSError as e:
        raise DirectoryError(f"cannot write to {what} {path}: {e.strerror}") from None
