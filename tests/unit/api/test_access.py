"""The access decision: AWS's documented evaluation examples as a table, and
the properties that make it safe (an explicit Deny always wins, nothing is
allowed without an Allow, PublicAccessBlock only takes away)."""

import json
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.s3 import access
from garage_twisted.api.s3.access import (
    ACTIONS, ANONYMOUS, AccessRequest, BucketAccess, Principal, PublicAccessBlock, decide,
    iam_action, public_reasons, refuses_acl, refuses_policy,
)
from garage_twisted.api.s3.policy import S3_ACTIONS, load_policy, parse_policy

KEY = "GK" + "1" * 24
OTHER = "GK" + "2" * 24
BUCKET = "photos"
ARN = "arn:aws:s3:::photos"
NOW = datetime(2026, 12, 6, tzinfo=timezone.utc)
# What the dispatcher would put in the context of an ordinary request.
CONTEXT = {"aws:SourceIp": "192.0.2.10", "aws:SecureTransport": True, "aws:CurrentTime": NOW}


def policy(*statements):
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
                        BUCKET)


def allow(**fields):
    base = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": ARN + "/*"}
    base.update(fields)
    return {name: value for name, value in base.items() if value is not None}


def deny(**fields):
    return allow(Effect="Deny", **fields)


def request(action="GetObject", key="a.jpg", bucket=BUCKET, version_id=None, **context):
    if ACTIONS[action].kind != "object":
        key = None
    return AccessRequest(action, bucket, key, dict(CONTEXT, **context), version_id)


KEYED = Principal(KEY, bucket_rights=True)
STRANGER = Principal(OTHER)


class ExampleTests(SynchronousTestCase):
    """AWS's bucket policy examples and evaluation-logic rules, one row per
    (policy, who, key permission, request, rules) -> (allowed, reason)."""

    def check(self, rows, rules=BucketAccess()):
        for principal, key_right, asked, allowed, reason in rows:
            decision = decide(principal, key_right, asked, rules)
            self.assertEqual(decision.allowed, allowed, (principal, asked, decision))
            self.assertIn(reason, decision.reason)
            self.assertEqual(decision.iam_action, iam_action(asked.action, asked.version_id))

    def test_key_permissions_alone(self):
        """Without policy or ACL, the key's permission decides, as before;
        an anonymous request gets nothing from it."""
        self.check([
            (KEYED, True, request(), True, "allowed by the key's permission on the bucket"),
            (KEYED, False, request(), False, "default deny"),
            (ANONYMOUS, True, request(), False, "no permission of the anonymous request"),
            (ANONYMOUS, False, request("ListObjectsV2"), False, "s3:ListBucket denied"),
        ])

    def test_anonymous_read_of_a_prefix(self):
        """Granting read-only permission to anonymous users, on a prefix."""
        rules = BucketAccess(policy=policy(allow(Sid="PublicRead",
                                                 Resource=ARN + "/public/*")))
        self.check([
            (ANONYMOUS, False, request(key="public/a.jpg"), True,
             "allowed by bucket policy statement 'PublicRead'"),
            (ANONYMOUS, False, request("HeadObject", key="public/a/b.jpg"), True, "PublicRead"),
            (ANONYMOUS, False, request(key="private/a.jpg"), False, "default deny"),
            (ANONYMOUS, False, request(key="publicity.jpg"), False, "default deny"),
            (ANONYMOUS, False, request("PutObject", key="public/a.jpg"), False, "default deny"),
            (ANONYMOUS, False, request("ListObjects"), False, "default deny"),
            (ANONYMOUS, False, request(key="public/a.jpg", version_id="v1"), False,
             "s3:GetObjectVersion denied"),
            (STRANGER, False, request(key="public/x"), True, "PublicRead"),
            (KEYED, True, request("PutObject", key="public/a.jpg"), True, "key's permission"),
        ], rules)

    def test_https_only(self):
        """Deny unless aws:SecureTransport: even the bucket's own keys."""
        rules = BucketAccess(policy=policy(deny(
            Sid="HttpsOnly", Action="s3:*", Resource=[ARN, ARN + "/*"],
            Condition={"Bool": {"aws:SecureTransport": "false"}})))
        self.check([
            (KEYED, True, request(), True, "key's permission"),
            (KEYED, True, request(**{"aws:SecureTransport": False}), False,
             "explicit Deny: bucket policy statement 'HttpsOnly'"),
            (KEYED, True, request("ListObjects", **{"aws:SecureTransport": False}), False,
             "HttpsOnly"),
            (KEYED, True, request("PutObject", **{"aws:SecureTransport": True}), True,
             "key's permission"),
        ], rules)

    def test_source_addresses(self):
        """Managing access based on IP addresses: a Deny outside the ranges."""
        rules = BucketAccess(policy=policy(deny(
            Sid="IPAllow", Action="s3:*", Resource=[ARN, ARN + "/*"],
            Condition={"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24",
                                                         "2001:DB8:1234:5678::/64"]}})))
        self.check([
            (KEYED, True, request(), True, "key's permission"),
            (KEYED, True, request(**{"aws:SourceIp": "2001:db8:1234:5678::9"}), True, "key's"),
            (KEYED, True, request(**{"aws:SourceIp": "203.0.113.1"}), False, "'IPAllow'"),
            (KEYED, True, request("DeleteBucket", **{"aws:SourceIp": "2001:db8::1"}), False,
             "'IPAllow'"),
        ], rules)

    def test_referer(self):
        """Restricting access to a specific HTTP referer."""
        rules = BucketAccess(policy=policy(allow(Sid="Referer", Condition={"StringLike": {
            "aws:Referer": ["https://www.example.com/*", "https://example.com/*"]}})))
        self.check([
            (ANONYMOUS, False, request(**{"aws:Referer": "https://example.com/page"}), True,
             "'Referer'"),
            (ANONYMOUS, False, request(**{"aws:Referer": "https://evil.example/"}), False,
             "default deny"),
            (ANONYMOUS, False, request(), False, "default deny"),
        ], rules)

    def test_home_folder(self):
        """A key limited to its home folder: list it (s3:prefix, s3:delimiter),
        read and write in it, nothing else."""
        rules = BucketAccess(policy=policy(
            allow(Sid="ListHome", Principal={"AWS": f"arn:aws:iam::111122223333:user/{KEY}"},
                  Action="s3:ListBucket", Resource=ARN,
                  Condition={"StringEquals": {"s3:prefix": ["", "home/", f"home/{KEY}/"],
                                              "s3:delimiter": "/"}}),
            allow(Sid="ListInside", Principal={"AWS": KEY}, Action="s3:ListBucket",
                  Resource=ARN, Condition={"StringLike": {"s3:prefix": f"home/{KEY}/*"}}),
            allow(Sid="UseHome", Principal={"AWS": [KEY]},
                  Action=["s3:GetObject", "s3:PutObject"], Resource=f"{ARN}/home/{KEY}/*")))
        me = Principal(KEY)
        self.check([
            (me, False, request("ListObjectsV2", **{"s3:prefix": "", "s3:delimiter": "/"}),
             True, "'ListHome'"),
            (me, False, request("ListObjectsV2", **{"s3:prefix": f"home/{KEY}/",
                                                    "s3:delimiter": "/"}), True, "ListHome"),
            (me, False, request("ListObjects", **{"s3:prefix": f"home/{KEY}/photos/"}), True,
             "'ListInside'"),
            (me, False, request("ListObjectsV2", **{"s3:prefix": ""}), False, "default deny"),
            (me, False, request("ListObjectsV2", **{"s3:prefix": "home/GK9/",
                                                    "s3:delimiter": "/"}), False, "default"),
            (me, False, request(key=f"home/{KEY}/a.txt"), True, "'UseHome'"),
            (me, False, request("PutObject", key=f"home/{KEY}/b/c.txt"), True, "'UseHome'"),
            (me, False, request("DeleteObject", key=f"home/{KEY}/a.txt"), False, "default"),
            (me, False, request(key=f"home/{OTHER}/a.txt"), False, "default deny"),
            (STRANGER, False, request(key=f"home/{KEY}/a.txt"), False, "default deny"),
            (ANONYMOUS, False, request(key=f"home/{KEY}/a.txt"), False, "default deny"),
        ], rules)

    def test_team_read_only(self):
        """The issue's acceptance case: a key granted read-only on ``team/*``
        lists and reads there and nothing else."""
        rules = BucketAccess(policy=policy(
            allow(Principal={"AWS": KEY}, Action="s3:ListBucket", Resource=ARN,
                  Condition={"StringLike": {"s3:prefix": "team/*"}}),
            allow(Principal={"AWS": KEY}, Resource=ARN + "/team/*")))
        me = Principal(KEY)
        self.check([
            (me, False, request("ListObjectsV2", **{"s3:prefix": "team/"}), True, "#1"),
            (me, False, request(key="team/plan.txt"), True, "statement #2"),
            (me, False, request("ListObjectsV2"), False, "default deny"),
            (me, False, request("ListObjectsV2", **{"s3:prefix": "other/"}), False, "default"),
            (me, False, request(key="other/plan.txt"), False, "default deny"),
            (me, False, request("PutObject", key="team/plan.txt"), False, "default deny"),
            (me, False, request("DeleteObject", key="team/plan.txt"), False, "default deny"),
        ], rules)

    def test_time_window(self):
        """DateGreaterThan / DateLessThan on aws:CurrentTime."""
        rules = BucketAccess(policy=policy(allow(Sid="Window", Condition={
            "DateGreaterThan": {"aws:CurrentTime": "2026-12-01T00:00:00Z"},
            "DateLessThan": {"aws:CurrentTime": "2026-12-31T23:59:59Z"}})))
        before = datetime(2026, 11, 30, tzinfo=timezone.utc)
        self.check([
            (ANONYMOUS, False, request(), True, "'Window'"),
            (ANONYMOUS, False, request(**{"aws:CurrentTime": int(NOW.timestamp() * 1000)}),
             True, "'Window'"),
            (ANONYMOUS, False, request(**{"aws:CurrentTime": before}), False, "default deny"),
            (ANONYMOUS, False, request(**{"aws:CurrentTime": datetime(2027, 1, 1)}), False,
             "default deny"),
        ], rules)

    def test_explicit_deny_beats_every_allow(self):
        """IAM's rule: an explicit Deny overrides the key's permission, an
        Allow statement and an ACL grant alike."""
        rules = BucketAccess(policy=policy(allow(Sid="All", Action="s3:*", Resource="*"),
                                           deny(Sid="NoDeletes", Action="s3:Delete*",
                                                Resource="*")),
                             bucket_acl="public-read-write")
        self.check([
            (KEYED, True, request("DeleteObject"), False, "Deny: bucket policy statement "
                                                          "'NoDeletes'"),
            (ANONYMOUS, False, request("DeleteObject"), False, "'NoDeletes'"),
            (KEYED, True, request("DeleteBucket"), False, "'NoDeletes'"),
            (ANONYMOUS, False, request("PutObject"), True, "'All'"),
        ], rules)

    def test_not_action_and_not_resource(self):
        rules = BucketAccess(policy=policy(
            deny(Sid="ReadOnly", Action=None, NotAction=["s3:Get*", "s3:List*"],
                 Principal={"AWS": OTHER}, Resource="*"),
            allow(Sid="AllButSecret", Principal={"AWS": OTHER}, Action="s3:*", Resource=None,
                  NotResource=ARN + "/secret/*")))
        self.check([
            (STRANGER, False, request(), True, "'AllButSecret'"),
            (STRANGER, False, request("ListObjects"), True, "'AllButSecret'"),
            (STRANGER, False, request(key="secret/x"), False, "default deny"),
            (STRANGER, False, request("PutObject"), False, "'ReadOnly'"),
            (STRANGER, True, request("PutObject"), False, "'ReadOnly'"),
        ], rules)

    def test_max_keys(self):
        rules = BucketAccess(policy=policy(deny(
            Sid="SmallPages", Action="s3:ListBucket", Resource=ARN,
            Condition={"NumericGreaterThan": {"s3:max-keys": "100"}})))
        self.check([
            (KEYED, True, request("ListObjectsV2", **{"s3:max-keys": 100}), True, "key's"),
            (KEYED, True, request("ListObjectsV2", **{"s3:max-keys": "1000"}), False,
             "'SmallPages'"),
            (KEYED, True, request("ListObjectsV2"), True, "key's"),
        ], rules)

    def test_versions(self):
        """A request naming a version asks for the ...Version action."""
        rules = BucketAccess(policy=policy(allow(Sid="Versions",
                                                 Action="s3:GetObjectVersion")))
        self.check([
            (ANONYMOUS, False, request(version_id="v1"), True, "'Versions'"),
            (ANONYMOUS, False, request(), False, "s3:GetObject denied"),
            (ANONYMOUS, False, request("DeleteObject", version_id="v1"), False,
             "s3:DeleteObjectVersion denied"),
        ], rules)

    def test_every_name_of_the_bucket(self):
        """Resources match under every name the bucket answers to, so
        another alias opens nothing a Deny closes."""
        rules = BucketAccess(policy=policy(allow(Sid="Public"),
                                           deny(Sid="Secret", Resource=ARN + "/secret/*")),
                             bucket_names=("photos", "pics"))
        self.check([
            (ANONYMOUS, False, request(bucket="pics"), True, "'Public'"),
            (ANONYMOUS, False, request(bucket="pics", key="secret/a"), False, "'Secret'"),
            (KEYED, True, request(bucket="pics", key="secret/a"), False, "'Secret'"),
            (KEYED, True, request(bucket="local-name", key="secret/a"), False, "'Secret'"),
        ], rules)


class AclTests(SynchronousTestCase):
    def decide(self, principal, asked, bucket_acl=None, object_acl=None, block=None,
               key_right=False):
        return decide(principal, key_right, asked,
                      BucketAccess(bucket_acl=bucket_acl, object_acl=object_acl, block=block))

    def test_bucket_acls(self):
        """A bucket's public-read lists it, public-read-write also writes
        in it, authenticated-read lists it for keys; objects stay closed."""
        for acl, principal, action, allowed in [
            ("public-read", ANONYMOUS, "ListObjectsV2", True),
            ("public-read", ANONYMOUS, "ListObjectVersions", True),
            ("public-read", ANONYMOUS, "ListMultipartUploads", True),
            ("public-read", ANONYMOUS, "HeadBucket", True),
            ("public-read", ANONYMOUS, "GetObject", False),
            ("public-read", ANONYMOUS, "PutObject", False),
            ("public-read", ANONYMOUS, "GetBucketAcl", False),
            ("public-read-write", ANONYMOUS, "PutObject", True),
            ("public-read-write", ANONYMOUS, "CompleteMultipartUpload", True),
            ("public-read-write", ANONYMOUS, "AbortMultipartUpload", True),
            ("public-read-write", ANONYMOUS, "DeleteObject", True),
            ("public-read-write", ANONYMOUS, "GetObject", False),
            ("public-read-write", ANONYMOUS, "DeleteBucket", False),
            ("public-read-write", ANONYMOUS, "PutBucketAcl", False),
            ("authenticated-read", ANONYMOUS, "ListObjects", False),
            ("authenticated-read", STRANGER, "ListObjects", True),
            ("authenticated-read", STRANGER, "GetObject", False),
            ("private", ANONYMOUS, "ListObjects", False),
            ("bucket-owner-full-control", STRANGER, "ListObjects", False),
        ]:
            decision = self.decide(principal, request(action), bucket_acl=acl)
            self.assertEqual(decision.allowed, allowed, (acl, principal, action))
            if allowed:
                self.assertIn(f"bucket ACL {acl}", decision.reason)

    def test_object_acls(self):
        """An object's public-read makes that object, and only it, readable."""
        for acl, principal, action, version_id, allowed in [
            ("public-read", ANONYMOUS, "GetObject", None, True),
            ("public-read", ANONYMOUS, "HeadObject", None, True),
            ("public-read", ANONYMOUS, "GetObject", "v1", True),
            ("public-read", ANONYMOUS, "PutObject", None, False),
            ("public-read", ANONYMOUS, "DeleteObject", None, False),
            ("public-read", ANONYMOUS, "GetObjectAcl", None, False),
            ("public-read", ANONYMOUS, "GetObjectTagging", None, False),
            ("public-read-write", ANONYMOUS, "PutObject", None, False),
            ("authenticated-read", ANONYMOUS, "GetObject", None, False),
            ("authenticated-read", STRANGER, "GetObject", None, True),
            ("bucket-owner-read", STRANGER, "GetObject", None, False),
            ("bucket-owner-full-control", ANONYMOUS, "GetObject", None, False),
        ]:
            decision = self.decide(principal, request(action, version_id=version_id),
                                   object_acl=acl)
            self.assertEqual(decision.allowed, allowed, (acl, principal, action))
        self.assertFalse(self.decide(ANONYMOUS, request("ListObjects"),
                                     object_acl="public-read").allowed)

    def test_ignore_public_acls(self):
        block = PublicAccessBlock(ignore_public_acls=True)
        decision = self.decide(ANONYMOUS, request(), object_acl="public-read", block=block)
        self.assertFalse(decision.allowed)
        self.assertIn("object ACL public-read would allow it, but IgnorePublicAcls",
                      decision.reason)
        self.assertTrue(self.decide(KEYED, request(), object_acl="public-read", block=block,
                                    key_right=True).allowed)
        self.assertFalse(self.decide(ANONYMOUS, request("ListObjects"),
                                     bucket_acl="public-read", block=block).allowed)

    def test_block_public_acls(self):
        block = PublicAccessBlock(block_public_acls=True)
        for acl in ("public-read", "public-read-write", "authenticated-read"):
            self.assertIn("BlockPublicAcls", refuses_acl(block, acl))
        for acl in (None, "private", "bucket-owner-read", "bucket-owner-full-control"):
            self.assertIsNone(refuses_acl(block, acl))
        self.assertIsNone(refuses_acl(None, "public-read"))
        self.assertIsNone(refuses_acl(PublicAccessBlock(ignore_public_acls=True),
                                      "public-read"))


class PublicAccessBlockTests(SynchronousTestCase):
    public = policy(allow(Sid="Public"), deny(Sid="NoSecrets", Resource=ARN + "/secret/*"))
    named = policy(allow(Sid="Named", Principal={"AWS": OTHER}))

    def test_restrict_public_buckets(self):
        """A public policy grants nothing outside the bucket's keys; a
        policy that is not public keeps its grants; Denies stay."""
        block = PublicAccessBlock(restrict_public_buckets=True)
        rules = BucketAccess(policy=self.public, block=block)
        decision = decide(ANONYMOUS, False, request(), rules)
        self.assertFalse(decision.allowed)
        self.assertIn("RestrictPublicBuckets", decision.reason)
        self.assertFalse(decide(STRANGER, False, request(), rules).allowed)
        # A key with some permission on the bucket (write only, say) keeps it.
        self.assertTrue(decide(Principal(KEY, bucket_rights=True), False, request(),
                               rules).allowed)
        self.assertFalse(decide(KEYED, True, request(key="secret/a"), rules).allowed)
        named = BucketAccess(policy=self.named, block=block)
        self.assertTrue(decide(STRANGER, False, request(), named).allowed)

    def test_block_public_policy(self):
        block = PublicAccessBlock(block_public_policy=True)
        self.assertIn("statement 'Public'", refuses_policy(block, self.public))
        self.assertIsNone(refuses_policy(block, self.named))
        self.assertIsNone(refuses_policy(block, None))
        self.assertIsNone(refuses_policy(PublicAccessBlock(restrict_public_buckets=True),
                                         self.public))

    def test_from_flags(self):
        self.assertIsNone(PublicAccessBlock.from_flags(None))
        self.assertEqual(PublicAccessBlock.from_flags((True, False, 1, 0)),
                         PublicAccessBlock(True, False, True, False))

    def test_public_reasons(self):
        """Why ``garage bucket info`` calls a bucket public."""
        self.assertEqual(public_reasons(BucketAccess()), ())
        self.assertEqual(public_reasons(BucketAccess(policy=self.named,
                                                     bucket_acl="private")), ())
        reasons = public_reasons(BucketAccess(policy=self.public,
                                              bucket_acl="public-read-write"))
        self.assertEqual(reasons, (
            "bucket policy statement 'Public' allows s3:GetObject to everyone",
            "bucket ACL public-read-write lets everyone list and write objects in it"))
        self.assertEqual(public_reasons(BucketAccess(
            policy=self.public, bucket_acl="authenticated-read",
            block=PublicAccessBlock(restrict_public_buckets=True))),
            ("bucket ACL authenticated-read lets every key list it",))
        self.assertEqual(public_reasons(BucketAccess(
            bucket_acl="public-read", block=PublicAccessBlock(ignore_public_acls=True))), ())


class ActionTableTests(SynchronousTestCase):
    def test_every_endpoint(self):
        """Every endpoint the dispatcher serves has an IAM action, of the
        kind S3 gives it, and the policy language knows it."""
        from garage_twisted.api.s3.api import HANDLERS
        missing = set(HANDLERS) - set(ACTIONS)
        self.assertEqual(missing, set())
        for name, spec in ACTIONS.items():
            for action in (spec.iam_action, spec.version_action):
                if action is not None:
                    self.assertEqual(S3_ACTIONS.get(action), spec.kind, (name, action))

    def test_acl_names_agree(self):
        """acl.py accepts exactly the canned ACLs decided on here, and maps
        every public one onto grants."""
        from garage_twisted.api.s3 import acl
        self.assertIs(acl.CANNED_ACLS, access.CANNED_ACLS)
        self.assertEqual(set(acl.GRANTS), set(access.PUBLIC_ACLS))

    def test_mistakes_are_loud(self):
        with self.assertRaises(KeyError):
            decide(KEYED, True, AccessRequest("Frobnicate", BUCKET))
        rules = BucketAccess(policy=policy(allow()))
        with self.assertRaises(ValueError):
            decide(KEYED, True, AccessRequest("GetObject", BUCKET), rules)

    def test_list_buckets(self):
        """ListBuckets is the key's alone: no bucket's rules apply."""
        rules = BucketAccess(policy=policy(deny(Action="s3:*", Resource="*")))
        self.assertTrue(decide(KEYED, True, request("ListBuckets"), rules).allowed)
        self.assertFalse(decide(ANONYMOUS, True, request("ListBuckets"), rules).allowed)


# -- properties ------------------------------------------------------------

KEYS = [KEY, OTHER, "GK" + "3" * 24]
ACTION_PATTERNS = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:Get*", "s3:*", "*",
                   "s3:DeleteObject", "s3:GetObjectVersion", "s3:List*", "s3:?utObject"]
RESOURCES = [ARN, ARN + "/*", ARN + "/a/*", ARN + "/?", "*", "arn:aws:s3:::pho*",
             ARN + "/a/x"]
CONDITIONS = [{"Bool": {"aws:SecureTransport": "true"}},
              {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
              {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
              {"StringLike": {"s3:prefix": "a/*"}},
              {"StringEqualsIfExists": {"aws:Referer": "https://example.com/"}},
              {"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}]
REQUEST_ACTIONS = ["GetObject", "HeadObject", "PutObject", "ListObjects", "DeleteObject",
                   "ListObjectVersions", "GetObjectAcl", "AbortMultipartUpload"]
NOT_GRANTING = [None, "private", "bucket-owner-read", "bucket-owner-full-control"]

principals_st = st.builds(Principal, st.sampled_from(KEYS + [None]), st.booleans())
blocks_st = st.none() | st.builds(PublicAccessBlock, st.booleans(), st.booleans(),
                                  st.booleans(), st.booleans())


def _principal_field(keys, everyone):
    return "*" if everyone else {"AWS": keys}


statements_st = st.builds(
    lambda effect, everyone, keys, negate_action, actions, negate_resource, resources,
    conditions: {
        "Effect": effect,
        "Principal": _principal_field(keys, everyone),
        ("NotAction" if negate_action else "Action"): actions,
        ("NotResource" if negate_resource else "Resource"): resources,
        **({"Condition": conditions} if conditions else {})},
    st.sampled_from(["Allow", "Deny"]), st.booleans(),
    st.lists(st.sampled_from(KEYS), min_size=1, max_size=2, unique=True), st.booleans(),
    st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3, unique=True),
    st.booleans(),
    st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3, unique=True),
    st.builds(lambda blocks: {k: v for block in blocks for k, v in block.items()},
              st.lists(st.sampled_from(CONDITIONS), max_size=2)))

requests_st = st.builds(
    lambda action, key, version_id, secure, source, prefix: request(
        action, key=key, version_id=version_id,
        **{"aws:SecureTransport": secure, "aws:SourceIp": source, "s3:prefix": prefix}),
    st.sampled_from(REQUEST_ACTIONS), st.sampled_from(["a/x", "b", "a/y/z", "?"]),
    st.sampled_from([None, "v1"]), st.booleans(),
    st.sampled_from(["10.1.2.3", "192.0.2.1", "::1"]), st.sampled_from([None, "a/", "b/"]))


def _policy(statements):
    if not statements:
        return None
    return load_policy(json.dumps({"Version": "2012-10-17", "Statement": statements}))


def _matching_deny(principal, asked, exact_action, exact_resource, with_condition):
    """A Deny statement that applies to ``asked`` by ``principal``."""
    out = {"Effect": "Deny",
           "Principal": "*" if principal.key_id is None else {"AWS": [principal.key_id]},
           "Action": iam_action(asked.action, asked.version_id) if exact_action else "s3:*"}
    if exact_resource:
        out["Resource"] = ARN if asked.key is None else f"{ARN}/{asked.key}"
    else:
        out["Resource"] = "*"
    if with_condition:
        out["Condition"] = {"Bool": {"aws:SecureTransport":
                                     str(asked.context["aws:SecureTransport"]).lower()}}
    return out


class PropertyTests(SynchronousTestCase):
    @settings(max_examples=400, deadline=None)
    @given(principals_st, st.booleans(), requests_st,
           st.lists(statements_st, max_size=4), st.integers(0, 4),
           st.booleans(), st.booleans(), st.booleans(),
           st.sampled_from(sorted(access.CANNED_ACLS) + [None]),
           st.sampled_from(sorted(access.CANNED_ACLS) + [None]), blocks_st)
    def test_explicit_deny_wins(self, principal, key_right, asked, statements, where,
                                exact_action, exact_resource, with_condition, bucket_acl,
                                object_acl, block):
        """A Deny that applies is never overridden, whatever allows:
        the key's permission, Allow statements, ACL grants."""
        statements = list(statements)
        statements.insert(min(where, len(statements)), _matching_deny(
            principal, asked, exact_action, exact_resource, with_condition))
        decision = decide(principal, key_right, asked, BucketAccess(
            _policy(statements), bucket_acl, object_acl, block))
        self.assertFalse(decision.allowed, decision)
        self.assertIn("explicit Deny", decision.reason)

    @settings(max_examples=400, deadline=None)
    @given(principals_st, requests_st, st.lists(statements_st, max_size=4),
           st.sampled_from(NOT_GRANTING), st.sampled_from(NOT_GRANTING), blocks_st)
    def test_nothing_allows_nothing(self, principal, asked, statements, bucket_acl,
                                    object_acl, block):
        """Without the key's permission and without a granting ACL, only an
        Allow statement that applies can allow."""
        rules = BucketAccess(_policy(statements), bucket_acl, object_acl, block)
        decision = decide(principal, False, asked, rules)
        if decision.allowed:
            action = decision.iam_action.lower()
            arns = (ARN if asked.key is None else f"{ARN}/{asked.key}",)
            self.assertTrue(any(s.effect == "Allow" and s.applies(principal.key_id, action,
                                                                  arns, asked.context)
                                for s in rules.policy.statements), decision)

    @settings(max_examples=300, deadline=None)
    @given(principals_st, requests_st, st.lists(statements_st, max_size=4),
           st.sampled_from(NOT_GRANTING), st.sampled_from(NOT_GRANTING), blocks_st)
    def test_allows_for_others_allow_nothing(self, principal, asked, statements, bucket_acl,
                                             object_acl, block):
        """Allow statements all naming other keys grant this principal nothing."""
        others = [key for key in KEYS if key != principal.key_id]
        for one in statements:
            one["Principal"] = {"AWS": others}
        decision = decide(principal, False, asked,
                          BucketAccess(_policy(statements), bucket_acl, object_acl, block))
        self.assertFalse(decision.allowed, decision)

    @settings(max_examples=400, deadline=None)
    @given(principals_st, st.booleans(), requests_st, st.lists(statements_st, max_size=4),
           st.sampled_from(sorted(access.CANNED_ACLS) + [None]),
           st.sampled_from(sorted(access.CANNED_ACLS) + [None]),
           st.lists(st.booleans(), min_size=4, max_size=4),
           st.lists(st.booleans(), min_size=4, max_size=4))
    def test_block_only_takes_away(self, principal, key_right, asked, statements, bucket_acl,
                                   object_acl, fewer, extra):
        """Turning PublicAccessBlock flags on never allows what was refused."""
        more = [a or b for a, b in zip(fewer, extra)]
        policy_ = _policy(statements)

        def allowed(flags):
            block = None if flags is None else PublicAccessBlock(*flags)
            return decide(principal, key_right, asked,
                          BucketAccess(policy_, bucket_acl, object_acl, block)).allowed

        if allowed(more):
            self.assertTrue(allowed(fewer))
        if allowed(fewer):
            self.assertTrue(allowed(None))

    @settings(max_examples=200, deadline=None)
    @given(requests_st, st.lists(statements_st, max_size=4),
           st.sampled_from(sorted(access.CANNED_ACLS) + [None]), blocks_st)
    def test_anonymous_has_no_key_right(self, asked, statements, bucket_acl, block):
        rules = BucketAccess(_policy(statements), bucket_acl, None, block)
        self.assertEqual(decide(ANONYMOUS, True, asked, rules),
                         decide(ANONYMOUS, False, asked, rules))

    @settings(max_examples=200, deadline=None)
    @given(principals_st, st.booleans(), requests_st, st.lists(statements_st, max_size=4))
    def test_alias_does_not_matter(self, principal, key_right, asked, statements):
        """Through any of the bucket's names, the same decision."""
        policy_ = _policy(statements)
        names = ("photos", "pics")
        decisions = {decide(principal, key_right, AccessRequest(
            asked.action, name, asked.key, asked.context, asked.version_id),
            BucketAccess(policy_, bucket_names=names)).allowed for name in names}
        self.assertEqual(len(decisions), 1)
