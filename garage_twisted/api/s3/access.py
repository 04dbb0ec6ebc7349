"""The access decision: may this principal do this action on this resource?

:func:`decide` is the one place that answers it, for every S3 and website
request, combining in AWS's order:

1. an explicit Deny of the bucket policy that applies to the request refuses
   it, whatever else allows it;
2. otherwise any Allow allows it: the key's own permission on the bucket
   (``key_right``, which the dispatcher computes from the key's READ, WRITE
   and OWNER flags as before; an anonymous request has none), an Allow
   statement of the bucket policy, or a grant of a canned ACL;
3. otherwise it is refused (default deny).

PublicAccessBlock only ever takes away: ``IgnorePublicAcls`` voids every
public ACL's grants, ``RestrictPublicBuckets`` voids a public policy's Allow
statements (:func:`~.policy.is_public`) for principals outside the bucket
(anonymous requests, and keys with no permission on it: AWS's "outside the
bucket owner's account"); its Deny statements still refuse.
``BlockPublicAcls`` and ``BlockPublicPolicy`` act when an ACL or a policy is
put: handlers ask :func:`refuses_acl` and :func:`refuses_policy`.

Canned ACLs grant (AWS's ACL-to-action mapping):

- ``public-read`` on a bucket: anyone, signed or not, may list it
  (``s3:ListBucket``, ``s3:ListBucketVersions``,
  ``s3:ListBucketMultipartUploads``); on an object: anyone may read it
  (``s3:GetObject``, ``s3:GetObjectVersion``);
- ``public-read-write`` on a bucket: that, plus writing and deleting any
  object (``s3:PutObject``, ``s3:DeleteObject``, and
  ``s3:AbortMultipartUpload`` so an upload can be given up); on an object,
  as ``public-read`` (AWS: WRITE does not apply to objects);
- ``authenticated-read``: as ``public-read``, for signed requests only (any
  key of this cluster: AWS's AuthenticatedUsers);
- ``private``, ``bucket-owner-read``, ``bucket-owner-full-control``: nothing
  beyond ``key_right``. The bucket's owners are the keys with owner
  permission on it, which already read and write every object.

Requests map to IAM actions by :data:`ACTIONS`, keyed by this node's S3
endpoint names. Some requests take more than one decision: CopyObject and
UploadPartCopy decide the destination under their own name and the source
as ``CopySource`` (on the source bucket and key); DeleteObjects decides each
key as ``DeleteObject``; a PutObjectRetention that bypasses GOVERNANCE
retention also decides ``BypassGovernanceRetention``. The website endpoint
decides ``Website`` (AWS serves what anonymous ``s3:GetObject`` may read).

A policy names the bucket in its resources; here a bucket may answer to
several names (aliases), so the request's resource is matched under each of
them (:attr:`BucketAccess.bucket_names`): whichever name a request uses,
the same statements apply, Deny ones included.

Pure: no I/O, no clock (``aws:CurrentTime`` comes in the request context).
"""

from dataclasses import dataclass, field
from types import MappingProxyType

from garage_twisted.api.s3.policy import (
    ACCOUNT, ARN_PREFIX, BUCKET, DENY, OBJECT, Policy, is_public,
)

PRIVATE = "private"
PUBLIC_READ = "public-read"
PUBLIC_READ_WRITE = "public-read-write"
AUTHENTICATED_READ = "authenticated-read"
BUCKET_OWNER_READ = "bucket-owner-read"
BUCKET_OWNER_FULL_CONTROL = "bucket-owner-full-control"
CANNED_ACLS = frozenset({PRIVATE, PUBLIC_READ, PUBLIC_READ_WRITE, AUTHENTICATED_READ,
                         BUCKET_OWNER_READ, BUCKET_OWNER_FULL_CONTROL})
# The ACLs that grant something beyond the bucket's keys: what
# BlockPublicAcls refuses and IgnorePublicAcls voids (AWS calls an ACL
# granting to AllUsers or AuthenticatedUsers public).
PUBLIC_ACLS = frozenset({PUBLIC_READ, PUBLIC_READ_WRITE, AUTHENTICATED_READ})

EVERYONE = "everyone"
SIGNED = "every key"
_BUCKET_READ = frozenset({"s3:ListBucket", "s3:ListBucketVersions",
                          "s3:ListBucketMultipartUploads"})
