"""Bucket policies: the subset of AWS's policy language this node enforces.

:func:`parse_policy` turns PutBucketPolicy's body into a :class:`Policy`, or
refuses it with 400 MalformedPolicy naming what is wrong or what this node
does not support; :func:`load_policy` reads a stored one again. The access
decision (:mod:`.access`) only ever reads the parsed form.

The subset (``docs/s3.rst`` lists it for users):

- ``Version`` (``2012-10-17`` or ``2008-10-17``, the default), ``Id``,
  ``Statement`` (an object or a list), each with ``Sid``, ``Effect``
  (``Allow`` / ``Deny``), ``Principal``, ``Action`` or ``NotAction``,
  ``Resource`` or ``NotResource`` and ``Condition``.
- ``Principal``: ``"*"`` or ``{"AWS": ...}`` with ``"*"`` or access key ids
  (``GK`` + 24 hex digits). AWS's ARN forms name a key too:
  ``arn:aws:iam::<KEYID>:root`` (the key as an account) and
  ``arn:aws:iam::<anything>:user/<path/>KEYID`` (the key as a user).
  ``NotPrincipal``, ``Service``, ``Federated``, ``CanonicalUser``, roles
  and account numbers are refused.
- ``Action``: ``s3:`` names and wildcards (``*`` any run, ``?`` one
  character; case-insensitive), which must name at least one S3 action
  (:data:`S3_ACTIONS`).
- ``Resource``: ``*``, ``arn:aws:s3:::BUCKET`` and ``arn:aws:s3:::BUCKET/KEYS``
  with wildcards (case-sensitive), naming this bucket (else AWS's "Policy has
  invalid resource").
- ``Condition``: the operators and keys of :mod:`.policy_condition`.

Evaluation follows IAM: within a condition block every operator, and within
an operator every key, must hold; a key's values are alternatives; a key the
request lacks fails a positive operator and passes a negated one
(``StringNotEquals``, ``StringNotLike``, ``NotIpAddress``, ...) and any
``...IfExists``.

Invariants: pure (no clock, no I/O; ``aws:CurrentTime`` comes in the
request context); a parsed policy keeps its text byte for byte (what
GetBucketPolicy answers); every pattern is compiled at parse time, and
wildcard matching scans the key once per piece of the pattern (no
backtracking regex a policy author could make explode).
"""

import functools
import json
import re
from dataclasses import dataclass

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.policy_condition import (
    SOURCE_IP, Condition, Glob, parse_conditions,
)

# AWS measures the 20 KB with the JSON's insignificant whitespace removed;
# the text as sent (which GetBucketPolicy answers) may be longer, up to
# MAX_TEXT_BYTES.
MAX_POLICY_BYTES = 20 * 1024
MAX_TEXT_BYTES = 2 * MAX_POLICY_BYTES
VERSIONS = ("2012-10-17", "2008-10-17")
DEFAULT_VERSION = "2008-10-17"
ALLOW = "Allow"
DENY = "Deny"

# Resource kinds of S3 actions (IAM's "resource types").
BUCKET = "bucket"
OBJECT = "object"
ACCOUNT = "account"

ARN_PREFIX = "arn:aws:s3:::"
KEY_ID = re.compile(r"GK[0-9a-f]{24}")
_USER_ARN = re.compile(r"arn:aws:iam::[^:]*:user/(?:[^:]*/)?(GK[0-9a-f]{24})")
_ROOT_ARN = re.compile(r"arn:aws:iam::(GK[0-9a-f]{24}):root")

