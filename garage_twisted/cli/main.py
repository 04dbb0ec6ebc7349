"""``garage``: the command-line tool of a garage-twisted node.

Verbs follow Garage's CLI (``status``, ``node id``, ``key ...``,
``bucket ...``, ``layout ...``). Every verb but ``node id`` talks to the
node's admin API (see :mod:`garage_twisted.cli.client`). Errors are one line
on stderr and exit status 1.
"""

import argparse
import os
import sys

import treq
from twisted.web.client import HTTPConnectionPool

from garage_twisted.cli import commands, maintenance
from garage_twisted.cli.client import AdminClient, CliError, admin_url_from_config
from garage_twisted.net.keys import read_node_id
from garage_twisted.util.config import load_config
from garage_twisted.util.errors import GarageError


def _all_nodes(parser) -> None:
    parser.add_argument("-a", "--all-nodes", action="store_true",
                        help="every node of the cluster, not only this one")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="garage", description=(
        "Manage a garage-twisted node and its cluster through the node's admin API."))
    parser.add_argument("-c", "--config", default=None,
                        help="configuration file (default: $GARAGE_CONFIG_FILE or "
                             "/etc/garage.toml)")
    parser.add_argument("--admin-url", default=os.environ.get("GARAGE_ADMIN_URL"),
                        help="admin API URL (default: from the configuration)")
    parser.add_argument("--admin-token", default=os.environ.get("GARAGE_ADMIN_TOKEN"),
                        help="admin API bearer token (default: from the configuration)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    verbs.add_parser("status", help="show the nodes of the cluster").set_defaults(
        run=commands.status)

    node = verbs.add_parser("node", help="this node").add_subparsers(dest="sub", required=True)
    node_id = node.add_parser("id", help="print this node's id@address")
    node_id.add_argument("-q", "--quiet", action="store_true", help="only print id@address")
    node_id.set_defaults(run=None, local=node_id_command)
    p = node.add_parser("invite", help="print a line a new machine joins the cluster with "
                        "(twistd garage --join LINE); it holds the cluster's secret")
    p.set_defaults(run=commands.node_invite)
    p = node.add_parser("connect", help="connect to another node (<node id>@<host>:<port>)")
    p.add_argument("peer", metavar="NODE_ID@HOST:PORT")
    p.set_defaults(run=commands.node_connect)

    p = verbs.add_parser("stats", help="tables, queues and blocks of this node (or every "
                         "node), and the cluster's free space")
    _all_nodes(p)
    p.set_defaults(run=maintenance.stats)
    worker = verbs.add_parser("worker", help="background workers").add_subparsers(
        dest="sub", required=True)
    p = worker.add_parser("list", help="list the workers")
    _all_nodes(p)
    p.add_argument("-b", "--busy", action="store_true", help="only busy workers")
    p.add_argument("-e", "--errors", action="store_true", help="only workers with errors")
    p.set_defaults(run=maintenance.worker_list)
    p = worker.add_parser("info", help="one worker of this node")
    p.add_argument("tid", type=int, metavar="TID")
    p.set_defaults(run=maintenance.worker_info)
    p = worker.add_parser("get", help="worker variables (resync-tranquility, ...)")
    _all_nodes(p)
    p.add_argument("variable", nargs="?")
    p.set_defaults(run=maintenance.worker_get)
    p = worker.add_parser("set", help="set a worker variable")
    _all_nodes(p)
    p.add_argument("variable")
    p.add_argument("value")
    p.set_defaults(run=maintenance.worker_set)
    block = verbs.add_parser("block", help="blocks").add_subparsers(dest="sub", required=True)
    block.add_parser("list-errors", help="blocks whose resync failed").set_defaults(
        run=commands.block_list_errors)
    p = block.add_parser("info", help="a block's references (hash or prefix)")
    p.add_argument("hash", metavar="HASH")
    p.set_defaults(run=maintenance.block_info)
    p = block.add_parser("retry-now", help="resync blocks now (--all, or given hashes)")
    p.add_argument("--all", action="store_true", help="every queued block")
    p.add_argument("hashes", nargs="*", metavar="HASH")
    p.set_defaults(run=commands.block_retry_now)
    p = block.add_parser("purge", help="delete every object and upload using lost blocks")
    p.add_argument("--yes", action="store_true", help="confirm")
    p.add_argument("hashes", nargs="+", metavar="HASH")
    p.set_defaults(run=maintenance.block_purge)
    p = verbs.add_parser("repair", help="launch a repair (tables, blocks, scrub CMD, ...)")
    _all_nodes(p)
    p.add_argument("--yes", action="store_true", help="confirm")
    p.add_argument("what", choices=sorted([*maintenance.REPAIRS, "scrub"]))
    p.add_argument("command", nargs="?", help="for scrub: start, pause, resume or cancel")
    p.set_defaults(run=maintenance.repair)
    meta = verbs.add_parser("meta", help="metadata database").add_subparsers(
        dest="sub", required=True)
    p = meta.add_parser("snapshot", help="copy the metadata database now")
    _all_nodes(p)
    p.set_defaults(run=maintenance.meta_snapshot)

    key = verbs.add_parser("key", help="access keys").add_subparsers(dest="sub", required=True)
    p = key.add_parser("create", help="create a key")
    p.add_argument("name", nargs="?")
    p.set_defaults(run=commands.key_create)
    key.add_parser("list", help="list keys").set_defaults(run=commands.key_list)
    p = key.add_parser("info", help="show a key")
    p.add_argument("key", help="key id, id prefix or name")
    p.add_argument("--show-secret", action="store_true")
    p.set_defaults(run=commands.key_info)
    p = key.add_parser("delete", help="delete a key")
    p.add_argument("key")
    p.add_argument("--yes", action="store_true", help="really delete")
    p.set_defaults(run=commands.key_delete)
    for verb, run in (("allow", commands.key_allow), ("deny", commands.key_deny)):
        p = key.add_parser(verb, help=f"{verb} a key to create buckets")
        p.add_argument("key")
        p.add_argument("--create-bucket", action="store_true")
        p.set_defaults(run=run)
    p = key.add_parser("rename", help="rename a key")
    p.add_argument("key")
    p.add_argument("new_name")
    p.set_defaults(run=commands.key_rename)
    p = key.add_parser("import", help="import an existing key id and secret")
    p.add_argument("key_id")
    p.add_argument("secret_key")
    p.add_argument("-n", "--name")
    p.set_defaults(run=commands.key_import)

    bucket = verbs.add_parser("bucket", help="buckets").add_subparsers(dest="sub", required=True)
    p = bucket.add_parser("create", help="create a bucket")
    p.add_argument("name")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(run=commands.bucket_create)
    bucket.add_parser("list", help="list buckets").set_defaults(run=commands.bucket_list)
    p = bucket.add_parser("info", help="show a bucket")
    p.add_argument("name")
    p.set_defaults(run=commands.bucket_info)
    p = bucket.add_parser("delete", help="delete an empty bucket")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true", help="really delete")
    p.set_defaults(run=commands.bucket_delete)
    p = bucket.add_parser("website", help="serve a bucket as a website (or stop)")
    p.add_argument("bucket")
    p.add_argument("--allow", action="store_true", help="serve it on the web endpoint")
    p.add_argument("--deny", action="store_true", help="stop serving it")
    p.add_argument("--index-document", default="index.html")
    p.add_argument("--error-document")
    p.set_defaults(run=commands.bucket_website)
    for verb, run in (("allow", commands.bucket_allow), ("deny", commands.bucket_deny)):
        p = bucket.add_parser(verb, help=f"{verb} a key's rights on a bucket")
        p.add_argument("bucket")
        p.add_argument("--key", required=True)
        p.add_argument("--read", action="store_true")
        p.add_argument("--write", action="store_true")
        p.add_argument("--owner", action="store_true")
        p.set_defaults(run=run)
    p = bucket.add_parser("alias", help="add an alias to a bucket")
    p.add_argument("bucket")
    p.add_argument("alias")
    p.add_argument("--local", metavar="KEY", help="a key-local alias instead of a global one")
    p.set_defaults(run=commands.bucket_alias)
    p = bucket.add_parser("unalias", help="remove a bucket alias")
    p.add_argument("alias")
    p.add_argument("--local", metavar="KEY")
    p.set_defaults(run=commands.bucket_unalias)
    p = bucket.add_parser("cleanup-incomplete-uploads",
                          help="abort the uploads started longer ago than --older-than")
    p.add_argument("--older-than", default="1d", help="e.g. 12h, 1d, 2w (default 1d)")
    p.add_argument("buckets", nargs="+", metavar="BUCKET")
    p.set_defaults(run=maintenance.bucket_cleanup_incomplete_uploads)
    p = bucket.add_parser("inspect-object", help="every stored version of an object")
    p.add_argument("bucket")
    p.add_argument("key")
    p.set_defaults(run=maintenance.bucket_inspect_object)

    layout = verbs.add_parser("layout", help="cluster layout").add_subparsers(
        dest="sub", required=True)
    layout.add_parser("show", help="show the layout and staged changes").set_defaults(
        run=commands.layout_show)
    p = layout.add_parser("assign", help="stage a role for nodes")
    p.add_argument("node_ids", nargs="+", metavar="NODE_ID")
    p.add_argument("-z", "--zone")
    p.add_argument("-c", "--capacity")
    p.add_argument("-g", "--gateway", action="store_true")
    p.add_argument("-t", "--tag", action="append")
    p.set_defaults(run=commands.layout_assign)
    p = layout.add_parser("remove", help="stage the removal of a node")
    p.add_argument("node_id")
    p.set_defaults(run=commands.layout_remove)
    p = layout.add_parser("config", help="stage layout parameters")
    p.add_argument("-r", "--redundancy")
    p.set_defaults(run=commands.layout_config)
    p = layout.add_parser("apply", help="apply the staged changes")
    p.add_argument("--version", type=int)
    p.set_defaults(run=commands.layout_apply)
    layout.add_parser("revert", help="drop the staged changes").set_defaults(
        run=commands.layout_revert)
    layout.add_parser("history", help="show layout versions").set_defaults(
        run=commands.layout_history)
    p = layout.add_parser("skip-dead-nodes", help="let the layout move on without down "
                          "nodes (their trackers are raised to --version)")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--allow-missing-data", action="store_true",
                   help="also for down nodes that still have a role (data only they "
                        "held is given up)")
    p.set_defaults(run=commands.layout_skip_dead_nodes)
    return parser