_BUCKET_WRITE = frozenset({"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"})
_OBJECT_READ = frozenset({"s3:GetObject", "s3:GetObjectVersion"})
# Canned ACL -> (who, IAM actions granted). A bucket's ACL grants on the
# bucket and, for writes, on every object in it; an object's on itself.
BUCKET_ACL_GRANTS = {
    PUBLIC_READ: (EVERYONE, _BUCKET_READ),
    PUBLIC_READ_WRITE: (EVERYONE, _BUCKET_READ | _BUCKET_WRITE),
    AUTHENTICATED_READ: (SIGNED, _BUCKET_READ),
}
OBJECT_ACL_GRANTS = {
    PUBLIC_READ: (EVERYONE, _OBJECT_READ),
    PUBLIC_READ_WRITE: (EVERYONE, _OBJECT_READ),
    AUTHENTICATED_READ: (SIGNED, _OBJECT_READ),
}


@dataclass(frozen=True)
class ActionSpec:
    """What an endpoint asks for: its IAM action, the kind of resource it
    acts on (``bucket``, ``object``, or ``account`` for ListBuckets), and
    the IAM action it asks for instead when it names a version."""

    iam_action: str
    kind: str
    version_action: str | None = None


def _object(action, version_action=None):
    return ActionSpec(action, OBJECT, version_action)


def _bucket(action):
    return ActionSpec(action, BUCKET)


