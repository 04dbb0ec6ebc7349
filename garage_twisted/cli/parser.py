"""The ``garage`` command line: verbs, subcommands and flags, as Garage's
v2 CLI names them (``src/garage/cli/structs.rs``) for the verbs built here.

Each leaf sets ``run``: an ``async (client, args, out)`` command of
:mod:`~garage_twisted.cli.commands`, :mod:`~garage_twisted.cli.maintenance_verbs`
or :mod:`~garage_twisted.cli.admin_token_verbs`,
or ``None`` with ``offline`` set for a command that reads this machine's
files instead of calling the admin API (``node id``). No argument may be
named ``run`` or ``offline``: argparse would overwrite the dispatch (a
``--local KEY`` flag once replaced a function of that name, issue 23).
"""

import argparse
import os

from garage_twisted.cli import admin_token_verbs, commands, maintenance_verbs

# The repair kinds, with what each does (Garage's names).
REPAIR_HELP = {
    "tables": "do a full sync of the metadata tables",
    "blocks": "repair (resync or rebalance) the set of stored blocks",
    "versions": "repropagate object deletions to the version table",
    "mpu": "repropagate object deletions to the multipart upload table",
    "block-refs": "repropagate version deletions to the block reference table",
    "block-rc": "recalculate the block reference counters",
    "aliases": "fix inconsistencies in bucket aliases",
    "rebalance": "rebalance data blocks among this node's data directories",
}
SCRUB_HELP = {
    "start": "start a scrub",
    "pause": "pause the scrub (it resumes by itself after 24 hours)",
    "resume": "resume a paused scrub",
    "cancel": "cancel the scrub in progress",
}


def _all_nodes(parser, default=False) -> None:
    parser.add_argument("-a", "--all-nodes", action="store_true", default=default,
                        help="run on every node of the cluster, not only this one")


def _yes(parser, help_text, default=False) -> None:
    parser.add_argument("--yes", action="store_true", default=default, help=help_text)


def _verb(verbs, name, help_text):
    """A verb with subcommands (``garage bucket ...``)."""
    parser = verbs.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")


def _leaf(subs, name, help_text, run):
    parser = subs.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(run=run)
    return parser


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
    _leaf(verbs, "status", "get the network status: the nodes of the cluster",
          commands.status)
    _node_verbs(_verb(verbs, "node", "operations on individual nodes"))
    _layout_verbs(_verb(verbs, "layout", "operations on the assignment of node roles "
                        "in the cluster layout"))
    _bucket_verbs(_verb(verbs, "bucket", "operations on buckets"))
    _key_verbs(_verb(verbs, "key", "operations on S3 access keys"))
    admin_token_verbs.add_verbs(verbs, _verb, _leaf, _yes)
    _repair_verb(verbs)
    p = _leaf(verbs, "stats", "gather node statistics (tables, queues, blocks) and the "
              "cluster's free space", maintenance_verbs.stats)
    _all_nodes(p)
    _worker_verbs(_verb(verbs, "worker", "manage background workers"))
    _block_verbs(_verb(verbs, "block", "low-level node-local operations on data blocks"))
    meta = _verb(verbs, "meta", "operations on the metadata database")
    p = _leaf(meta, "snapshot", "save a snapshot of the metadata database",
              maintenance_verbs.meta_snapshot)
    p.add_argument("--all", "-a", "--all-nodes", dest="all_nodes", action="store_true",
                   help="run on every node instead of only this one")
    return parser


def _node_verbs(node) -> None:
    p = _leaf(node, "id", "print this node's full id (public key) and the address other "
              "nodes reach it at (rpc_public_addr)", None)
    p.add_argument("-q", "--quiet", action="store_true",
                   help="do not print usage instructions to stderr")
    p.set_defaults(offline=commands.node_id)
    p = _leaf(node, "connect", "connect to a node that is currently isolated from the "
              "cluster", commands.node_connect)
    p.add_argument("peer", metavar="NODE",
                   help="<full node id>@<ip or hostname>:<port> (see `garage node id` "
                        "on that node)")
    _leaf(node, "invite", "print a line a new machine joins the cluster with "
          "(twistd garage --join LINE); it holds the cluster's secret", commands.node_invite)


