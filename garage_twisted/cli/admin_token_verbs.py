"""CLI verbs for admin API tokens, as Garage's ``garage admin-token ...``:
``list``, ``info``, ``create [NAME] [--expires-in D] [--scope S] [-q]``,
``rename``, ``set [--expires-in D | --never-expires] [--scope S]``,
``delete --yes`` and ``delete-expired --yes``.

A token is named by its id, a prefix of its id, or its exact name (the
admin API's ``GetAdminTokenInfo?search=``). ``--scope`` is a comma-separated
list of admin endpoint names (``*`` for all); for ``set``, ``+A,B`` adds to
the token's scope and ``-A,B`` removes from it (``--scope=-A,B``: argparse
reads a separate ``-A,B`` as an option). Durations are ``30m``,
``12h``, ``7d``, ``2w``, ``1y`` or sums of them (``1d12h``).
"""

import re
from datetime import datetime, timedelta, timezone

from garage_twisted.cli.client import CliError
from garage_twisted.cli.format import table

_PART = re.compile(r"(\d+)\s*([a-z]+)")
_UNIT_SECONDS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 7 * 86400, "week": 7 * 86400, "weeks": 7 * 86400,
    "y": 365 * 86400, "year": 365 * 86400, "years": 365 * 86400,
}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``1d12h``, ``2 weeks`` -> a timedelta. :raises CliError:"""
    compact = text.strip().lower()
    parts = _PART.findall(compact)
    if not parts or _PART.sub("", compact).strip() \
            or any(unit not in _UNIT_SECONDS for _, unit in parts):
        raise CliError(f"Invalid duration passed for --expires-in parameter: {text!r} "
                       "(try 30m, 12h, 7d, 1d12h)")
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[unit] for n, unit in parts))


def _expiration(args, now=None):
    """The RFC 3339 expiration ``--expires-in`` asks for, or ``None``."""
    if args.expires_in is None:
        return None
    now = now or datetime.now(timezone.utc)
    return (now + parse_duration(args.expires_in)).isoformat(timespec="seconds")


def _names(text: str) -> list:
    return [name.strip() for name in text.split(",") if name.strip()]


def edit_scope(current: list, text: str) -> list:
    """``--scope`` of ``set``: ``+A,B`` adds, ``-A,B`` removes, else replaces."""
    if text.startswith("+"):
        return current + [n for n in _names(text[1:]) if n not in current]
    if text.startswith("-"):
        removed = set(_names(text[1:]))
        return [n for n in current if n not in removed]
    return _names(text)


def _local(moment: str | None) -> str:
    if moment is None:
        return "never"
    parsed = datetime.fromisoformat(moment)
    return parsed.astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


def _print_info(info: dict, out) -> None:
    print("==== ADMINISTRATION TOKEN INFORMATION ====", file=out)
    rows = [["Token ID:", info["id"] or "-"], ["Token name:", info["name"]],
            ["Created:", _local(info["created"]) if info["created"] else "-"],
            ["Validity:", "EXPIRED" if info["expired"] else "valid"],
            ["Expiration:", _local(info["expiration"])], [""]]
    for i, name in enumerate(info["scope"]):
        rows.append(["Scope:" if i == 0 else "", name])
    print(table(rows), file=out)


async def _find(client, pattern: str) -> dict:
    return await client.call("GetAdminTokenInfo", {"search": pattern})


async def admin_token_list(client, args, out):
    tokens = await client.call("ListAdminTokens")
    # The configuration's tokens (no creation date) first, then by age.
    tokens.sort(key=lambda t: (t["created"] is not None, t["created"] or ""))
    rows = [["ID", "Created", "Name", "Expiration", "Scope"]]
    for token in tokens:
        scope = token["scope"]
        rows.append([
            token["id"] or "-",
            _local(token["created"])[:10] if token["created"] else "-",
            token["name"],
            "expired" if token["expired"] else _local(token["expiration"]),
            "" if token["expired"] else (
                scope[0] + (f", ... ({len(scope)})" if len(scope) > 1 else "") if scope else ""),
        ])
    print(table(rows), file=out)


async def admin_token_info(client, args, out):
    _print_info(await _find(client, args.api_token), out)


async def admin_token_create(client, args, out):
    body = {"name": args.name, "expiration": _expiration(args)}
    if args.scope is not None:
        body["scope"] = _names(args.scope)
    created = await client.call("CreateAdminToken", body=body)
    if args.quiet:
        print(created["secretToken"], file=out)
        return
    print("This is your secret bearer token, it will not be shown again by Garage:", file=out)
    print(f"\n  {created['secretToken']}\n", file=out)
    _print_info(created, out)


async def admin_token_rename(client, args, out):
    token = await _find(client, args.api_token)
    info = await client.call("UpdateAdminToken", {"id": token["id"]}, {"name": args.new_name})
    _print_info(info, out)


async def admin_token_set(client, args, out):
    if args.expires_in is not None and args.never_expires:
        raise CliError("give --expires-in or --never-expires, not both")
    token = await _find(client, args.api_token)
    body = {"expiration": _expiration(args), "neverExpires": args.never_expires}
    if args.scope is not None:
        body["scope"] = edit_scope(list(token["scope"]), args.scope)
    info = await client.call("UpdateAdminToken", {"id": token["id"]}, body)
    _print_info(info, out)


async def admin_token_delete(client, args, out):
    token = await _find(client, args.api_token)
    if not args.yes:
        raise CliError(f"Add the --yes flag to delete API token `{token['name']}` "
                       f"({token['id']})")
    await client.call("DeleteAdminToken", {"id": token["id"]}, method="POST")
    print("Admin API token has been deleted.", file=out)


async def admin_token_delete_expired(client, args, out):
    expired = [t for t in await client.call("ListAdminTokens") if t["expired"] and t["id"]]
    if not args.yes:
        raise CliError(f"This would delete {len(expired)} admin API tokens, add the --yes "
                       "flag to proceed.")
    for token in expired:
        print(f"Deleting token `{token['name']}` ({token['id']})", file=out)
        await client.call("DeleteAdminToken", {"id": token["id"]}, method="POST")
    print(f"{len(expired)} admin API tokens have been deleted.", file=out)


def add_verbs(verbs, verb, leaf, yes) -> None:
    """``garage admin-token ...`` on the parser's ``verbs``, with its
    helpers ``verb``, ``leaf`` and ``yes`` (see cli/parser.py)."""
    tokens = verb(verbs, "admin-token", "operations on admin API tokens")
    leaf(tokens, "list", "list all admin API tokens", admin_token_list)
    p = leaf(tokens, "info", "fetch info about a specific admin API token", admin_token_info)
    p.add_argument("api_token", metavar="TOKEN",
                   help="name or prefix of the ID of the token to look up")
    p = leaf(tokens, "create", "create a new admin API token", admin_token_create)
    p.add_argument("name", nargs="?", default=None, metavar="NAME",
                   help="name of the token (default: token_<date>_<time>)")
    _expires_in(p)
    _scope(p, "a comma-separated list of admin API endpoints (e.g. "
              "GetClusterStatus,ListBuckets); default *, every endpoint")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only the newly generated API token to stdout")
    p = leaf(tokens, "rename", "rename an admin API token", admin_token_rename)
    p.add_argument("api_token", metavar="TOKEN",
                   help="name or prefix of the ID of the token to rename")
    p.add_argument("new_name", metavar="NEW_NAME", help="new name of the token")
    p = leaf(tokens, "set", "set parameters of an admin API token", admin_token_set)
    p.add_argument("api_token", metavar="TOKEN",
                   help="name or prefix of the ID of the token to modify")
    _expires_in(p)
    p.add_argument("--never-expires", action="store_true", help="the token never expires")
    _scope(p, "a comma-separated list of admin API endpoints replacing the scope; "
              "+A,B adds to it, -A,B removes from it (written --scope=-A,B)")
    p = leaf(tokens, "delete", "delete an admin API token", admin_token_delete)
    p.add_argument("api_token", metavar="TOKEN",
                   help="name or prefix of the ID of the token to delete")
    yes(p, "confirm the deletion")
    p = leaf(tokens, "delete-expired", "delete every expired admin API token",
             admin_token_delete_expired)
    yes(p, "confirm the deletion")


def _expires_in(parser) -> None:
    parser.add_argument("--expires-in", metavar="DURATION",
                        help="the token expires after this time (e.g. 30m, 12h, 7d, 1d12h)")


def _scope(parser, text) -> None:
    parser.add_argument("--scope", help=text + ". Note: a scope allowing CreateAdminToken "
                        "or UpdateAdminToken is worth *, its holder can make any token")