# Every S3 action a bucket policy may name (AWS's list for buckets and
# objects, plus the account-level ones, which apply to no resource a
# bucket policy can name), with its resource kind.
S3_ACTIONS = {name: kind for kind, names in (
    (OBJECT, """AbortMultipartUpload BypassGovernanceRetention DeleteObject
        DeleteObjectTagging DeleteObjectVersion DeleteObjectVersionTagging GetObject
        GetObjectAcl GetObjectAttributes GetObjectLegalHold GetObjectRetention
        GetObjectTagging GetObjectTorrent GetObjectVersion GetObjectVersionAcl
        GetObjectVersionAttributes GetObjectVersionForReplication GetObjectVersionTagging
        GetObjectVersionTorrent InitiateReplication ListMultipartUploadParts
        ObjectOwnerOverrideToBucketOwner PutObject PutObjectAcl PutObjectLegalHold
        PutObjectRetention PutObjectTagging PutObjectVersionAcl PutObjectVersionTagging
        ReplicateDelete ReplicateObject ReplicateTags RestoreObject"""),
    (BUCKET, """CreateBucket DeleteBucket DeleteBucketOwnershipControls DeleteBucketPolicy
        DeleteBucketWebsite GetAccelerateConfiguration GetAnalyticsConfiguration
        GetBucketAcl GetBucketCORS GetBucketLocation GetBucketLogging GetBucketNotification
        GetBucketObjectLockConfiguration GetBucketOwnershipControls GetBucketPolicy
        GetBucketPolicyStatus GetBucketPublicAccessBlock GetBucketRequestPayment
        GetBucketTagging GetBucketVersioning GetBucketWebsite GetEncryptionConfiguration
        GetIntelligentTieringConfiguration GetInventoryConfiguration
        GetLifecycleConfiguration GetMetricsConfiguration GetReplicationConfiguration
        ListBucket ListBucketMultipartUploads ListBucketVersions PutAccelerateConfiguration
        PutAnalyticsConfiguration PutBucketAcl PutBucketCORS PutBucketLogging
        PutBucketNotification PutBucketObjectLockConfiguration PutBucketOwnershipControls
        PutBucketPolicy PutBucketPublicAccessBlock PutBucketRequestPayment PutBucketTagging
        PutBucketVersioning PutBucketWebsite PutEncryptionConfiguration
        PutIntelligentTieringConfiguration PutInventoryConfiguration
        PutLifecycleConfiguration PutMetricsConfiguration PutReplicationConfiguration"""),
    (ACCOUNT, """ListAllMyBuckets GetAccountPublicAccessBlock PutAccountPublicAccessBlock
        CreateJob"""),
) for name in ("s3:" + word for word in names.split())}
# Lower-case name -> kind: actions match case-insensitively.
_KIND_OF_ACTION = {name.lower(): kind for name, kind in S3_ACTIONS.items()}

_POLICY_FIELDS = ("Version", "Id", "Statement")
_STATEMENT_FIELDS = ("Sid", "Effect", "Principal", "Action", "NotAction", "Resource",
                     "NotResource", "Condition")


def _malformed(message: str) -> errors.S3Error:
    return errors.MalformedPolicy(message)


@dataclass(frozen=True)
class Statement:
    """One statement. ``actions`` is every S3 action (lower case) the
    statement applies to, Action or NotAction already resolved against
    :data:`S3_ACTIONS`; ``index`` is its 1-based place in the policy."""

    index: int
    sid: str | None
    effect: str
    everyone: bool
    key_ids: frozenset
    action_patterns: tuple
    not_action: bool
    actions: frozenset
    resources: tuple
    not_resource: bool
    conditions: tuple

    @property
    def label(self) -> str:
        """How reasons and logs name the statement: its Sid, else its place."""
        return repr(self.sid) if self.sid else f"#{self.index}"

    def names(self, key_id: str | None) -> bool:
        """Whether the statement's Principal covers ``key_id`` (None:
        anonymous, covered by ``"*"`` only)."""
        return self.everyone or (key_id is not None and key_id in self.key_ids)

    def covers(self, arns) -> bool:
        """Whether Resource (or NotResource) covers the request's resource,
        given as its ARN under each of the bucket's names."""
        hit = any(glob.matches(arn) for glob in self.resources for arn in arns)
        return hit != self.not_resource

    def applies(self, key_id, action: str, arns, context) -> bool:
        """Whether the statement applies: principal, action (lower case),
        resource, then conditions (cheapest test first)."""
        return (self.names(key_id) and action in self.actions and self.covers(arns)
                and all(condition.holds(context) for condition in self.conditions))