def _layout_verbs(layout) -> None:
    p = _leaf(layout, "assign", "assign a role to nodes", commands.layout_assign)
    p.add_argument("node_ids", nargs="+", metavar="NODE_ID",
                   help="node(s) to assign the role to (prefix of the hexadecimal node id)")
    p.add_argument("-z", "--zone", help="location (zone or datacenter) of the node")
    p.add_argument("-c", "--capacity", help="storage capacity in bytes (suffixes: B, KB, "
                   "MB, GB, TB, PB, KiB, ...)")
    p.add_argument("-g", "--gateway", action="store_true", help="gateway-only node")
    p.add_argument("-t", "--tag", action="append", help="a tag to add to the node "
                   "(repeat for several)")
    p.add_argument("--replace", action="append", default=[], metavar="NODE_ID",
                   help="a node whose role is removed in the same change (repeat for "
                        "several)")
    p = _leaf(layout, "remove", "remove the role of a node", commands.layout_remove)
    p.add_argument("node_id", help="node whose role to remove (prefix of its hex id)")
    p = _leaf(layout, "config", "configure the parameters of the layout computation",
              commands.layout_config)
    p.add_argument("-r", "--redundancy",
                   help="zone redundancy: 'none'/'max' or an integer")
    _leaf(layout, "show", "show the roles assigned to nodes and the changes staged",
          commands.layout_show)
    p = _leaf(layout, "apply", "apply the staged changes to the cluster layout",
              commands.layout_apply)
    p.add_argument("--version", type=int, help="version number of the new layout: "
                   "must be exactly 1 + the current version")
    p = _leaf(layout, "revert", "revert the staged changes to the cluster layout",
              commands.layout_revert)
    _yes(p, "needed to really revert the staged changes")
    _leaf(layout, "history", "view the history of layouts in the cluster",
          commands.layout_history)
    p = _leaf(layout, "skip-dead-nodes", "skip dead nodes when waiting for a new layout "
              "version to be synchronized", commands.layout_skip_dead_nodes)
    p.add_argument("--version", type=int, required=True,
                   help="the layout version to assume is up to date (usually the current)")
    p.add_argument("--allow-missing-data", action="store_true",
                   help="skip even if no quorum of nodes is left for some data (data only "
                        "the down nodes held is given up)")


