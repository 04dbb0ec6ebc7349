"""The process's limit on open file descriptors (``RLIMIT_NOFILE``).

Distributions start processes with a soft limit of 1,024 descriptors and a
far higher hard one; every client connection, peer, LevelDB table file and
block file takes one. The node raises its soft limit to the hard one at
start (``raise_open_files_limit``, as it builds its listeners) and sizes its
connection caps from the result (``api/limits.py``), so running out of
descriptors is a cap answered with 503, not a node that can no longer
accept, open a block, or write its database.
"""

import resource

# Where the hard limit is unlimited, the kernel still refuses a soft limit
# above its own ceiling (Linux: /proc/sys/fs/nr_open, 1,048,576 by default).
UNLIMITED_TARGET = 1 << 20


def open_files_limit() -> int:
    """The soft limit on open descriptors now."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return UNLIMITED_TARGET if soft == resource.RLIM_INFINITY else soft


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft limit to the hard limit, where the system allows.

    :returns: ``(before, after)``, the soft limit before and after.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = open_files_limit()
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass  # the caller logs the figure that holds
    return before, open_files_limit()