@dataclass(frozen=True)
class Policy:
    """A parsed bucket policy; ``text`` is the document as it was put."""

    text: str
    version: str
    id: str | None
    statements: tuple
    # The Allow statements that make the policy public (:func:`is_public`).
    public_statements: tuple

    @property
    def key_ids(self) -> frozenset:
        """Every access key id the policy names (the PutBucketPolicy handler
        may check they exist, as AWS refuses unknown principals)."""
        return frozenset().union(*(statement.key_ids for statement in self.statements))


def is_public(policy: Policy | None) -> bool:
    """Whether ``policy`` is public in AWS's sense (GetBucketPolicyStatus,
    BlockPublicPolicy, RestrictPublicBuckets).

    AWS calls a policy public unless every grant is to fixed values; of the
    fixed values AWS lists, this node has two: named keys (principals) and
    ``aws:SourceIp`` ranges. So an Allow statement is public when its
    Principal is ``"*"``, unless

    - it has an ``IpAddress`` condition on ``aws:SourceIp`` whose ranges are
      all fixed (not ``0.0.0.0/0`` nor ``::/0``), or
    - a Deny statement to ``"*"`` refuses all its actions on all its
      resources outside fixed ranges (``NotIpAddress`` on ``aws:SourceIp``
      and no other condition): AWS's "restrict to an IP range" example.

    Referer, user agent, TLS, prefix and date conditions do not make a grant
    non-public (AWS: anyone can meet them). Unlike AWS, which reasons over
    the whole policy, this judges each Allow statement with those two
    patterns only: where it errs, it errs towards "public".
    """
    return policy is not None and bool(policy.public_statements)


def _public_statements(statements: tuple) -> tuple:
    fences = [s for s in statements if s.effect == DENY and s.everyone and
              s.conditions and all(_fixed_ranges(c, negated=True) for c in s.conditions)]
    return tuple(s for s in statements if s.effect == ALLOW and s.everyone
                 and not any(_fixed_ranges(c, negated=False) for c in s.conditions)
                 and not any(_fences(fence, s) for fence in fences))


def _fixed_ranges(condition: Condition, negated: bool) -> bool:
    return (condition.key == SOURCE_IP and condition.base == "IpAddress"
            and condition.negated == negated and not condition.if_exists
            and all(network.prefixlen > 0 for network in condition.values))


def _fences(deny: Statement, allow: Statement) -> bool:
    """Whether ``deny`` refuses everything ``allow`` grants (same actions or
    more, and resources that cover ``allow``'s)."""
    if not allow.actions <= deny.actions or deny.not_resource:
        return False
    patterns = [glob.pattern for glob in deny.resources]
    if "*" in patterns:
        return True
    if allow.not_resource:
        return False
    return all(any(pattern == wanted.pattern or (pattern.endswith("*") and "?" not in pattern
                                                 and wanted.pattern.startswith(pattern[:-1]))
                   for pattern in patterns)
               for wanted in allow.resources)


# -- parsing ---------------------------------------------------------------

def parse_policy(text, bucket_names) -> Policy:
    """Parse and validate PutBucketPolicy's body for the bucket called
    ``bucket_names`` (a name, or every name the bucket answers to: each
    resource must reach into the bucket under one of them).

    :param text: the body, ``bytes`` or ``str``.
    :raises errors.MalformedPolicy: naming what is wrong or unsupported.
    """
    if isinstance(bucket_names, str):
        bucket_names = (bucket_names,)
    return _parse(text, tuple(bucket_names))


@functools.lru_cache(maxsize=256)
def load_policy(text: str) -> Policy:
    """A stored policy (``BucketParams.policy``) parsed again, without the
    resource check :func:`parse_policy` made when it was put (the bucket's
    names may have changed since). Cached by text: requests parse nothing.

    :raises errors.MalformedPolicy: a stored text this node no longer
        accepts (callers refuse access rather than ignore the policy).
    """
    return _parse(text, None)


