"""The fields of the versions a write makes: versioned, retention, legal hold.

Every complete version a request writes (PutObject, POST, CopyObject,
CompleteMultipartUpload) is a version of its own when the bucket's
versioning is Enabled (``api/s3/versioning.py``), a null version marked
``suspended`` when it is Suspended, and carries the Object
Lock the write asks for (``x-amz-object-lock-mode`` with
``-retain-until-date``, both or neither, and ``-legal-hold``: headers, or
fields of a browser POST) or else the bucket's default retention
(``api/s3/object_lock.py``). CreateMultipartUpload checks what it is asked
and keeps it in the upload's headers until completion. The handler calls
:func:`prepare_write` before it stores anything, which sets
``RequestContext.write_fields``.

PUTs to a bucket with Object Lock must carry ``Content-MD5`` or an
``x-amz-checksum-*`` (or announce one in a trailer), as AWS requires
(:func:`require_integrity`).
"""

from datetime import datetime, timezone

from garage_twisted.api.s3 import acl, errors
from garage_twisted.api.s3.checksum_algorithms import ChecksumAlgorithm
from garage_twisted.api.s3.context import RequestContext
from garage_twisted.model.object_lock import MODES, default_retention
from garage_twisted.util.crdt import Lww
from garage_twisted.util.time import now_msec

# The upload's copy of the lock a multipart upload was created with.
UPLOAD_MODE_HEADER = "x-garage-lock-mode"
UPLOAD_UNTIL_HEADER = "x-garage-lock-until"
UPLOAD_HOLD_HEADER = "x-garage-legal-hold"
UPLOAD_HEADERS = frozenset({UPLOAD_MODE_HEADER, UPLOAD_UNTIL_HEADER,
                            UPLOAD_HOLD_HEADER})


def missing_configuration() -> errors.S3Error:
    return errors.InvalidRequest("Bucket is missing Object Lock Configuration")


def parse_date(value: str, what: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 date (AWS's forms)."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidArgument(f"{what} must be an ISO 8601 date",
                                     extra={"ArgumentValue": value[:100]}) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise errors.InvalidArgument("Unknown wormMode directive.",
                                     extra={"ArgumentName": "x-amz-object-lock-mode",
                                            "ArgumentValue": mode[:100]})
    return mode


def _hold_value(value: str) -> bool:
    wanted = value.strip().upper()
    if wanted not in ("ON", "OFF"):
        raise errors.InvalidArgument("Legal Hold must be either of 'ON' or 'OFF'",
                                     extra={"ArgumentName": "x-amz-object-lock-legal-hold",
                                            "ArgumentValue": value[:100]})
    return wanted == "ON"


def requested_lock(ctx: RequestContext, header) -> tuple:
    """``(retention or None, legal hold or None)`` a write asks for
    (``header(lower-case name) -> str or None``: headers or form fields).

    :raises errors.InvalidRequest: the bucket has no Object Lock.
    :raises errors.InvalidArgument: malformed, incomplete or past.
    """
    mode = header("x-amz-object-lock-mode")
    until = header("x-amz-object-lock-retain-until-date")
    hold = header("x-amz-object-lock-legal-hold")
    if mode is None and until is None and hold is None:
        return None, None
    if not ctx.bucket.params.object_lock_enabled.value:
        raise missing_configuration()
    retention = None
    if (mode is None) != (until is None):
        raise errors.InvalidArgument("x-amz-object-lock-retain-until-date and "
                                     "x-amz-object-lock-mode must both be supplied")
    if mode is not None:
        until_ms = parse_date(until, "x-amz-object-lock-retain-until-date")
        if until_ms <= now_msec(ctx.api.clock):
            raise errors.InvalidArgument("The retain until date must be in the future!")
        retention = (_check_mode(mode.strip().upper()), until_ms)
    return retention, None if hold is None else _hold_value(hold)


def upload_headers(ctx: RequestContext) -> tuple:
    """CreateMultipartUpload: the lock asked for, as upload headers."""
    retention, hold = requested_lock(ctx, ctx.header)
    headers = ()
    if retention is not None:
        headers += ((UPLOAD_MODE_HEADER, retention[0]), (UPLOAD_UNTIL_HEADER, str(retention[1])))
    if hold is not None:
        headers += ((UPLOAD_HOLD_HEADER, "ON" if hold else "OFF"),)
    return headers


def from_upload_headers(upload_headers: dict) -> tuple:
    """``(retention, legal hold)`` kept by :func:`upload_headers`."""
    retention = None
    if UPLOAD_MODE_HEADER in upload_headers:
        retention = (upload_headers[UPLOAD_MODE_HEADER],
                     int(upload_headers[UPLOAD_UNTIL_HEADER]))
    hold = upload_headers.get(UPLOAD_HOLD_HEADER)
    return retention, None if hold is None else hold == "ON"


def version_fields(ctx: RequestContext, retention=None, hold=None) -> dict:
    """The fields of every complete version a write makes
    (``RequestContext.write_fields``): a version of its own under Enabled
    versioning, and its retention (asked for, else the bucket's default)
    and legal hold."""
    fields = {}
    if ctx.versioned_writes:
        fields["versioned"] = True
    elif ctx.versioning == "Suspended":
        fields["suspended"] = True
    params = ctx.bucket.params
    now = now_msec(ctx.api.clock)
    if retention is None and params.object_lock_enabled.value:
        retention = default_retention(params.object_lock_config.value, now)
    if retention is not None:
        fields["retention"] = Lww(now, retention)
    if hold:
        fields["legal_hold"] = Lww(now, True)
    return fields


def prepare_write(ctx: RequestContext, header=None) -> None:
    """Set ``ctx.write_fields`` from the request (``header`` as in
    :func:`requested_lock`, the request's headers by default)."""
    header = header or ctx.header
    retention, hold = requested_lock(ctx, header)
    ctx.write_fields = version_fields(ctx, retention, hold)
    ctx.write_fields.update(acl.object_acl_fields(ctx, _with_form_acl(header)))


def _with_form_acl(header):
    """``header`` where ``x-amz-acl`` is also a browser POST's ``acl`` field."""
    def read(name: str):
        value = header(name)
        if value is None and name == "x-amz-acl":
            value = header("acl")
        return value
    return read


def require_integrity(ctx: RequestContext) -> None:
    """A PUT to a bucket with Object Lock must carry a digest of its body."""
    if not ctx.bucket.params.object_lock_enabled.value:
        return
    if ctx.header(b"content-md5") is not None:
        return
    if any(ctx.header(algorithm.header) is not None
           for algorithm in ChecksumAlgorithm):
        return
    trailer = (ctx.header(b"x-amz-trailer") or "").lower()
    if "x-amz-checksum-" in trailer:
        return
    raise errors.InvalidRequest("Content-MD5 OR x-amz-checksum- HTTP header is required for "
                                "Put Object requests with Object Lock parameters")