def _bucket_verbs(bucket) -> None:
    _leaf(bucket, "list", "list buckets", commands.bucket_list)
    p = _leaf(bucket, "info", "get bucket info", commands.bucket_info)
    p.add_argument("name", help="bucket name (global alias) or hex id prefix")
    p = _leaf(bucket, "create", "create a bucket", commands.bucket_create)
    p.add_argument("name", help="bucket name")
    p.add_argument("-v", "--verbose", action="store_true", help="print the new bucket's info")
    p = _leaf(bucket, "delete", "delete an empty bucket", commands.bucket_delete)
    p.add_argument("name", help="bucket name")
    _yes(p, "needed to really delete the bucket")
    p = _leaf(bucket, "alias", "alias a bucket under a new name", commands.bucket_alias)
    p.add_argument("bucket", metavar="EXISTING_BUCKET",
                   help="existing bucket (its global alias or full hex id)")
    p.add_argument("alias", metavar="NEW_NAME", help="new bucket name")
    p.add_argument("--local", metavar="KEY", dest="local_key",
                   help="make the alias local to this access key (name or id)")
    p = _leaf(bucket, "unalias", "remove a bucket alias", commands.bucket_unalias)
    p.add_argument("alias", metavar="NAME", help="bucket name")
    p.add_argument("--local", metavar="KEY", dest="local_key",
                   help="remove it from the namespace of this access key (name or id)")
    for verb, run, text in (("allow", commands.bucket_allow, "allow a key to read or "
                             "write to a bucket"),
                            ("deny", commands.bucket_deny, "deny a key from reading or "
                             "writing to a bucket")):
        p = _leaf(bucket, verb, text, run)
        p.add_argument("bucket", help="bucket name")
        p.add_argument("--key", required=True, help="access key name or id")
        p.add_argument("--read", action="store_true", help=f"{verb} read operations")
        p.add_argument("--write", action="store_true", help=f"{verb} write operations")
        p.add_argument("--owner", action="store_true", help=f"{verb} administrative "
                       "operations (deleting the bucket, its website configuration, ...)")
    p = _leaf(bucket, "website", "serve a bucket as a website, or stop",
              commands.bucket_website)
    p.add_argument("bucket", help="bucket name")
    p.add_argument("--allow", action="store_true", help="serve it on the web endpoint")
    p.add_argument("--deny", action="store_true", help="stop serving it")
    p.add_argument("-i", "--index-document", default="index.html",
                   help="suffix appended to request paths ending in / (default index.html)")
    p.add_argument("-e", "--error-document",
                   help="document returned when an error occurs (optional)")
    p = _leaf(bucket, "versioning", "enable or suspend the versioning of a bucket (not in "
              "Garage: S3's PutBucketVersioning, for an operator)", commands.bucket_versioning)
    p.add_argument("bucket", help="bucket name")
    p.add_argument("state", choices=("enable", "suspend"),
                   help="enable: every write keeps a version of its own; suspend: new "
                        "writes replace the null version (refused with Object Lock)")
    _policy_verb(bucket)
    p = _leaf(bucket, "set-quotas", "set the quotas of a bucket", commands.bucket_set_quotas)
    p.add_argument("bucket", help="bucket name")
    p.add_argument("--max-size", help="maximum size of the bucket (e.g. 500M, 10G, 2GiB), "
                   "or 'none' for no limit")
    p.add_argument("--max-objects", help="maximum number of objects in the bucket, or "
                   "'none' for no limit")
    p = _leaf(bucket, "cleanup-incomplete-uploads", "abort old incomplete multipart uploads",
              maintenance_verbs.bucket_cleanup_incomplete_uploads)
    p.add_argument("--older-than", default="1d",
                   help="abort uploads older than this (e.g. 12h, 1d, 2w; default 1d)")
    p.add_argument("buckets", nargs="+", metavar="BUCKET", help="bucket(s) to clean up")
    p = _leaf(bucket, "inspect-object", "inspect an object in a bucket: every stored "
              "version", maintenance_verbs.bucket_inspect_object)
    p.add_argument("bucket", help="bucket name or id")
    p.add_argument("key", help="key of the object")


def _policy_verb(bucket) -> None:
    """``bucket policy BUCKET set FILE|get|delete`` (not in Garage: S3's
    Put/Get/DeleteBucketPolicy, for an operator, unbound by the policy)."""
    text = ("set, show or delete the policy of a bucket (not in Garage: S3's bucket "
            "policies, for an operator; the way out of a policy that locks every key out)")
    policy = bucket.add_parser("policy", help=text, description=text)
    policy.add_argument("bucket", metavar="BUCKET", help="bucket name")
    actions = policy.add_subparsers(dest="policy_action", required=True, metavar="ACTION")
    p = _leaf(actions, "set", "put a bucket policy (JSON, AWS's policy language: the "
              "subset in docs/s3.rst), replacing any", commands.bucket_policy_set)
    p.add_argument("file", metavar="FILE", help="file holding the policy, or - for "
                   "standard input")
    _leaf(actions, "get", "print the bucket's policy as it was put",
          commands.bucket_policy_get)
    _leaf(actions, "delete", "delete the bucket's policy", commands.bucket_policy_delete)


