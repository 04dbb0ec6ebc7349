"""Admin API v2 operations on admin tokens, with Garage's shapes.

``ListAdminTokens``, ``GetAdminTokenInfo`` (``id=`` or ``search=``: a
prefix of the id or the exact name), ``GetCurrentAdminTokenInfo`` (the
caller's own token, the configuration's ``admin_token`` included),
``CreateAdminToken`` (the token, ``secretToken``, is in this answer only),
``UpdateAdminToken`` and ``DeleteAdminToken`` (``id=``). Creation and
update take Garage's ``UpdateAdminTokenRequestBody``: ``name``,
``expiration`` (RFC 3339), ``neverExpires``, ``scope`` (endpoint names or
``*``; a name this API does not have is refused, where Garage takes any
string and the typo never matches).

As in Garage, a scope that holds ``CreateAdminToken`` or
``UpdateAdminToken`` is worth ``*``: its holder can make itself any token.
The configuration's tokens are listed (``id: null``) but are not rows: they
cannot be updated or deleted through the API.
"""

from datetime import datetime, timezone

from garage_twisted.api.admin import errors
from garage_twisted.api.admin.token_auth import MASTER, METRICS, METRICS_ENDPOINT, token_info
from garage_twisted.model.admin_token import (
    ALL_ENDPOINTS, AdminToken, generate_token, hash_token)
from garage_twisted.table.schema import EMPTY_PARTITION
from garage_twisted.util.time import now_msec

MAX_LISTED = 10_000
MAX_NAME_LENGTH = 256


def _table(api):
    return api.helper.model.admin_token_table


async def _existing(api, token_id) -> AdminToken:
    if not isinstance(token_id, str) or not token_id:
        raise errors.BadRequest("missing id")
    row = await _table(api).get(EMPTY_PARTITION, token_id.encode())
    if row is None or row.params is None:
        raise errors.NoSuchAdminToken(f"Admin token not found: {token_id}")
    return row


async def list_admin_tokens(api, query, body):
    now = now_msec(api.clock)
    rows = await _table(api).get_range(EMPTY_PARTITION, None, "live", limit=MAX_LISTED)
    listed = []
    if api.admin_token is not None:
        listed.append(MASTER.info(now))
    if api.metrics_token is not None:
        listed.append(METRICS.info(now))
    return listed + [token_info(row, now) for row in rows]


async def get_admin_token_info(api, query, body):
    token_id, search = query.get("id"), query.get("search")
    if (token_id is None) == (search is None):
        raise errors.BadRequest("Either id or search must be provided (but not both)")
    if token_id is not None:
        row = await _existing(api, token_id)
    else:
        found = await _table(api).get_range(EMPTY_PARTITION, None, ("search", search), limit=10)
        if len(found) != 1:
            raise errors.BadRequest(f"{len(found)} matching admin tokens")
        (row,) = found
    return token_info(row, now_msec(api.clock))


async def get_current_admin_token_info(api, query, body, caller):
    if caller.token is None:
        return caller.info(now_msec(api.clock))
    # The row as it is now (the caller's was read before the handler ran).
    return token_info(await _existing(api, caller.token.prefix), now_msec(api.clock))


get_current_admin_token_info.takes_caller = True


def _parse_time(value) -> int:
    if not isinstance(value, str):
        raise errors.BadRequest("expiration must be an RFC 3339 date and time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise errors.BadRequest(f"invalid expiration {value!r}: expected an RFC 3339 date "
                                "and time (2030-01-31T12:00:00Z)") from None
    if moment.tzinfo is None:
        raise errors.BadRequest(f"invalid expiration {value!r}: the time zone is missing "
                                "(Z or +hh:mm)")
    try:
        return int(moment.astimezone(timezone.utc).timestamp() * 1000)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
        raise errors.BadRequest(f"invalid expiration {value!r}: out of range") from None


def _updates(api, body) -> dict:
    """The changes an ``UpdateAdminTokenRequestBody`` asks for, checked
    before anything is written: ``{name?, expiration?, scope?}``."""
    changes = {}
    name = body.get("name")
    if name is not None:
        if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
            raise errors.BadRequest(f"name must be a string of at most {MAX_NAME_LENGTH} "
                                    "characters")
        changes["name"] = name
    never = body.get("neverExpires", False)
    if not isinstance(never, bool):
        raise errors.BadRequest("neverExpires must be true or false")
    expiration = body.get("expiration")
    if never and expiration is not None:
        raise errors.BadRequest("cannot specify `expiration` and `neverExpires`")
    if expiration is not None:
        changes["expiration"] = _parse_time(expiration)
    elif never:
        changes["expiration"] = None
    scope = body.get("scope")
    if scope is not None:
        if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
            raise errors.BadRequest("scope must be a list of admin endpoint names, or [\"*\"]")
        known = api.endpoint_names() | {ALL_ENDPOINTS, METRICS_ENDPOINT}
        unknown = sorted(set(scope) - known)
        if unknown:
            raise errors.BadRequest(f"unknown admin endpoint(s) in scope: {', '.join(unknown)}")
        # Each name once, in the order given.
        changes["scope"] = list(dict.fromkeys(scope))
    return changes


async def create_admin_token(api, query, body):
    changes = _updates(api, body)
    now = now_msec(api.clock)
    default_name = datetime.fromtimestamp(now / 1000, timezone.utc).strftime("token_%Y%m%d_%H%M")
    prefix, secret_token = generate_token()
    token_hash = await api.run_in_thread(hash_token, secret_token)
    row = AdminToken.new(now, prefix, token_hash, changes.get("name", default_name),
                         changes.get("expiration"), changes.get("scope", [ALL_ENDPOINTS]))
    await _table(api).insert(row)
    return {**token_info(row, now), "secretToken": secret_token}


async def update_admin_token(api, query, body):
    row = await _existing(api, query.get("id"))
    changes = _updates(api, body)
    now = now_msec(api.clock)
    row = row.updated(now, name=changes.get("name"),
                      expiration=changes.get("expiration", ...),
                      scope=changes.get("scope"))
    await _table(api).insert(row)
    return token_info(row, now)


async def delete_admin_token(api, query, body):
    row = await _existing(api, query.get("id"))
    await _table(api).insert(row.deleted())
    return None


# endpoint name -> (HTTP method, handler), merged into handlers.ENDPOINTS
ENDPOINTS = {
    "ListAdminTokens": ("GET", list_admin_tokens),
    "GetAdminTokenInfo": ("GET", get_admin_token_info),
    "GetCurrentAdminTokenInfo": ("GET", get_current_admin_token_info),
    "CreateAdminToken": ("POST", create_admin_token),
    "UpdateAdminToken": ("POST", update_admin_token),
    "DeleteAdminToken": ("POST", delete_admin_token),
}
