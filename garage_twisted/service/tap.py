"""``twistd garage``: command-line options and the service they build.

This module is the only one below the CLI that imports the global reactor:
it hands it to :class:`~garage_twisted.service.node.GarageNode`, which passes
it down. ``makeService`` reads the configuration file (so a bad file fails
before twistd daemonizes, with one clear line) but opens no database and no
socket: that happens in ``startService``.
"""

import os
import sys

from twisted.python import usage

from garage_twisted.util.config import load_config
from garage_twisted.util.errors import ConfigError


class Options(usage.Options):
    """Options of ``twistd garage``."""

    synopsis = "[-c /etc/garage.toml]"
    longdesc = (
        "Run one node of a garage-twisted cluster: the S3 API, the admin API "
        "and the cluster's storage, configured by a Garage-style TOML file "
        "(metadata_dir, data_dir, replication_factor, rpc_bind_addr, "
        "rpc_secret, [s3_api], [admin], ...). Once its listeners are up, the "
        "node writes <metadata_dir>/node.json with its id and bound ports."
    )
    optParameters = [
        ["config", "c", None,
         "Path of the configuration file (default: $GARAGE_CONFIG_FILE or "
         "/etc/garage.toml)."],
        ["join", None, None,
         "Join the cluster of an invitation (the line `garage node invite` "
         "prints on a member): its secret is used (and kept in metadata_dir, "
         "so later starts need no --join) and its node is dialled. "
         "`--join -` reads the invitation from standard input. An invitation "
         "written here is visible to every local user (in the process list) "
         "for as long as the node runs: prefer `--join -` or --join-file."],
        ["join-file", None, None,
         "Join the cluster of the invitation held in this file (as --join)."],
    ]

    def postOptions(self):
        import os

        path = self["config"] or os.environ.get("GARAGE_CONFIG_FILE") or "/etc/garage.toml"
        self["config"] = path
        if self["join"] is not None and self["join-file"] is not None:
            raise usage.UsageError("give --join or --join-file, not both")


def _read_invitation(options) -> str | None:
    """The invitation line of ``--join LINE``, ``--join -`` (standard input)
    or ``--join-file PATH``, or ``None``.

    :raises InvitationError: when it cannot be read.
    """
    from garage_twisted.net.invite import InvitationError

    if options["join-file"] is not None:
        path = options["join-file"]
        try:
            with open(path) as f:
                line = f.readline()
        except OSError as e:
            raise InvitationError(f"cannot read the invitation file {path}: "
                                  f"{e.strerror}") from None
        if not line.strip():
            raise InvitationError(f"the invitation file {path} is empty")
        return line
    if options["join"] == "-":
        line = sys.stdin.readline()
        if not line.strip():
            raise InvitationError("--join -: no invitation on standard input")
        return line
    return options["join"]


GC_YOUNG_THRESHOLD = 20_000
PROCESS_UMASK = 0o077


# Block buffers (1 MiB) come from malloc's heap, not from mmap; freed heap
# memory is given back to the system only past this much at the top.
MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 32 * 1024 * 1024