ACTIONS = {
    "ListBuckets": ActionSpec("s3:ListAllMyBuckets", ACCOUNT),
    "CreateBucket": _bucket("s3:CreateBucket"),
    "DeleteBucket": _bucket("s3:DeleteBucket"),
    "HeadBucket": _bucket("s3:ListBucket"),
    "GetBucketLocation": _bucket("s3:GetBucketLocation"),
    "ListObjects": _bucket("s3:ListBucket"),
    "ListObjectsV2": _bucket("s3:ListBucket"),
    "ListObjectVersions": _bucket("s3:ListBucketVersions"),
    "ListMultipartUploads": _bucket("s3:ListBucketMultipartUploads"),
    "GetBucketVersioning": _bucket("s3:GetBucketVersioning"),
    "PutBucketVersioning": _bucket("s3:PutBucketVersioning"),
    "GetObjectLockConfiguration": _bucket("s3:GetBucketObjectLockConfiguration"),
    "PutObjectLockConfiguration": _bucket("s3:PutBucketObjectLockConfiguration"),
    "GetBucketAcl": _bucket("s3:GetBucketAcl"),
    "PutBucketAcl": _bucket("s3:PutBucketAcl"),
    "GetBucketTagging": _bucket("s3:GetBucketTagging"),
    "PutBucketTagging": _bucket("s3:PutBucketTagging"),
    "DeleteBucketTagging": _bucket("s3:PutBucketTagging"),
    "GetBucketCors": _bucket("s3:GetBucketCORS"),
    "PutBucketCors": _bucket("s3:PutBucketCORS"),
    "DeleteBucketCors": _bucket("s3:PutBucketCORS"),
    "GetBucketLifecycleConfiguration": _bucket("s3:GetLifecycleConfiguration"),
    "PutBucketLifecycleConfiguration": _bucket("s3:PutLifecycleConfiguration"),
    "DeleteBucketLifecycle": _bucket("s3:PutLifecycleConfiguration"),
    "GetBucketWebsite": _bucket("s3:GetBucketWebsite"),
    "PutBucketWebsite": _bucket("s3:PutBucketWebsite"),
    "DeleteBucketWebsite": _bucket("s3:DeleteBucketWebsite"),
    "GetBucketPolicy": _bucket("s3:GetBucketPolicy"),
    "PutBucketPolicy": _bucket("s3:PutBucketPolicy"),
    "DeleteBucketPolicy": _bucket("s3:DeleteBucketPolicy"),
    "GetBucketPolicyStatus": _bucket("s3:GetBucketPolicyStatus"),
    "GetPublicAccessBlock": _bucket("s3:GetBucketPublicAccessBlock"),
    "PutPublicAccessBlock": _bucket("s3:PutBucketPublicAccessBlock"),
    "DeletePublicAccessBlock": _bucket("s3:PutBucketPublicAccessBlock"),
    "GetBucketEncryption": _bucket("s3:GetEncryptionConfiguration"),
    "PutBucketEncryption": _bucket("s3:PutEncryptionConfiguration"),
    "DeleteBucketEncryption": _bucket("s3:PutEncryptionConfiguration"),
    "GetObject": _object("s3:GetObject", "s3:GetObjectVersion"),
    "HeadObject": _object("s3:GetObject", "s3:GetObjectVersion"),
    "GetObjectAttributes": _object("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
    "PutObject": _object("s3:PutObject"),
    "PostObject": _object("s3:PutObject"),
    "CopyObject": _object("s3:PutObject"),
    "UploadPartCopy": _object("s3:PutObject"),
    "CreateMultipartUpload": _object("s3:PutObject"),
    "UploadPart": _object("s3:PutObject"),
    "CompleteMultipartUpload": _object("s3:PutObject"),
    "AbortMultipartUpload": _object("s3:AbortMultipartUpload"),
    "ListParts": _object("s3:ListMultipartUploadParts"),
    "DeleteObject": _object("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "DeleteObjects": _object("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "GetObjectTagging": _object("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    "PutObjectTagging": _object("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    "DeleteObjectTagging": _object("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
    "GetObjectAcl": _object("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
    "PutObjectAcl": _object("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
    "GetObjectRetention": _object("s3:GetObjectRetention"),
    "PutObjectRetention": _object("s3:PutObjectRetention"),
    "GetObjectLegalHold": _object("s3:GetObjectLegalHold"),
    "PutObjectLegalHold": _object("s3:PutObjectLegalHold"),
    # Second decisions of a request (module docstring).
    "CopySource": _object("s3:GetObject", "s3:GetObjectVersion"),
    "BypassGovernanceRetention": _object("s3:BypassGovernanceRetention"),
    "Website": _object("s3:GetObject"),
}

EMPTY_CONTEXT = MappingProxyType({})


@dataclass(frozen=True)
class Principal:
    """Who asks: a key (``key_id``) or nobody (None: an anonymous request).
    ``bucket_rights``: whether the key holds any permission (read, write or
    owner) on the bucket, which keeps a public policy's grants under
    RestrictPublicBuckets."""

    key_id: str | None
    bucket_rights: bool = False


ANONYMOUS = Principal(None)


@dataclass(frozen=True)
class AccessRequest:
    """What is asked: an endpoint name of :data:`ACTIONS`, on ``bucket``
    (the name the request used) and, for object actions, ``key``;
    ``version_id`` when the request names a version (GetObject's
    ``versionId`` asks for ``s3:GetObjectVersion``, as AWS). ``context``
    maps the condition keys of :mod:`.policy_condition` to the request's
    values: ``aws:SourceIp`` (str), ``aws:SecureTransport`` (bool),
    ``aws:CurrentTime`` (ms or datetime), ``aws:Referer``,
    ``aws:UserAgent``, ``s3:prefix``, ``s3:delimiter`` (str) and
    ``s3:max-keys`` (int or str); a key absent (or None) is one the request
    lacks."""

    action: str
    bucket: str
    key: str | None = None
    context: object = field(default_factory=lambda: EMPTY_CONTEXT)
    version_id: str | None = None


@dataclass(frozen=True)
class PublicAccessBlock:
    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    @classmethod
    def from_flags(cls, flags) -> "PublicAccessBlock | None":
        """From ``BucketParams.public_access_block`` (None, or the four flags
        in ``BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy,
        RestrictPublicBuckets`` order)."""
        return None if flags is None else cls(*(bool(flag) for flag in flags))


NO_BLOCK = PublicAccessBlock()


@dataclass(frozen=True)
class BucketAccess:
    """The bucket's access rules: its parsed policy (:func:`~.policy.load_policy`),
    its canned ACL, the canned ACL of the object version the request
    addresses (None when there is none, or it is not read yet), its
    PublicAccessBlock, and every name the bucket answers to (its aliases;
    empty: the request's name only)."""

    policy: Policy | None = None
    bucket_acl: str | None = None
    object_acl: str | None = None
    block: PublicAccessBlock | None = None
    bucket_names: tuple = ()


NO_RULES = BucketAccess()


@dataclass(frozen=True)
class Decision:
    """The answer, with what decided it (for logs, and for the operator)."""

    allowed: bool
    reason: str
    iam_action: str = ""
    # Refused by a Deny statement (nothing can allow it: the website
    # endpoint, whose own grant is the website flag, asks this).
    explicit_deny: bool = False


def iam_action(action: str, version_id: str | None = None) -> str:
    """The IAM action endpoint ``action`` asks for."""
    spec = ACTIONS[action]
    if version_id is not None and spec.version_action is not None:
        return spec.version_action
    return spec.iam_action


def decide(principal: Principal, key_right: bool, request: AccessRequest,
           access: BucketAccess = NO_RULES) -> Decision:
    """May ``principal`` do ``request``? (Module docstring for the order.)

    :param key_right: whether the key's permission flags on the bucket allow
        this endpoint (ignored for anonymous requests).
    :raises KeyError: an endpoint :data:`ACTIONS` does not know.
    :raises ValueError: an object action without a key.
    """
    spec = ACTIONS[request.action]
    iam = iam_action(request.action, request.version_id)
    key_id = principal.key_id
    keyed = key_right and key_id is not None
    policy = access.policy
    allow = None
    if policy is not None and spec.kind != ACCOUNT:
        arns = _arns(request, spec.kind, access.bucket_names)
        action = iam.lower()
        context = request.context
        for statement in policy.statements:
            if statement.effect == DENY:
                if statement.applies(key_id, action, arns, context):
                    return Decision(False, f"{iam} refused by an explicit Deny: bucket policy "
                                    f"statement {statement.label}", iam, explicit_deny=True)
            elif allow is None and not keyed and \
                    statement.applies(key_id, action, arns, context):
                allow = statement
    if keyed:
        return Decision(True, f"{iam} allowed by the key's permission on the bucket", iam)
    block = access.block or NO_BLOCK
    voided = []
    if allow is not None:
        if block.restrict_public_buckets and policy.public_statements and \
                not (key_id is not None and principal.bucket_rights):
            voided.append(f"bucket policy statement {allow.label} would allow it, but the "
                          "policy is public and RestrictPublicBuckets limits it to keys with "
                          "permissions on the bucket")
        else:
            return Decision(True, f"{iam} allowed by bucket policy statement {allow.label}",
                            iam)
    grants = [("bucket", access.bucket_acl, BUCKET_ACL_GRANTS)]
    if spec.kind == OBJECT:
        grants.append(("object", access.object_acl, OBJECT_ACL_GRANTS))
    for what, acl, table in grants:
        who, actions = table.get(acl, (None, ()))
        if iam in actions and (who == EVERYONE or key_id is not None):
            if not block.ignore_public_acls:
                return Decision(True, f"{iam} allowed by the {what} ACL {acl} (it lets "
                                f"{who} do it)", iam)
            voided.append(f"the {what} ACL {acl} would allow it, but IgnorePublicAcls "
                          "ignores public ACLs")
    if voided:
        return Decision(False, f"{iam} denied: " + "; ".join(voided), iam)
    whom = "anonymous request" if key_id is None else f"key {key_id}"
    return Decision(False, f"{iam} denied: no permission of the {whom}, no policy "
                    "statement and no ACL allows it (default deny)", iam)


def _arns(request: AccessRequest, kind: str, names: tuple) -> tuple:
    if request.bucket not in names:
        names = tuple(names) + (request.bucket,)
    if kind == BUCKET:
        return tuple(ARN_PREFIX + name for name in names)
    if request.key is None:
        raise ValueError(f"{request.action} acts on an object: the request needs its key")
    return tuple(f"{ARN_PREFIX}{name}/{request.key}" for name in names)


def refuses_acl(block: PublicAccessBlock | None, acl: str | None) -> str | None:
    """Why BlockPublicAcls refuses putting ``acl`` (on a bucket or object,
    by Put*Acl or ``x-amz-acl``), or None. AWS answers 403 AccessDenied."""
    if block is not None and block.block_public_acls and acl in PUBLIC_ACLS:
        return (f"the bucket's PublicAccessBlock (BlockPublicAcls) refuses the public ACL "
                f"{acl}")
    return None


def refuses_policy(block: PublicAccessBlock | None, policy: Policy | None) -> str | None:
    """Why BlockPublicPolicy refuses putting ``policy``, or None. AWS
    answers 403 AccessDenied."""
    if block is not None and block.block_public_policy and is_public(policy):
        labels = ", ".join(statement.label for statement in policy.public_statements)
        return (f"the bucket's PublicAccessBlock (BlockPublicPolicy) refuses public policies "
                f"(statement {labels} allows access to everyone)")
    return None


def public_reasons(access: BucketAccess) -> tuple:
    """Why the bucket is public, one sentence per cause (empty: it is not),
    for ``garage bucket info``: the public statements of its policy, unless
    RestrictPublicBuckets holds them back, and a public bucket ACL, unless
    IgnorePublicAcls does. Objects' own ACLs are not counted."""
    block = access.block or NO_BLOCK
    reasons = []
    policy = access.policy
    if is_public(policy) and not block.restrict_public_buckets:
        for statement in policy.public_statements:
            actions = ", ".join(statement.action_patterns)
            if statement.not_action:
                actions = "every action but " + actions
            reasons.append(f"bucket policy statement {statement.label} allows {actions} "
                           "to everyone")
    if access.bucket_acl in PUBLIC_ACLS and not block.ignore_public_acls:
        who, actions = BUCKET_ACL_GRANTS[access.bucket_acl]
        verbs = "list and write objects in it" if "s3:PutObject" in actions else "list it"
        reasons.append(f"bucket ACL {access.bucket_acl} lets {who} {verbs}")
    return tuple(reasons)