def _key_verbs(key) -> None:
    _leaf(key, "list", "list keys", commands.key_list)
    p = _leaf(key, "info", "get key info", commands.key_info)
    p.add_argument("key", help="key id, id prefix or name")
    p.add_argument("--show-secret", action="store_true", help="display the secret key")
    p = _leaf(key, "create", "create a new key", commands.key_create)
    p.add_argument("name", nargs="?", default="Unnamed key", help="name of the key")
    p = _leaf(key, "rename", "rename a key", commands.key_rename)
    p.add_argument("key", help="key id or name")
    p.add_argument("new_name", help="new name of the key")
    p = _leaf(key, "delete", "delete a key", commands.key_delete)
    p.add_argument("key", help="key id or name")
    _yes(p, "confirm the deletion")
    for verb, run, text in (("allow", commands.key_allow, "set permission flags of a key"),
                            ("deny", commands.key_deny, "unset permission flags of a key")):
        p = _leaf(key, verb, text, run)
        p.add_argument("key", help="key id or name")
        p.add_argument("--create-bucket", action="store_true",
                       help="the key may create buckets with S3's CreateBucket")
    p = _leaf(key, "import", "import a key (id and secret) generated by Garage before",
              commands.key_import)
    p.add_argument("key_id", help="access key id")
    p.add_argument("secret_key", help="secret access key")
    p.add_argument("-n", "--name", default="Imported key", help="key name")
    _yes(p, "confirm the import (to create a new key, use `garage key create`)")


def _repair_verb(verbs) -> None:
    # -a and --yes belong to ``repair`` (Garage's place); they are also
    # accepted after the repair's name, where SUPPRESS keeps a subcommand's
    # default from overwriting a flag given before it.
    text = "start a repair of node data"
    repair = verbs.add_parser("repair", help=text, description=text)
    _all_nodes(repair)
    _yes(repair, "confirm the launch of the repair")
    whats = repair.add_subparsers(dest="what", required=True, metavar="REPAIR")

    def leaf(subs, name, help_text, **defaults):
        p = _leaf(subs, name, help_text, maintenance_verbs.repair)
        _all_nodes(p, default=argparse.SUPPRESS)
        _yes(p, "confirm the launch of the repair", default=argparse.SUPPRESS)
        p.set_defaults(**defaults)
        return p

    for name, help_text in REPAIR_HELP.items():
        leaf(whats, name, help_text, command=None)
    scrub = whats.add_parser("scrub", help="verify the integrity of every block on disk",
                             description="verify the integrity of every block on disk")
    scrub_commands = scrub.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in SCRUB_HELP.items():
        leaf(scrub_commands, name, help_text)


def _worker_verbs(worker) -> None:
    p = _leaf(worker, "list", "list the workers of this node (or every node)",
              maintenance_verbs.worker_list)
    _all_nodes(p)
    p.add_argument("-b", "--busy", action="store_true", help="only busy workers")
    p.add_argument("-e", "--errors", action="store_true", help="only workers with errors")
    p = _leaf(worker, "info", "detailed information about a worker", maintenance_verbs.worker_info)
    p.add_argument("tid", type=int, metavar="TID", help="the worker's task id")
    p = _leaf(worker, "get", "get worker variables (resync-tranquility, ...)",
              maintenance_verbs.worker_get)
    _all_nodes(p)
    p.add_argument("variable", nargs="?", help="variable to get (default: all)")
    p = _leaf(worker, "set", "set a worker variable", maintenance_verbs.worker_set)
    _all_nodes(p)
    p.add_argument("variable", help="variable to set")
    p.add_argument("value", help="its new value")


def _block_verbs(block) -> None:
    _leaf(block, "list-errors", "list the blocks whose resync failed",
          commands.block_list_errors)
    p = _leaf(block, "info", "detailed information about a block", maintenance_verbs.block_info)
    p.add_argument("hash", metavar="HASH", help="block hash (or prefix)")
    p = _leaf(block, "retry-now", "retry the resync of blocks now",
              commands.block_retry_now)
    p.add_argument("--all", action="store_true", help="every block with a resync error")
    p.add_argument("hashes", nargs="*", metavar="HASH", help="blocks to retry")
    p = _leaf(block, "purge", "delete every object and upload using missing blocks",
              maintenance_verbs.block_purge)
    _yes(p, "needed to confirm this operation")
    p.add_argument("hashes", nargs="+", metavar="HASH", help="blocks to purge")