def _tune_malloc(arenas: int = 2) -> None:
    """glibc malloc settings for a process that streams 1 MiB buffers.

    Arenas: each thread that allocates may get an arena of its own (default:
    8 per core), and freed block buffers then stay mapped in many of them:
    the node's resident size grows with its thread count. Two arenas keep
    the thread pool's buffers reusable.

    Thresholds: by default an allocation above 128 KiB (a socket read of
    256 KiB, a 1 MiB block) is a fresh ``mmap``, and its ``munmap`` on
    free. Every such buffer then costs 256 page faults per MiB, the kernel
    zeroing each page, and an ``munmap`` that must flush the other threads'
    TLBs. glibc raises that threshold on its own, but trims the heap again
    as soon as its free top passes twice the threshold, so a stream of
    blocks faulted most of its pages in anew: 90 to 240 faults per MiB on a
    replica of a 3-node 64 MiB PUT. With the thresholds fixed they fell to
    1 or 2, and the replicas' system CPU from 1.3-1.6 to 0.7-1.1 ms per
    MiB. Freed buffers are reused from the heap; what stays
    mapped is bounded by the peak of buffers in flight plus
    ``TRIM_THRESHOLD`` per arena, until the heap trimmer
    (``service/heap.py``) returns the free pages. A no-op
    where glibc's ``mallopt`` is missing.
    """
    from garage_twisted.util.glibc import libc_function

    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
    mallopt = libc_function("mallopt")
    if mallopt is None:
        return
    mallopt(M_ARENA_MAX, arenas)
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def _tune_garbage_collector() -> None:
    """Shorter, rarer collector pauses on the reactor thread.

    Every request in flight waits while Python's cyclic collector runs, and
    a full collection walks every live object: with the node's caches that
    took up to 250 ms. Objects alive at start (modules, classes) are moved
    out of the collector's sight (``gc.freeze``), and the youngest
    generation is collected every 20,000 allocations instead of 700: most
    of a request's objects are then freed before they would be promoted
    (and later walked by full collections). Only the twistd process does
    this; tests running many nodes in one process keep Python's defaults.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


def tune_process() -> None:
    """The allocator and collector settings of a node's process (both
    above); also for benchmarks that run a node in their own process, so
    that they measure what twistd runs."""
    _tune_malloc()
    _tune_garbage_collector()


# Twisted's TLS support, which its reactor, endpoints and web modules import
# whenever pyOpenSSL is installed (pip brings it in beside Twisted).
TLS_MODULES = ("OpenSSL", "service_identity")


def _keep_tls_out() -> None:
    """Keep pyOpenSSL and service_identity out of the node's process.

    The node speaks no TLS: its S3, website and admin listeners are plain
    TCP (a proxy in front terminates HTTPS) and its peer connections are
    encrypted by Noise. Yet Twisted imports its TLS support when pyOpenSSL
    can be imported, with ``cryptography``'s OpenSSL bindings: 12 MB of
    the idle node's resident memory. Twisted guards every one of those
    imports (TLS is an optional extra), so marking the modules missing
    before the reactor is imported makes it run as without the extra.
    Only ``twistd garage`` does this: a process that already imported the
    reactor (a test, a script) is left as it is.
    """
    if "twisted.internet.reactor" in sys.modules:
        return
    for name in TLS_MODULES:
        if name not in sys.modules:
            sys.modules[name] = None


def makeService(options):
    """Build the node's service tree from ``options``; no I/O but the config."""
    _keep_tls_out()
    from twisted.internet import reactor

    # Every file the node creates (LevelDB, keys, blocks, snapshots, the
    # twistd log) is for its own user alone: the metadata holds every S3
    # secret key. Set before any of them exists; twistd's --umask, applied
    # later, still wins.
    os.umask(PROCESS_UMASK)
    tune_process()

    from garage_twisted.service.node import GarageNode

    from dataclasses import replace

    from garage_twisted.net.invite import InvitationError, parse_invitation

    try:
        line = _read_invitation(options)
        invitation = parse_invitation(line) if line is not None else None
        config = load_config(options["config"], join_secret=invitation and
                             invitation.rpc_secret_hex)
    except (ConfigError, InvitationError) as e:
        # twistd would print a traceback for an exception; one line is what
        # a person editing a file needs.
        sys.stderr.write(f"garage: {e}\n")
        sys.exit(1)
    if invitation is None:
        node = GarageNode(config, reactor)
    else:
        config = replace(config,
                         bootstrap_peers=config.bootstrap_peers + (str(invitation.peer),))
        node = GarageNode(config, reactor, remember_secret=True)
    _install_heap_trimmer(node, reactor)
    return node


def _install_heap_trimmer(node, reactor) -> None:
    """Freed heap memory goes back to the system every ``TRIM_INTERVAL``
    seconds (``service/heap.py``).

    The trimmer is the node's first child: it starts first and stops last,
    after the node's own ``io`` pool. So it runs in the reactor's thread
    pool, which twistd stops only after every service (during shutdown,
    services stop before it); a trim asked of a stopped pool fails at once
    instead of waiting forever.
    """
    from twisted.internet import defer
    from twisted.internet.threads import deferToThreadPool

    from garage_twisted.service.heap import HeapTrimmer, glibc_trim

    trim = glibc_trim()
    if trim is None:
        return

    def run_in_thread(f):
        pool = reactor.getThreadPool()
        if pool.joined:
            return defer.fail(RuntimeError("the reactor's thread pool has stopped"))
        return deferToThreadPool(reactor, pool, f)

    HeapTrimmer(reactor, run_in_thread, trim).setServiceParent(node)
