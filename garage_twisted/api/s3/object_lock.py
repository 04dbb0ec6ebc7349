"""Object Lock over S3: bucket configuration, retention and legal holds.

A bucket gets Object Lock at creation (``x-amz-bucket-object-lock-enabled:
true``) or later by PutObjectLockConfiguration once its versioning is
Enabled; it is then on for good and keeps versioning Enabled. Its
configuration may set a default retention (GOVERNANCE or COMPLIANCE, Days or
Years) every new version gets unless the write names its own.

A write names retention and legal hold with ``x-amz-object-lock-mode``,
``-retain-until-date`` (both or neither) and ``-legal-hold`` (headers, or
fields of a browser POST; CreateMultipartUpload keeps them in the upload
until completion). PutObjectRetention and PutObjectLegalHold change them
on an existing version; retention can be lengthened by anyone with write
rights, shortened or removed only when GOVERNANCE and bypassed (owner
rights and ``x-amz-bypass-governance-retention: true``), COMPLIANCE never.
What the protections forbid, and how time is judged, is
``model/object_lock.py``.

Writes get their retention and legal hold through
``api/s3/version_fields.py``.
"""


from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.body import read_small_body
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.delete import bypasses_governance
from garage_twisted.api.s3.get import load_version
from garage_twisted.api.s3.version_fields import missing_configuration, parse_date
from garage_twisted.api.s3.versioning import set_version_register
from garage_twisted.api.s3.xml import document, element, iso8601, local_name, parse_document
from garage_twisted.model.object_lock import (
    MODE_COMPLIANCE, MODE_GOVERNANCE, MODES, has_legal_hold, retained_until, retention_of,
)
from garage_twisted.util.time import now_msec

MAX_BODY = 64 * 1024
# The largest retention AWS accepts in a default rule (100 years).
MAX_DEFAULT_DAYS = 36500
MAX_DEFAULT_YEARS = 100


# -- bucket configuration ------------------------------------------------

def parse_configuration(body: bytes) -> tuple:
    """``(enabled, default retention (mode, days, years) or None)``."""
    root = parse_document(body, "ObjectLockConfiguration")
    enabled, default = False, None
    for child in root:
        name = local_name(child.tag)
        if name == "ObjectLockEnabled":
            if (child.text or "").strip() != "Enabled":
                raise errors.MalformedXML("ObjectLockEnabled must be Enabled")
            enabled = True
        elif name == "Rule":
            default = _parse_rule(child)
        else:
            raise errors.MalformedXML(f"unexpected element <{name}>")
    if not enabled:
        raise errors.MalformedXML("ObjectLockEnabled must be Enabled")
    return enabled, default


def _parse_rule(rule) -> tuple:
    retention = [c for c in rule if local_name(c.tag) == "DefaultRetention"]
    if len(retention) != 1 or len(rule) != 1:
        raise errors.MalformedXML("a Rule holds one DefaultRetention")
    fields = {local_name(c.tag): (c.text or "").strip() for c in retention[0]}
    if set(fields) - {"Mode", "Days", "Years"} or "Mode" not in fields:
        raise errors.MalformedXML("DefaultRetention holds Mode, and Days or Years")
    mode = fields["Mode"]
    if mode not in MODES:
        raise errors.MalformedXML("Mode must be GOVERNANCE or COMPLIANCE")
    if ("Days" in fields) == ("Years" in fields):
        raise errors.MalformedXML("DefaultRetention holds either Days or Years")
    name = "Days" if "Days" in fields else "Years"
    try:
        value = int(fields[name])
    except ValueError:
        raise errors.MalformedXML(f"{name} must be an integer") from None
    limit = MAX_DEFAULT_DAYS if name == "Days" else MAX_DEFAULT_YEARS
    if not 0 < value <= limit:
        raise errors.InvalidArgument(f"Default retention period must be a positive integer "
                                     f"value of at most {limit} {name.lower()}")
    return (mode, value, None) if name == "Days" else (mode, None, value)


async def put_object_lock_configuration(ctx: RequestContext) -> bytes:
    _, default = parse_configuration(await read_small_body(ctx, MAX_BODY))
    params = ctx.bucket.params
    if not params.object_lock_enabled.value and params.versioning_state != "Enabled":
        raise errors.InvalidBucketState("Versioning must be 'Enabled' on the bucket to apply "
                                        "a Object Lock configuration")
    await ctx.api.helper.set_object_lock(ctx.bucket_id, default)
    return respond(ctx.request)


