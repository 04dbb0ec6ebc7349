"""A small real file system for disk-full tests: a tmpfs mounted by the test.

CI runs as root, so mounting works there; where the kernel or the sandbox
refuses the mount, the test is skipped with the reason it gave.
"""

import os
import subprocess

from twisted.trial.unittest import SkipTest


def mount_small_tmpfs(testcase, path: str, size: str = "50m") -> str:
    """Mount a tmpfs of ``size`` at ``path`` (created), unmounted at cleanup.

    Register it before the processes that use it, so that cleanup (last in,
    first out) stops them before the unmount.
    """
    os.makedirs(path, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                             path], capture_output=True, text=True)
    if result.returncode != 0:
        raise SkipTest(f"cannot mount a tmpfs for the disk-full test: "
                       f"{result.stderr.strip() or result.returncode}")
    testcase.addCleanup(subprocess.run, ["umount", "-l", path], capture_output=True)
    return path


def fill(directory: str) -> str:
    """Write a file in ``directory`` until its file system is full, down to
    the last byte. Blocking: run it in a thread.

    :returns: the file's path (remove it to free the space).
    """
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return path