def _config(args):
    path = args.config or os.environ.get("GARAGE_CONFIG_FILE") or "/etc/garage.toml"
    return load_config(path)


def node_id_command(args, out):
    config = _config(args)
    node_id = read_node_id(config.metadata_dir).hex()
    address = config.rpc_public_addr or str(config.rpc_bind_addr)
    print(f"{node_id}@{address}", file=out)
    if not args.quiet:
        print("\nTo instruct a node to connect to this node, run the following command "
              "on that node:\n"
              f"    garage [-c <config file path>] node connect {node_id}@{address}",
              file=sys.stderr)


async def run_command(reactor, args, out, http=None) -> None:
    args.loaded_config = None
    if args.admin_url:
        base_url, token = args.admin_url, args.admin_token
    else:
        config = args.loaded_config = _config(args)
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


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "local", None) is not None:
        try:
            args.local(args, sys.stdout)
        except GarageError as e:
            print(f"garage: {e}", file=sys.stderr)
            sys.exit(1)
        return
    from twisted.internet.defer import ensureDeferred
    from twisted.internet.task import react

    def _run(reactor):
        d = ensureDeferred(run_command(reactor, args, sys.stdout))

        def failed(failure):
            if failure.check(GarageError, CliError):
                print(f"garage: {failure.value}", file=sys.stderr)
                raise SystemExit(1)
            return failure

        return d.addErrback(failed)

    react(_run)


if __name__ == "__main__":
    main()
