"""Bucket versioning over S3: its state, and version ids in requests and answers.

A bucket's versioning (``BucketParams.versioning``) is None (never set),
``Enabled`` or ``Suspended``; a bucket with Object Lock is Enabled for good.
With Enabled, every write makes a version of its own (its id: its uuid in
hex) and a DeleteObject without ``versionId`` writes a delete marker of its
own; otherwise writes and delete markers are the ``null`` version, which
replaces the previous null version (``model/object.py`` keeps exactly
that). A request naming a version (``?versionId=``) reads, tags or deletes
that version; a malformed id is 400 InvalidArgument, an unknown one 404
NoSuchVersion, a delete marker 405 MethodNotAllowed (as AWS).

Answers carry ``x-amz-version-id`` when the version is one of its own or the
bucket's versioning was ever set (a bucket that never had versioning
answers as AWS does for it: no header).
"""

import re
from dataclasses import replace

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.body import read_small_body
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.xml import document, element, local_name, parse_document
from garage_twisted.model.object import NULL_VERSION_ID, Object, version_id_of
from garage_twisted.util.crdt import Lww
from garage_twisted.util.time import now_msec

ENABLED, SUSPENDED = "Enabled", "Suspended"
MAX_BODY = 64 * 1024
_VERSION_ID = re.compile(r"[0-9a-f]{64}")


def check_version_id(value: str, where: str = "versionId") -> str:
    """``value`` if it can name a version here; else 400 InvalidArgument."""
    if value != NULL_VERSION_ID and not _VERSION_ID.fullmatch(value):
        raise errors.InvalidArgument("Invalid version id specified",
                                     extra={"ArgumentName": where,
                                            "ArgumentValue": value[:100]})
    return value


def requested_version_id(ctx: RequestContext) -> str | None:
    """The ``versionId`` the request names (checked), or None."""
    value = ctx.endpoint.query.get("versionId")
    return None if value is None else check_version_id(value)


def shows_version_ids(ctx: RequestContext, version=None) -> bool:
    """Whether answers about ``version`` carry its id."""
    return ctx.versioning is not None or (version is not None and version.versioned)


def set_version_header(ctx: RequestContext, version) -> None:
    """``x-amz-version-id`` of ``version`` on the answer, when shown."""
    if shows_version_ids(ctx, version):
        ctx.request.setHeader(b"x-amz-version-id", version_id_of(version).encode())


async def set_version_register(ctx: RequestContext, version, name: str, value) -> None:
    """Change register ``name`` (``tags``, ``acl``, ``retention``,
    ``legal_hold``) of ``version`` of the addressed key to ``value``: the
    last change wins on every replica; a version replaced meanwhile keeps
    its change and goes as it would have. The answer names the version."""
    register = getattr(version, name)
    now = now_msec(ctx.api.clock)
    register = Lww(now, value) if register is None else register.update(now, value)
    await ctx.api.model.object_table.insert(Object(
        ctx.bucket_id, ctx.endpoint.key, (replace(version, **{name: register}),)))
    set_version_header(ctx, version)


def marker_headers(ctx: RequestContext, marker) -> tuple:
    """The headers that tell a client it met delete marker ``marker``."""
    if not shows_version_ids(ctx, marker):
        return ()
    return ((b"x-amz-delete-marker", b"true"),
            (b"x-amz-version-id", version_id_of(marker).encode()))


def find_readable(ctx: RequestContext, obj, key: str):
    """The version of ``obj`` (an object entry or None) a read of ``key``
    addresses: the one named by ``versionId``, else the latest.

    :raises errors.NoSuchKey: no such key, or its latest version is a
        delete marker (with the marker's headers).
    :raises errors.NoSuchVersion: the version named does not exist.
    :raises errors.MethodNotAllowed: it is a delete marker.
    """
    wanted = requested_version_id(ctx)
    if wanted is None:
        version = None if obj is None else obj.latest_version()
        if version is None or not version.is_data:
            raise errors.NoSuchKey(
                "The specified key does not exist.", extra={"Key": key},
                headers=() if version is None else marker_headers(ctx, version))
        return version
    version = None if obj is None else obj.find_version(wanted)
    if version is None:
        raise errors.NoSuchVersion("The specified version does not exist.",
                                   extra={"Key": key, "VersionId": wanted})
    if not version.is_data:
        raise errors.MethodNotAllowed(
            "The specified method is not allowed against this resource.",
            extra={"Method": ctx.request.method.decode("latin-1"),
                   "ResourceType": "DeleteMarker"},
            headers=marker_headers(ctx, version) + ((b"allow", b"DELETE"),))
    return version


async def get_bucket_versioning(ctx: RequestContext) -> bytes:
    """``Status`` once versioning was ever set (none before, as AWS)."""
    state = ctx.versioning
    parts = [] if state is None else [element("Status", state)]
    return respond(ctx.request, document("VersioningConfiguration", parts))


def parse_versioning(body: bytes) -> str:
    """The ``Status`` a ``VersioningConfiguration`` document asks for.

    :raises errors.MalformedXML: not such a document, or no valid Status.
    :raises errors.NotImplemented: MFA delete asked for.
    """
    root = parse_document(body, "VersioningConfiguration")
    status = None
    for child in root:
        name = local_name(child.tag)
        text = (child.text or "").strip()
        if name == "Status":
            status = text
        elif name == "MfaDelete":
            if text == "Enabled":
                raise errors.NotImplemented(
                    "An element you provided implies functionality that is not "
                    "implemented: MFA delete (<MfaDelete>Enabled</MfaDelete>)")
            if text != "Disabled":
                raise errors.MalformedXML("MfaDelete must be Enabled or Disabled")
        else:
            raise errors.MalformedXML(f"unexpected element <{name}> in "
                                      "VersioningConfiguration")
    if status not in (ENABLED, SUSPENDED):
        raise errors.MalformedXML("Status must be Enabled or Suspended")
    return status


async def put_bucket_versioning(ctx: RequestContext) -> bytes:
    status = parse_versioning(await read_small_body(ctx, MAX_BODY))
    await set_versioning(ctx.api.helper, ctx.bucket_id, status)
    return respond(ctx.request)


async def set_versioning(helper, bucket_id: bytes, status: str) -> None:
    """Set a bucket's versioning (the S3 call's and the admin API's).

    :raises errors.InvalidBucketState: suspending a bucket with Object Lock.
    """
    bucket = await helper.get_existing_bucket(bucket_id)
    if status == SUSPENDED and bucket.params.object_lock_enabled.value:
        raise errors.InvalidBucketState(
            "An Object Lock configuration is present on this bucket, so the versioning "
            "state cannot be changed.")
    await helper.set_bucket_config(bucket_id, "versioning", status)
