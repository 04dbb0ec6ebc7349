"""Canned ACLs on buckets and objects, and the bucket's PublicAccessBlock.

Access here is by keys' bucket permissions (``garage bucket allow``); an
ACL can only add *public* grants on top: a canned ACL names who, beyond the
keys with rights on the bucket, may read (or write). The canned ACLs:

- ``private`` (the default), ``bucket-owner-read``,
  ``bucket-owner-full-control``: nobody beyond the keys with rights (the
  bucket's owners are the keys with owner rights, who can already read and
  write every object);
- ``public-read``: anyone, signed or not, may read (a bucket: list it; an
  object: get it);
- ``public-read-write`` (buckets): anyone may also write objects;
- ``authenticated-read``: any request signed by a key of this cluster may
  read.

Grants by header (``x-amz-grant-*``) or by an ``AccessControlPolicy``
document are taken when they say exactly what a canned ACL says (the owner's
full control, plus READ or WRITE for AWS's AllUsers or AuthenticatedUsers
groups); any other grant (to a named user, READ_ACP...) answers 501
NotImplemented naming it. Get*Acl answer the real state: the owner's full
control and the public grants of the canned ACL.

PublicAccessBlock (Put/Get/DeletePublicAccessBlock): ``BlockPublicAcls``
refuses public ACLs (403 AccessDenied) on Put*Acl and on writes with
``x-amz-acl``; ``IgnorePublicAcls`` makes public ACLs grant nothing;
``BlockPublicPolicy`` refuses a public bucket policy; ``RestrictPublicBuckets``
makes a public policy grant nothing to anonymous requests nor to keys without
permissions on the bucket (``access.py`` applies the last two flags and the
ACL grants).
"""


from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.access import (
    AUTHENTICATED_READ, CANNED_ACLS, PRIVATE, PUBLIC_READ, PUBLIC_READ_WRITE, PublicAccessBlock,
    refuses_acl,
)
from garage_twisted.api.s3.body import read_small_body
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.versioning import find_readable, set_version_header, set_version_register
from garage_twisted.api.s3.xml import document, element, local_name, parse_document
from garage_twisted.util.crdt import Lww
from garage_twisted.util.time import now_msec

MAX_BODY = 64 * 1024
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
# The public grants of each canned ACL: (group URI, permission).
GRANTS = {
    PUBLIC_READ: ((ALL_USERS, "READ"),),
    PUBLIC_READ_WRITE: ((ALL_USERS, "READ"), (ALL_USERS, "WRITE")),
    AUTHENTICATED_READ: ((AUTHENTICATED_USERS, "READ"),),
}
_CANNED_OF_GRANTS = {frozenset(grants): name for name, grants in GRANTS.items()}

# PublicAccessBlock flags, in the order BucketParams.public_access_block
# stores them.
BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
               "RestrictPublicBuckets")


def _not_implemented(what: str) -> errors.S3Error:
    return errors.NotImplemented(
        f"A grant you provided implies functionality that is not implemented: {what} "
        "(only what a canned ACL says can be granted: access is by keys' bucket "
        "permissions)")


def _canned_of(grants: set) -> str:
    """The canned ACL saying exactly ``grants`` ({(group URI, permission)}
    beyond the owner's full control)."""
    if not grants:
        return PRIVATE
    name = _CANNED_OF_GRANTS.get(frozenset(grants))
    if name is None:
        raise _not_implemented(", ".join(f"{p} to {g}" for g, p in sorted(grants)))
    return name


def _grants_of_header(permission: str, value: str) -> set:
    grants = set()
    for grantee in value.split(","):
        kind, _, target = grantee.strip().partition("=")
        target = target.strip().strip('"')
        if kind.strip().lower() == "uri" and target in (ALL_USERS, AUTHENTICATED_USERS):
            grants.add((target, permission))
        elif permission == "FULL_CONTROL" and kind.strip().lower() == "id":
            continue  # the owner's: every owner key has it already
        else:
            raise _not_implemented(f"x-amz-grant-{permission.lower().replace('_', '-')}: "
                                   f"{grantee.strip()[:100]}")
    return grants


