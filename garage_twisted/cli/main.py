"""``garage``: the command-line tool of a garage-twisted node.

Verbs follow Garage's CLI (``status``, ``node id``, ``key ...``,
``bucket ...``, ``layout ...``; see :mod:`garage_twisted.cli.parser`).
Every verb but ``node id`` talks to the node's admin API (see
:mod:`garage_twisted.cli.client`).

Exit status: 0 on success; 1 with one line on stderr for any error (the
admin API's message, an unreachable node, a bad value), never a traceback;
2 for a malformed command line (argparse's usage line). When the reader of
stdout goes away early (``garage bucket list | head``) the command ends
silently, killed by SIGPIPE, as Unix tools do.
"""

import os
import signal
import sys

import treq
from twisted.web.client import HTTPConnectionPool

from garage_twisted.cli.client import AdminClient, admin_url_from_config, load_cli_config
from garage_twisted.cli.parser import build_parser
from garage_twisted.util.errors import GarageError

__all__ = ["build_parser", "main", "run_command"]


async def run_command(reactor, args, out, http=None) -> None:
    """Run parsed ``args``, printing to ``out``: a command that reads this
    machine's files (``offline``), or one that calls the admin API.

    :param http: a treq-like client (default: treq with a fresh pool).
    :raises GarageError: for the user to read (``CliError``, ``ConfigError``).
    """
    if args.run is None:
        args.offline(args, out)
        return
    args.loaded_config = None
    if args.admin_url:
        base_url, token = args.admin_url, args.admin_token
    else:
        config = args.loaded_config = load_cli_config(args)
        base_url = admin_url_from_config(config)
        token = args.admin_token or (config.admin.admin_token if config.admin else None)
    if http is None:
        http = _TreqWithPool(HTTPConnectionPool(reactor, persistent=False))
    await args.run(AdminClient(http, base_url, token), args, out)


class _TreqWithPool:
    """treq's module functions bound to one connection pool."""

    def __init__(self, pool):
        self.pool = pool

    def request(self, method, url, **kwargs):
        return treq.request(method, url, pool=self.pool, **kwargs)

    def content(self, response):
        return treq.content(response)


def error_line(error: BaseException) -> str:
    """The one line a failed command prints on stderr."""
    if isinstance(error, GarageError):
        return f"garage: {error}"
    # Not a deliberate error: still one line, naming what broke.
    return f"garage: unexpected error ({type(error).__name__}: {error}); please report it"


def main(argv=None) -> None:
    """The ``garage`` command (see the module docstring for exit statuses)."""
    try:
        args = build_parser().parse_args(argv)
        error = _run_in_reactor(args)
        sys.stdout.flush()
    except BrokenPipeError:
        _end_on_closed_stdout()
    except SystemExit:
        # argparse's --help (0) or usage error (2): its text still has to go out.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _end_on_closed_stdout()
        raise
    if isinstance(error, BrokenPipeError):
        _end_on_closed_stdout()
    if error is not None:
        print(error_line(error), file=sys.stderr)
        sys.exit(1)
    sys.exit(0)


def _run_in_reactor(args):
    """Run the command in a reactor; returns the exception it ended with, or
    ``None``."""
    from twisted.internet.defer import ensureDeferred
    from twisted.internet.task import react

    outcome = []

    def run(reactor):
        d = ensureDeferred(run_command(reactor, args, sys.stdout))
        # Flushed here so that a closed pipe is one more outcome, not an
        # "Exception ignored" at interpreter exit.
        d.addCallback(lambda _: sys.stdout.flush())
        d.addErrback(lambda failure: outcome.append(failure.value))
        return d

    try:
        react(run)
    except SystemExit:
        pass  # react always exits; the outcome says how it went
    return outcome[0] if outcome else None


def _end_on_closed_stdout() -> None:
    """Whoever read stdout is gone (``| head``): end silently, killed by
    SIGPIPE as a Unix tool is (Python ignores SIGPIPE, hence the
    BrokenPipeError that brought us here)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the exit's final flush must not fail again
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    sys.exit(128 + signal.SIGPIPE)  # where the signal does not end the process


if __name__ == "__main__":
    main()
