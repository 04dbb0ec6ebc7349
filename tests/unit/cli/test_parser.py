"""``garage --help`` and each ``garage VERB [SUB] --help`` exit 0 and name
what Garage's v2 CLI (``src/garage/cli/structs.rs``) names for the verbs
built here."""

import contextlib
import io
import re

from twisted.trial.unittest import TestCase

from garage_twisted.cli.parser import build_parser

# command -> the subcommands and flags Garage's help lists for it.
GARAGE_HELP = {
    (): ["status", "node", "layout", "bucket", "key", "admin-token", "repair", "stats",
         "worker", "block", "meta"],
    ("status",): [],
    ("node",): ["id", "connect"],
    ("node", "id"): ["-q", "--quiet"],
    ("node", "connect"): ["NODE"],
    ("layout",): ["assign", "remove", "config", "show", "apply", "revert", "history",
                  "skip-dead-nodes"],
    ("layout", "assign"): ["-z", "--zone", "-c", "--capacity", "-g", "--gateway", "-t",
                           "--tag", "--replace"],
    ("layout", "remove"): ["NODE_ID"],
    ("layout", "config"): ["-r", "--redundancy"],
    ("layout", "show"): [],
    ("layout", "apply"): ["--version"],
    ("layout", "revert"): ["--yes"],
    ("layout", "history"): [],
    ("layout", "skip-dead-nodes"): ["--version", "--allow-missing-data"],
    ("bucket",): ["list", "info", "create", "delete", "alias", "unalias", "allow", "deny",
                  "website", "set-quotas", "cleanup-incomplete-uploads", "inspect-object"],
    ("bucket", "list"): [],
    ("bucket", "info"): ["NAME"],
    ("bucket", "create"): ["NAME"],
    ("bucket", "delete"): ["--yes"],
    ("bucket", "alias"): ["EXISTING_BUCKET", "NEW_NAME", "--local"],
    ("bucket", "unalias"): ["NAME", "--local"],
    ("bucket", "allow"): ["--key", "--read", "--write", "--owner"],
    ("bucket", "deny"): ["--key", "--read", "--write", "--owner"],
    ("bucket", "website"): ["--allow", "--deny", "-i", "--index-document", "-e",
                            "--error-document"],
    # Not Garage's (it has no versioning): S3's PutBucketVersioning.
    ("bucket", "versioning"): ["BUCKET", "enable", "suspend"],
    # Not Garage's (it has no bucket policies): S3's Put/Get/DeleteBucketPolicy.
    ("bucket", "policy"): ["BUCKET", "set", "get", "delete"],
    ("bucket", "policy", "set"): ["BUCKET", "FILE"],
    ("bucket", "policy", "get"): ["BUCKET"],
    ("bucket", "policy", "delete"): ["BUCKET"],
    ("bucket", "set-quotas"): ["--max-size", "--max-objects"],
    ("bucket", "cleanup-incomplete-uploads"): ["--older-than", "BUCKET"],
    ("bucket", "inspect-object"): ["BUCKET", "KEY"],
    ("key",): ["list", "info", "create", "rename", "delete", "allow", "deny", "import"],
    ("key", "list"): [],
    ("key", "info"): ["--show-secret"],
    ("key", "create"): ["NAME"],
    ("key", "rename"): ["NEW_NAME"],
    ("key", "delete"): ["--yes"],
    ("key", "allow"): ["--create-bucket"],
    ("key", "deny"): ["--create-bucket"],
    ("key", "import"): ["KEY_ID", "SECRET_KEY", "-n", "--yes"],
    ("repair",): ["-a", "--all-nodes", "--yes", "tables", "blocks", "versions", "mpu",
                  "block-refs", "block-rc", "aliases", "scrub", "rebalance"],
    ("repair", "scrub"): ["start", "pause", "resume", "cancel"],
    ("stats",): ["-a", "--all-nodes"],
    ("worker",): ["list", "info", "get", "set"],
    ("worker", "list"): ["-b", "--busy", "-e", "--errors"],
    ("worker", "info"): ["TID"],
    ("worker", "get"): ["-a", "--all-nodes", "VARIABLE"],
    ("worker", "set"): ["-a", "--all-nodes", "VARIABLE", "VALUE"],
    ("block",): ["list-errors", "info", "retry-now", "purge"],
    ("block", "list-errors"): [],
    ("block", "info"): ["HASH"],
    ("block", "retry-now"): ["--all", "HASH"],
    ("block", "purge"): ["--yes", "HASH"],
    ("meta",): ["snapshot"],
    ("meta", "snapshot"): ["--all"],
    ("admin-token",): ["list", "info", "create", "rename", "set", "delete", "delete-expired"],
    ("admin-token", "list"): [],
    ("admin-token", "info"): ["TOKEN"],
    ("admin-token", "create"): ["NAME", "--expires-in", "--scope", "-q", "--quiet"],
    ("admin-token", "rename"): ["TOKEN", "NEW_NAME"],
    ("admin-token", "set"): ["TOKEN", "--expires-in", "--never-expires", "--scope"],
    ("admin-token", "delete"): ["TOKEN", "--yes"],
    ("admin-token", "delete-expired"): ["--yes"],
}
# The command line that shows a subcommand's help, where a positional
# argument comes before it (``bucket policy BUCKET set``).
HELP_ARGV = {command: ("bucket", "policy", "BUCKET", command[2])
             for command in GARAGE_HELP if command[:2] == ("bucket", "policy")
             and len(command) == 3}


def help_of(*command) -> tuple[int, str]:
    """``(exit status, stdout)`` of ``garage *command --help``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            build_parser().parse_args([*command, "--help"])
        except SystemExit as e:
            return e.code, out.getvalue()
    raise AssertionError(f"--help of {command} did not exit")


class HelpTests(TestCase):
    def test_every_verb_lists_what_garage_lists(self):
        """Each help exits 0 and names each subcommand and flag."""
        for command, names in GARAGE_HELP.items():
            code, text = help_of(*HELP_ARGV.get(command, command))
            self.assertEqual(code, 0, command)
            self.assertIn("usage: garage", text, command)
            for name in names:
                # Upper case: a positional argument, which argparse may spell
                # in lower case.
                pattern = re.compile(rf"(^|[\s\[{{,]){name}($|[\s\],}}])",
                                     re.I if name.isupper() else 0)
                self.assertRegex(text, pattern, f"{command}: {name}")

    def test_every_leaf_is_listed(self):
        """No subcommand of the parser is missing from the table above (a
        new verb gets its line, and so its help checked)."""
        def leaves(parser, prefix=()):
            for action in parser._actions:
                if action.__class__.__name__ == "_SubParsersAction":
                    for name, sub in action.choices.items():
                        yield prefix + (name,)
                        yield from leaves(sub, prefix + (name,))

        known = set(GARAGE_HELP)
        missing = [c for c in leaves(build_parser()) if c not in known
                   and c[:2] != ("repair", "scrub") and c[0] != "repair"
                   and c != ("node", "invite")]
        self.assertEqual(missing, [])