def _parse(text, bucket_names) -> Policy:
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_TEXT_BYTES:
            raise _malformed("Policies must be no more than 20 KB")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("Policies must be valid JSON and the first byte must be '{'")
    elif len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise _malformed("Policies must be no more than 20 KB")
    if not text.lstrip().startswith("{"):
        raise _malformed("Policies must be valid JSON and the first byte must be '{'")
    try:
        document = json.loads(text, object_pairs_hook=_unique_fields,
                              parse_constant=_no_constant)
    except _Duplicate as duplicate:
        raise _malformed(f"Duplicate field {duplicate.args[0]}")
    except (ValueError, RecursionError):
        raise _malformed("This policy contains invalid Json")
    if not isinstance(document, dict):
        raise _malformed("Policies must be valid JSON and the first byte must be '{'")
    compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    if len(compact.encode("utf-8")) > MAX_POLICY_BYTES:
        raise _malformed("Policies must be no more than 20 KB")
    for name in document:
        if name not in _POLICY_FIELDS:
            raise _malformed(f"Unknown field {name}")
    version = document.get("Version", DEFAULT_VERSION)
    if version not in VERSIONS:
        raise _malformed(f"The policy must contain a valid version string "
                         f"({' or '.join(VERSIONS)})")
    policy_id = document.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise _malformed("Id must be a string")
    if "Statement" not in document:
        raise _malformed("Missing required field Statement")
    raw = document["Statement"]
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list) or not raw:
        raise _malformed("Could not parse the policy: Statement is empty!")
    statements, sids = [], set()
    for index, item in enumerate(raw, 1):
        statement = _statement(index, item, version, bucket_names)
        if statement.sid:
            if statement.sid in sids:
                raise _malformed(f"Statement IDs (SID) in a single policy must be unique: "
                                 f"{statement.sid!r}")
            sids.add(statement.sid)
        statements.append(statement)
    statements = tuple(statements)
    return Policy(text, version, policy_id, statements, _public_statements(statements))


class _Duplicate(ValueError):
    pass


def _unique_fields(pairs):
    out = {}
    for name, value in pairs:
        if name in out:
            raise _Duplicate(name)
        out[name] = value
    return out


def _no_constant(name):
    raise ValueError(name)


def _statement(index, item, version, bucket_names) -> Statement:
    if not isinstance(item, dict):
        raise _malformed("Each Statement must be a JSON object")
    for name in item:
        if name == "NotPrincipal":
            raise _malformed("NotPrincipal is not supported by this server "
                             "(use Principal with a Deny or a condition)")
        if name not in _STATEMENT_FIELDS:
            raise _malformed(f"Unknown field {name}")
    sid = item.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise _malformed("Sid must be a string")
    effect = item.get("Effect")
    if effect is None:
        raise _malformed("Missing required field Effect")
    if effect not in (ALLOW, DENY):
        raise _malformed(f"Invalid effect: {str(effect)[:64]}")
    if "Principal" not in item:
        raise _malformed("Missing required field Principal")
    everyone, key_ids = _principal(item["Principal"])
    action_patterns, not_action = _one_of(item, "Action", "NotAction")
    action_patterns = _strings(action_patterns, "Action")
    matched = frozenset().union(*(_actions_of(pattern) for pattern in action_patterns))
    actions = frozenset(_KIND_OF_ACTION) - matched if not_action else matched
    resource_patterns, not_resource = _one_of(item, "Resource", "NotResource")
    resources = tuple(_resource(pattern, version, bucket_names)
                      for pattern in _strings(resource_patterns, "Resource"))
    if bucket_names is not None and not not_action and not not_resource:
        _check_applies(action_patterns, resources, bucket_names)
    conditions = parse_conditions(item.get("Condition"), version)
    return Statement(index, sid, effect, everyone, frozenset(key_ids), tuple(action_patterns),
                     not_action, actions, resources, not_resource, conditions)