async def get_object_lock_configuration(ctx: RequestContext) -> bytes:
    params = ctx.bucket.params
    if not params.object_lock_enabled.value:
        raise errors.ObjectLockConfigurationNotFoundError(
            "Object Lock configuration does not exist for this bucket",
            extra={"BucketName": ctx.endpoint.bucket})
    parts = [element("ObjectLockEnabled", "Enabled")]
    default = params.object_lock_config.value
    if default is not None:
        mode, days, years = default
        period = element("Days", days) if days is not None else element("Years", years)
        parts.append("<Rule><DefaultRetention>" + element("Mode", mode) + period
                     + "</DefaultRetention></Rule>")
    return respond(ctx.request, document("ObjectLockConfiguration", parts))


# -- retention and legal hold of a version -------------------------------

def _require_lock(ctx: RequestContext) -> None:
    if not ctx.bucket.params.object_lock_enabled.value:
        raise missing_configuration()


def _no_configuration() -> errors.S3Error:
    return errors.NoSuchObjectLockConfiguration(
        "The specified object does not have a ObjectLock configuration")


async def get_object_retention(ctx: RequestContext) -> bytes:
    _require_lock(ctx)
    version = await load_version(ctx)
    retention = retention_of(version)
    if retention is None:
        raise _no_configuration()
    return respond(ctx.request, document("Retention", [
        element("Mode", retention[0]), element("RetainUntilDate", iso8601(retention[1]))]))


def parse_retention(body: bytes) -> tuple | None:
    """``(mode, until_ms)`` of a ``<Retention>`` document, or None (empty:
    remove)."""
    root = parse_document(body, "Retention")
    fields = {local_name(c.tag): (c.text or "").strip() for c in root}
    if set(fields) - {"Mode", "RetainUntilDate"}:
        raise errors.MalformedXML("Retention holds Mode and RetainUntilDate")
    if not fields:
        return None
    if set(fields) != {"Mode", "RetainUntilDate"}:
        raise errors.MalformedXML("Retention holds both Mode and RetainUntilDate")
    if fields["Mode"] not in MODES:
        raise errors.MalformedXML("Mode must be GOVERNANCE or COMPLIANCE")
    return fields["Mode"], parse_date(fields["RetainUntilDate"], "RetainUntilDate")


def retention_change_refusal(current, wanted, bypass: bool) -> str | None:
    """Why the retention in force ``current`` may not become ``wanted``
    (None: removed), or None if it may: it may always grow (a later date,
    or GOVERNANCE to COMPLIANCE); anything else needs GOVERNANCE and a
    bypass."""
    if current is None:
        return None
    mode, until = current
    grows = wanted is not None and wanted[1] >= until and \
        (wanted[0] == mode or wanted[0] == MODE_COMPLIANCE)
    if grows:
        return None
    if mode == MODE_GOVERNANCE and bypass:
        return None
    return f"the version is under {mode} retention until {iso8601(until)}"


async def put_object_retention(ctx: RequestContext) -> bytes:
    _require_lock(ctx)
    wanted = parse_retention(await read_small_body(ctx, MAX_BODY))
    now = now_msec(ctx.api.clock)
    if wanted is not None and wanted[1] <= now:
        raise errors.InvalidArgument("The retain until date must be in the future!")
    version = await load_version(ctx)
    refusal = retention_change_refusal(retained_until(version, now), wanted,
                                       bypasses_governance(ctx))
    if refusal is not None:
        raise errors.AccessDenied(f"Access Denied because object protected by object lock "
                                  f"({refusal})")
    await set_version_register(ctx, version, "retention", wanted)
    return respond(ctx.request)


async def get_object_legal_hold(ctx: RequestContext) -> bytes:
    _require_lock(ctx)
    version = await load_version(ctx)
    if version.legal_hold is None:
        raise _no_configuration()
    return respond(ctx.request, document("LegalHold", [
        element("Status", "ON" if has_legal_hold(version) else "OFF")]))


async def put_object_legal_hold(ctx: RequestContext) -> bytes:
    _require_lock(ctx)
    root = parse_document(await read_small_body(ctx, MAX_BODY), "LegalHold")
    fields = {local_name(c.tag): (c.text or "").strip() for c in root}
    if set(fields) != {"Status"} or fields["Status"] not in ("ON", "OFF"):
        raise errors.MalformedXML("LegalHold holds Status ON or OFF")
    await set_version_register(ctx, await load_version(ctx), "legal_hold",
                               fields["Status"] == "ON")
    return respond(ctx.request)