def requested_acl(header) -> str | None:
    """The canned ACL a request's ``x-amz-acl`` or ``x-amz-grant-*`` headers
    ask for (``header(lower-case name) -> str or None``), or None.

    :raises errors.InvalidArgument: an unknown canned ACL.
    :raises errors.NotImplemented: a grant no canned ACL says.
    """
    canned = header("x-amz-acl")
    grants = set()
    for permission in ("READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"):
        value = header("x-amz-grant-" + permission.lower().replace("_", "-"))
        if value is not None:
            if permission in ("READ_ACP", "WRITE_ACP"):
                raise _not_implemented(f"x-amz-grant-{permission.lower().replace('_', '-')}")
            grants |= _grants_of_header(permission, value)
    if canned is not None and grants:
        raise errors.InvalidRequest("Specifying both Canned ACLs and Header Grants is not "
                                    "allowed")
    if canned is not None:
        canned = canned.strip()
        if canned not in CANNED_ACLS:
            raise errors.InvalidArgument(f"unknown canned ACL {canned[:100]!r}",
                                         extra={"ArgumentName": "x-amz-acl"})
        return canned
    if grants:
        return _canned_of(grants)
    return None


def _canned_of_document(body: bytes) -> str:
    """The canned ACL an ``AccessControlPolicy`` document says."""
    root = parse_document(body, "AccessControlPolicy")
    grants = set()
    for child in root:
        if local_name(child.tag) != "AccessControlList":
            continue
        for grant in child:
            grantee = next((c for c in grant if local_name(c.tag) == "Grantee"), None)
            permission = next((c.text or "" for c in grant if local_name(c.tag) ==
                               "Permission"), "").strip()
            if grantee is None or not permission:
                raise errors.MalformedXML("each Grant holds a Grantee and a Permission")
            fields = {local_name(c.tag): (c.text or "").strip() for c in grantee}
            if "URI" in fields and fields["URI"] in (ALL_USERS, AUTHENTICATED_USERS) and \
                    permission in ("READ", "WRITE"):
                grants.add((fields["URI"], permission))
            elif "ID" in fields and permission == "FULL_CONTROL":
                continue  # the owner's
            else:
                raise _not_implemented(f"{permission} to "
                                       f"{fields.get('URI') or fields.get('ID') or 'a grantee'}")
    return _canned_of(grants)


def block_flags(bucket) -> tuple | None:
    """The bucket's PublicAccessBlock flags (``BLOCK_FLAGS`` order), or None."""
    params = bucket.params if bucket is not None else None
    return None if params is None else params.public_access_block.value


def check_not_blocked(bucket, canned: str | None) -> None:
    """403 when ``BlockPublicAcls`` refuses ``canned`` (``access.refuses_acl``)."""
    refusal = refuses_acl(PublicAccessBlock.from_flags(block_flags(bucket)), canned)
    if refusal is not None:
        raise errors.AccessDenied(f"Access Denied: {refusal}")


def object_acl_fields(ctx: RequestContext, header=None) -> dict:
    """The ``acl`` field of the versions a write makes, from its headers."""
    header = header or ctx.header
    canned = requested_acl(header)
    if canned is None:
        return {}
    check_not_blocked(ctx.bucket, canned)
    return {"acl": Lww(now_msec(ctx.api.clock), canned)}