def _one_of(item, name, negated_name):
    if name in item and negated_name in item:
        raise _malformed(f"A statement cannot have both {name} and {negated_name}")
    if name in item:
        return item[name], False
    if negated_name in item:
        return item[negated_name], True
    raise _malformed(f"Missing required field {name}")


def _strings(value, what) -> list:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or \
            not all(isinstance(one, str) for one in values):
        raise _malformed(f"{what} must be a string or a non-empty list of strings")
    return values


def _principal(value) -> tuple:
    """``(everyone, key ids)`` of a Principal element."""
    if value == "*":
        return True, ()
    if not isinstance(value, dict) or not value:
        raise _malformed("Invalid principal in policy: Principal must be \"*\" or "
                         "{\"AWS\": ...}")
    for kind in value:
        if kind != "AWS":
            raise _malformed(f"Invalid principal in policy: {kind} principals are not "
                             "supported by this server (name access key ids under \"AWS\")")
    names = value["AWS"]
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names:
        raise _malformed("Invalid principal in policy: AWS must be a string or a "
                         "non-empty list")
    everyone, key_ids = False, []
    for name in names:
        if name == "*":
            everyone = True
            continue
        key_id = _key_id_of(name)
        if key_id is None:
            raise _malformed(f"Invalid principal in policy: {str(name)[:128]!r} (name an "
                             "access key id GK..., arn:aws:iam::GK...:root or "
                             "arn:aws:iam::...:user/GK...)")
        key_ids.append(key_id)
    return everyone, key_ids


def _key_id_of(name) -> str | None:
    if not isinstance(name, str):
        return None
    if KEY_ID.fullmatch(name):
        return name
    match = _ROOT_ARN.fullmatch(name) or _USER_ARN.fullmatch(name)
    return match.group(1) if match else None


@functools.lru_cache(maxsize=1024)
def _actions_of(pattern: str) -> frozenset:
    """The S3 actions (lower case) an Action pattern names."""
    lower = pattern.lower()
    if lower != "*" and not lower.startswith("s3:"):
        raise _malformed(f"Policy has invalid action: {pattern[:128]!r} (only s3: actions "
                         "apply to a bucket)")
    if "${" in pattern:
        raise _malformed(f"Policy has invalid action: {pattern[:128]!r}")
    glob = Glob(lower)
    found = frozenset(name for name in _KIND_OF_ACTION if glob.matches(name))
    if not found:
        raise _malformed(f"Policy has invalid action: {pattern[:128]!r}")
    return found


def _resource(pattern: str, version: str, bucket_names) -> Glob:
    if version == "2012-10-17" and "${" in pattern:
        raise _malformed(f"Policy variables are not supported by this server: "
                         f"{pattern[:128]!r}")
    if pattern != "*" and not pattern.startswith(ARN_PREFIX):
        raise _malformed("Policy has invalid resource")
    glob = Glob(pattern)
    if bucket_names is not None and not any(_reaches(glob, name) for name in bucket_names):
        raise _malformed("Policy has invalid resource")
    return glob


def _reaches(glob: Glob, bucket: str) -> bool:
    """Whether the resource pattern covers the bucket or some of its objects."""
    arn = ARN_PREFIX + bucket
    return glob.matches(arn) or glob.may_start(arn + "/")


def _check_applies(action_patterns, resources, bucket_names) -> None:
    kinds = set()
    for glob in resources:
        for name in bucket_names:
            if glob.matches(ARN_PREFIX + name):
                kinds.add(BUCKET)
            if glob.may_start(ARN_PREFIX + name + "/"):
                kinds.add(OBJECT)
    for pattern in action_patterns:
        if not any(_KIND_OF_ACTION[name] in kinds for name in _actions_of(pattern)):
            raise _malformed("Action does not apply to any resource(s) in statement")