def _acl_document(ctx: RequestContext, canned: str | None) -> bytes:
    """The grants as they are: the request's key with its rights on the
    bucket (as Garage answers), then the public grants of ``canned``."""
    key = ctx.api_key
    grants = []
    owner = ""
    if key is not None:
        name = key.params.name.value if key.params is not None else ""
        perm = ctx.bucket.key_permissions(key.key_id)
        owner = element("ID", key.key_id) + element("DisplayName", name)
        grantee = ('<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                   'xsi:type="CanonicalUser">' + owner + "</Grantee>")
        if perm.allow_owner:
            rights = ["FULL_CONTROL"]
        else:
            rights = (["READ", "READ_ACP"] if perm.allow_read else []) + \
                (["WRITE"] if perm.allow_write else [])
        grants += ["<Grant>" + grantee + element("Permission", right) + "</Grant>"
                   for right in rights]
    for uri, permission in GRANTS.get(canned or PRIVATE, ()):
        grants.append('<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                      'xsi:type="Group">' + element("URI", uri) + "</Grantee>"
                      + element("Permission", permission) + "</Grant>")
    return document("AccessControlPolicy", ["<Owner>" + owner + "</Owner>",
                                            "<AccessControlList>" + "".join(grants)
                                            + "</AccessControlList>"])


async def _wanted_acl(ctx: RequestContext) -> str:
    body = await read_small_body(ctx, MAX_BODY)
    canned = requested_acl(ctx.header)
    if canned is not None and body.strip():
        raise errors.UnexpectedContent("This request does not support content when "
                                       "an ACL header is given")
    if canned is None:
        if not body.strip():
            raise errors.MissingSecurityHeader("Your request was missing a required header",
                                               extra={"MissingHeaderName": "x-amz-acl"})
        canned = _canned_of_document(body)
    check_not_blocked(ctx.bucket, canned)
    return canned


async def get_bucket_acl(ctx: RequestContext) -> bytes:
    return respond(ctx.request, _acl_document(ctx, ctx.bucket.params.acl.value))


async def put_bucket_acl(ctx: RequestContext) -> bytes:
    canned = await _wanted_acl(ctx)
    await ctx.api.helper.set_bucket_config(ctx.bucket_id, "acl",
                                           None if canned == PRIVATE else canned)
    return respond(ctx.request)


async def get_object_acl(ctx: RequestContext) -> bytes:
    from_version = await _load(ctx)
    set_version_header(ctx, from_version)
    register = from_version.acl
    return respond(ctx.request, _acl_document(ctx, None if register is None
                                              else register.value))


async def put_object_acl(ctx: RequestContext) -> bytes:
    canned = await _wanted_acl(ctx)
    await set_version_register(ctx, await _load(ctx), "acl", canned)
    return respond(ctx.request)


async def _load(ctx: RequestContext):
    obj = await ctx.api.model.object_table.get(ctx.bucket_id, ctx.endpoint.key.encode())
    return find_readable(ctx, obj, ctx.endpoint.key)


# -- PublicAccessBlock ----------------------------------------------------

def parse_block(body: bytes) -> tuple:
    root = parse_document(body, "PublicAccessBlockConfiguration")
    values = {}
    for child in root:
        name = local_name(child.tag)
        if name not in BLOCK_FLAGS:
            raise errors.MalformedXML(f"unexpected element <{name}>")
        text = (child.text or "").strip().lower()
        if text not in ("true", "false"):
            raise errors.MalformedXML(f"{name} must be true or false")
        values[name] = text == "true"
    return tuple(values.get(name, False) for name in BLOCK_FLAGS)


async def put_public_access_block(ctx: RequestContext) -> bytes:
    flags = parse_block(await read_small_body(ctx, MAX_BODY))
    await ctx.api.helper.set_bucket_config(ctx.bucket_id, "public_access_block", flags)
    return respond(ctx.request)


async def get_public_access_block(ctx: RequestContext) -> bytes:
    flags = block_flags(ctx.bucket)
    if flags is None:
        raise errors.NoSuchPublicAccessBlockConfiguration(
            "The public access block configuration was not found",
            extra={"BucketName": ctx.endpoint.bucket})
    return respond(ctx.request, document("PublicAccessBlockConfiguration", [
        element(name, "true" if value else "false")
        for name, value in zip(BLOCK_FLAGS, flags)]))


async def delete_public_access_block(ctx: RequestContext) -> bytes:
    await ctx.api.helper.set_bucket_config(ctx.bucket_id, "public_access_block", None)
    return respond(ctx.request, status=204)
