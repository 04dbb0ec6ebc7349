"""Bucket policies: the supported subset parses, everything else is refused
naming what is wrong, conditions evaluate as IAM's, and "public" is judged
as AWS does."""

import json
import re
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.policy import (
    MAX_POLICY_BYTES, MAX_TEXT_BYTES, S3_ACTIONS, is_public, load_policy, parse_policy,
)
from garage_twisted.api.s3.policy_condition import Glob, parse_conditions

KEY = "GK" + "1" * 24
OTHER = "GK" + "2" * 24
BUCKET = "photos"
ARN = "arn:aws:s3:::photos"


def statement(**fields):
    base = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": ARN + "/*"}
    base.update(fields)
    return {name: value for name, value in base.items() if value is not None}


def document(*statements, **fields):
    out = {"Version": "2012-10-17"}
    out.update(fields)
    out["Statement"] = list(statements) or [statement()]
    return json.dumps(out)


class ParseTests(SynchronousTestCase):
    def refused(self, text, message, names=BUCKET):
        """``text`` is refused with MalformedPolicy whose message holds ``message``."""
        with self.assertRaises(errors.MalformedPolicy) as caught:
            parse_policy(text, names)
        self.assertEqual(caught.exception.status, 400)
        self.assertIn(message, caught.exception.message)

    def test_aws_examples(self):
        """AWS's bucket policy examples parse into what they say."""
        examples = [
            # Read-only to anonymous users.
            statement(Sid="PublicRead", Action=["s3:GetObject", "s3:GetObjectVersion"]),
            # HTTPS only.
            statement(Sid="HttpsOnly", Effect="Deny", Action="s3:*",
                      Resource=[ARN, ARN + "/*"],
                      Condition={"Bool": {"aws:SecureTransport": "false"}}),
            # Source addresses, IPv4 and IPv6.
            statement(Sid="IPAllow", Effect="Deny", Action="s3:*", Resource=[ARN, ARN + "/*"],
                      Condition={"NotIpAddress": {"aws:SourceIp": [
                          "192.0.2.0/24", "203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}),
            # Referer.
            statement(Sid="Referer", Condition={"StringLike": {"aws:Referer": [
                "https://www.example.com/*", "https://example.com/*"]}}),
            # A home folder: list it, read and write in it.
            statement(Sid="ListHome", Principal={"AWS": f"arn:aws:iam::111122223333:user/{KEY}"},
                      Action="s3:ListBucket", Resource=ARN,
                      Condition={"StringEquals": {"s3:prefix": ["", "home/", f"home/{KEY}"],
                                                  "s3:delimiter": ["/"]}}),
            statement(Sid="UseHome", Principal={"AWS": [KEY]},
                      Action=["s3:GetObject", "s3:PutObject"], Resource=f"{ARN}/home/{KEY}/*"),
            # A time window.
            statement(Sid="Window", Condition={
                "DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
                "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}),
        ]
        policy = parse_policy(document(*examples, Id="PolicyId1"), BUCKET)
        self.assertEqual(policy.version, "2012-10-17")
        self.assertEqual(policy.id, "PolicyId1")
        self.assertEqual([s.sid for s in policy.statements],
                         ["PublicRead", "HttpsOnly", "IPAllow", "Referer", "ListHome", "UseHome",
                          "Window"])
        read, https, _, _, home, use, window = policy.statements
        self.assertTrue(read.everyone)
        self.assertEqual(read.actions, {"s3:getobject", "s3:getobjectversion"})
        self.assertEqual(https.effect, "Deny")
        self.assertEqual(len(https.actions), len(S3_ACTIONS))
        self.assertEqual(home.key_ids, {KEY})
        self.assertFalse(home.everyone)
        self.assertEqual([c.key for c in home.conditions], ["s3:prefix", "s3:delimiter"])
        self.assertEqual(use.label, "'UseHome'")
        self.assertEqual([c.operator for c in window.conditions],
                         ["DateGreaterThan", "DateLessThan"])
        self.assertEqual(policy.key_ids, {KEY})

    def test_keeps_text(self):
        """The document is kept byte for byte (GetBucketPolicy answers it),
        from bytes or text, and read again alike from storage."""
        text = '{ "Statement" :\n\t{"Effect":"Allow", "Principal":"*", "Action":"s3:GetObject",' \
               ' "Resource":"arn:aws:s3:::photos/*"} }  '
        for given_text in (text, text.encode()):
            policy = parse_policy(given_text, BUCKET)
            self.assertEqual(policy.text, text)
        self.assertEqual(policy.version, "2008-10-17")
        self.assertEqual(len(policy.statements), 1)
        self.assertEqual(load_policy(text), policy)
        self.assertIs(load_policy(text), load_policy(text))

    def test_size(self):
        """20 KB as AWS counts them (whitespace aside); the text as sent may
        hold up to twice that."""
        def padded(size):
            base = document(statement(Sid=""))
            return base.replace('"Sid": ""', '"Sid": "' + "x" * (size - len(compact(base))) + '"')

        def compact(text):
            return json.dumps(json.loads(text), separators=(",", ":"))

        at_limit = padded(MAX_POLICY_BYTES)
        self.assertEqual(len(compact(at_limit)), MAX_POLICY_BYTES)
        parse_policy(at_limit, BUCKET)
        self.refused(padded(MAX_POLICY_BYTES + 1), "Policies must be no more than 20 KB")
        airy = at_limit.replace(",", "," + " " * 100, 10)
        parse_policy(airy, BUCKET)
        self.refused(at_limit + " " * MAX_TEXT_BYTES, "Policies must be no more than 20 KB")

    def test_not_json(self):
        for text in ("", "[]", "not json", '"{}"', '{"Statement": ', b"\xff{}",
                     '{"Version": NaN, "Statement": []}', "[" * 100000):
            with self.assertRaises(errors.MalformedPolicy, msg=repr(text)[:40]):
                parse_policy(text, BUCKET)
        self.refused("[]", "Policies must be valid JSON and the first byte must be '{'")
        self.refused('{"Statement": ', "This policy contains invalid Json")

    def test_structure(self):
        """Missing, doubled and unknown fields name themselves."""
        for text, message in [
            (json.dumps({"Version": "2012-10-17"}), "Missing required field Statement"),
            (document().replace('"Statement": [', '"Statement": [], "x": ['),
             "Unknown field x"),
            (json.dumps({"Statement": []}), "Statement is empty"),
            (document(statement(Effect=None)), "Missing required field Effect"),
            (document(statement(Effect="allow")), "Invalid effect: allow"),
            (document(statement(Principal=None)), "Missing required field Principal"),
            (document(statement(Action=None)), "Missing required field Action"),
            (document(statement(Resource=None)), "Missing required field Resource"),
            (document(statement(NotAction="s3:PutObject")),
             "cannot have both Action and NotAction"),
            (document(statement(NotResource=ARN)), "cannot have both Resource and NotResource"),
            (document(statement(Foo="bar")), "Unknown field Foo"),
            (document(statement(Action=[])), "non-empty list of strings"),
            (document(statement(Resource=[ARN + "/*", 3])), "non-empty list of strings"),
            (document(statement(Sid="a"), statement(Sid="a")), "must be unique: 'a'"),
            (document(Version="2012-10-18"), "valid version string"),
            ('{"Statement": [{"Effect": "Allow", "Effect": "Deny"}]}', "Duplicate field Effect"),
            (json.dumps({"Statement": ["x"]}), "Each Statement must be a JSON object"),
        ]:
            self.refused(text, message)

    def test_principals(self):
        """``*``, key ids and the ARN forms mapped to keys; nothing else."""
        for principal, everyone, keys in [
            ("*", True, set()),
            ({"AWS": "*"}, True, set()),
            ({"AWS": KEY}, False, {KEY}),
            ({"AWS": [f"arn:aws:iam::{KEY}:root", f"arn:aws:iam::123456789012:user/{OTHER}"]},
             False, {KEY, OTHER}),
            ({"AWS": [f"arn:aws:iam::123456789012:user/team/a/{KEY}", "*"]}, True, {KEY}),
        ]:
            parsed = parse_policy(document(statement(Principal=principal)), BUCKET)
            self.assertEqual((parsed.statements[0].everyone, parsed.statements[0].key_ids),
                             (everyone, keys), principal)
        self.refused(document(statement(NotPrincipal={"AWS": KEY})),
                     "NotPrincipal is not supported")
        for principal, message in [
            (KEY, "Principal must be"),
            ({"Service": "cloudtrail.amazonaws.com"}, "Service principals are not supported"),
            ({"CanonicalUser": "79a59df900b949e55d96a1e698fbaced"},
             "CanonicalUser principals are not supported"),
            ({"Federated": "cognito-identity.amazonaws.com"}, "Federated principals"),
            ({"AWS": "123456789012"}, "'123456789012'"),
            ({"AWS": "arn:aws:iam::123456789012:role/admin"}, "role/admin"),
            ({"AWS": "gk" + "1" * 24}, "Invalid principal in policy"),
            ({"AWS": []}, "non-empty list"),
            ({}, "Principal must be"),
        ]:
            self.refused(document(statement(Principal=principal)), message)

    def test_actions(self):
        """Names and wildcards, case-insensitive, each naming an S3 action;
        NotAction is every other action."""
        parsed = parse_policy(document(statement(Action=["S3:getobject", "s3:Get*Tagging"])),
                              BUCKET)
        self.assertEqual(parsed.statements[0].actions,
                         {"s3:getobject", "s3:getobjecttagging", "s3:getobjectversiontagging",
                          "s3:getbuckettagging"})
        everything = parse_policy(document(statement(Action="*", Resource=[ARN, ARN + "/*"])),
                                  BUCKET)
        self.assertEqual(len(everything.statements[0].actions), len(S3_ACTIONS))
        negated = parse_policy(document(statement(Action=None, NotAction="s3:Put*")), BUCKET)
        self.assertIn("s3:getobject", negated.statements[0].actions)
        self.assertNotIn("s3:putobject", negated.statements[0].actions)
        self.assertTrue(negated.statements[0].not_action)
        for action in ("s3:GetObjekt", "iam:PassRole", "s3:Nothing*", "sqs:*", "s3:${x}"):
            self.refused(document(statement(Action=action)), "Policy has invalid action")

    def test_resources(self):
        """Resources must reach into this bucket (under one of its names)."""
        for resource in ("*", "arn:aws:s3:::*", "arn:aws:s3:::pho*", f"{ARN}/a/*.jpg",
                         "arn:aws:s3:::photo?/*", "arn:aws:s3:::p*x"):
            parse_policy(document(statement(Resource=resource)), BUCKET)
        for resource in ("arn:aws:s3:::other/*", f"{ARN}x/*", "photos/*",
                         "arn:aws:s3:us-east-1:123456789012:accesspoint/ap/object/*",
                         "arn:aws:s3:::other"):
            self.refused(document(statement(Resource=resource)), "Policy has invalid resource")
        parse_policy(document(statement(Resource="arn:aws:s3:::pics/*")), ("photos", "pics"))
        # A stored policy is read again whatever the bucket is called now.
        load_policy(document(statement(Resource="arn:aws:s3:::other/*")))

    def test_actions_must_apply(self):
        """As AWS: each action must apply to a resource of the statement."""
        message = "Action does not apply to any resource(s) in statement"
        self.refused(document(statement(Resource=ARN)), message)
        self.refused(document(statement(Action="s3:ListBucket")), message)
        self.refused(document(statement(Action=["s3:GetObject", "s3:ListBucket"])), message)
        self.refused(document(statement(Action="s3:ListAllMyBuckets", Resource="*")), message)
        parse_policy(document(statement(Action="s3:*", Resource=ARN)), BUCKET)
        parse_policy(document(statement(Action=["s3:GetObject", "s3:ListBucket"],
                                        Resource=[ARN, ARN + "/*"])), BUCKET)
        parse_policy(document(statement(Action="s3:ListBucket", Resource="arn:aws:s3:::ph*")),
                     BUCKET)

    def test_unsupported_conditions(self):
        """Every operator, key and value outside the subset is named."""
        for condition, message in [
            ({"ForAnyValue:StringEquals": {"s3:prefix": "a"}},
             "ForAnyValue:StringEquals is not supported"),
            ({"ArnLike": {"aws:SourceArn": "x"}}, "Condition operator ArnLike is not supported"),
            ({"BinaryEquals": {"s3:prefix": "YQ=="}}, "BinaryEquals is not supported"),
            ({"NullIfExists": {"s3:prefix": "true"}}, "NullIfExists is not supported"),
            ({"stringequals": {"s3:prefix": "a"}}, "stringequals is not supported"),
            ({"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
             "Condition key s3:x-amz-acl is not supported"),
            ({"StringEquals": {"aws:SourceVpc": "vpc-1"}}, "aws:SourceVpc is not supported"),
            ({"StringEquals": {"aws:PrincipalOrgID": "o-1"}}, "aws:PrincipalOrgID"),
            ({"StringEquals": {"aws:SourceIp": "10.0.0.1"}},
             "StringEquals does not apply to key aws:SourceIp"),
            ({"Bool": {"s3:prefix": "true"}}, "Bool does not apply to key s3:prefix"),
            ({"DateLessThan": {"aws:Referer": "2020-01-01"}}, "does not apply"),
            ({"IpAddress": {"aws:SourceIp": "10.0.0.300/8"}}, "Invalid IP address"),
            ({"DateLessThan": {"aws:CurrentTime": "tomorrow"}}, "Invalid date 'tomorrow'"),
            ({"Bool": {"aws:SecureTransport": "yes"}}, "Invalid boolean 'yes'"),
            ({"NumericLessThan": {"s3:max-keys": "ten"}}, "Invalid number 'ten'"),
            ({"StringEquals": {"s3:prefix": []}}, "non-empty list"),
            ({"StringEquals": {"s3:prefix": {"a": "b"}}}, "non-empty list"),
            ({"StringEquals": {}}, "must map condition keys"),
            ({"StringLike": {"s3:prefix": "${aws:username}/*"}}, "Policy variables"),
            ("x", "Condition must be a JSON object"),
        ]:
            self.refused(document(statement(Condition=condition)), message)
        self.refused(document(statement(Resource=ARN + "/${aws:username}/*")),
                     "Policy variables are not supported")
        # In the 2008 language "${" is plain text.
        parse_policy(document(statement(Resource=ARN + "/${x}/*",
                                        Condition={"StringLike": {"s3:prefix": "${x}"}}),
                              Version="2008-10-17"), BUCKET)

    @settings(max_examples=300, deadline=None)
    @given(st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8) |
        st.sampled_from(["*", "Allow", "Deny", "s3:GetObject", "s3:*", ARN, ARN + "/*", KEY,
                         "2012-10-17", "aws:SourceIp", "10.0.0.0/8", "true"]),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(
            st.sampled_from(["Version", "Statement", "Effect", "Principal", "AWS", "Action",
                             "NotAction", "Resource", "NotResource", "Condition", "Sid",
                             "StringLike", "IpAddress", "Bool", "s3:prefix", "aws:SourceIp",
                             "aws:SecureTransport", "Null", "x"]), children, max_size=4),
        max_leaves=20))
    def test_fuzz(self, value):
        """Whatever the document, the parser answers a Policy or MalformedPolicy."""
        try:
            parse_policy(json.dumps(value), BUCKET)
        except errors.MalformedPolicy:
            pass


class ConditionTests(SynchronousTestCase):
    def holds(self, block, context):
        return all(c.holds(context) for c in parse_conditions(block, "2012-10-17"))

    def test_strings(self):
        """Equals and Like, positive and negated; values are alternatives."""
        block = {"StringEquals": {"s3:prefix": ["", "home/"]}}
        self.assertTrue(self.holds(block, {"s3:prefix": "home/"}))
        self.assertTrue(self.holds(block, {"s3:prefix": ""}))
        self.assertFalse(self.holds(block, {"s3:prefix": "Home/"}))
        self.assertTrue(self.holds({"StringEqualsIgnoreCase": {"s3:prefix": "HOME/"}},
                                   {"s3:prefix": "home/"}))
        self.assertFalse(self.holds({"StringNotEquals": {"s3:prefix": ["a", "b"]}},
                                    {"s3:prefix": "b"}))
        self.assertTrue(self.holds({"StringNotEquals": {"s3:prefix": ["a", "b"]}},
                                   {"s3:prefix": "c"}))
        like = {"StringLike": {"aws:Referer": ["https://example.com/*", "http?://x/"]}}
        self.assertTrue(self.holds(like, {"aws:Referer": "https://example.com/a/b"}))
        self.assertTrue(self.holds(like, {"aws:Referer": "https://x/"}))
        self.assertFalse(self.holds(like, {"aws:Referer": "https://evil.com/https://example.com/"}))
        self.assertTrue(self.holds({"StringNotLike": {"s3:prefix": "private/*"}},
                                   {"s3:prefix": "public/"}))
        # Several keys of one operator, and several operators, must all hold.
        both = {"StringEquals": {"s3:prefix": "a/", "s3:delimiter": "/"}}
        self.assertTrue(self.holds(both, {"s3:prefix": "a/", "s3:delimiter": "/"}))
        self.assertFalse(self.holds(both, {"s3:prefix": "a/"}))

    def test_absent_keys(self):
        """A key the request lacks fails positive operators, passes negated
        ones and ...IfExists, and is what Null tests."""
        for operator, holds in [("StringEquals", False), ("StringLike", False),
                                ("StringNotEquals", True), ("StringNotLike", True),
                                ("StringEqualsIfExists", True), ("StringLikeIfExists", True)]:
            self.assertEqual(self.holds({operator: {"aws:Referer": "x"}}, {}), holds, operator)
            self.assertEqual(self.holds({operator: {"aws:Referer": "x"}},
                                        {"aws:Referer": None}), holds, operator)
        self.assertFalse(self.holds({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {}))
        self.assertTrue(self.holds({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {}))
        self.assertFalse(self.holds({"Bool": {"aws:SecureTransport": "false"}}, {}))
        self.assertTrue(self.holds({"Null": {"aws:Referer": "true"}}, {}))
        self.assertFalse(self.holds({"Null": {"aws:Referer": "true"}}, {"aws:Referer": "r"}))
        self.assertTrue(self.holds({"Null": {"aws:Referer": False}}, {"aws:Referer": "r"}))
        self.assertFalse(self.holds({"StringEqualsIfExists": {"aws:Referer": "x"}},
                                    {"aws:Referer": "y"}))

    def test_addresses(self):
        block = {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]}}
        for address, inside in [("192.0.2.10", True), ("192.0.3.1", False),
                                ("2001:db8::1", True), ("2001:db9::1", False),
                                ("::ffff:192.0.2.9", True), ("198.51.100.7", True),
                                ("198.51.100.8", False), ("not an address", False)]:
            self.assertEqual(self.holds(block, {"aws:SourceIp": address}), inside, address)
            # (An address that does not parse is outside every range.)
            self.assertEqual(
                self.holds({"NotIpAddress": block["IpAddress"]}, {"aws:SourceIp": address}),
                not inside, address)

    def test_dates_numbers_booleans(self):
        window = {"DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
                  "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}
        inside = datetime(2020, 5, 1, tzinfo=timezone.utc)
        self.assertTrue(self.holds(window, {"aws:CurrentTime": inside}))
        self.assertTrue(self.holds(window, {"aws:CurrentTime": int(inside.timestamp() * 1000)}))
        self.assertTrue(self.holds(window, {"aws:CurrentTime": datetime(2020, 5, 1)}))
        self.assertFalse(self.holds(window, {"aws:CurrentTime": datetime(2020, 7, 1)}))
        self.assertFalse(self.holds(window, {"aws:CurrentTime": datetime(2020, 3, 31)}))
        self.assertFalse(self.holds(window, {}))
        epoch = {"DateLessThanEquals": {"aws:CurrentTime": 1585699200}}  # 2020-04-01
        self.assertTrue(self.holds(epoch, {"aws:CurrentTime": 1585699200000}))
        self.assertFalse(self.holds(epoch, {"aws:CurrentTime": 1585699200001}))
        self.assertTrue(self.holds({"DateEquals": {"aws:CurrentTime": "2020-04-01"}},
                                   {"aws:CurrentTime": 1585699200000}))
        for operator, value, holds in [("NumericLessThanEquals", 100, True),
                                       ("NumericLessThanEquals", "101", False),
                                       ("NumericGreaterThan", 101, True),
                                       ("NumericEquals", "100", True),
                                       ("NumericNotEquals", 100, False),
                                       ("NumericLessThan", "many", False),
                                       ("StringEquals", 100, True)]:
            self.assertEqual(self.holds({operator: {"s3:max-keys": "100"}},
                                        {"s3:max-keys": value}), holds, (operator, value))
        for value, holds in [(True, True), (False, False), ("true", True), ("FALSE", False)]:
            self.assertEqual(self.holds({"Bool": {"aws:SecureTransport": "true"}},
                                        {"aws:SecureTransport": value}), holds, value)
        self.assertTrue(self.holds({"Bool": {"aws:SecureTransport": [False]}},
                                   {"aws:SecureTransport": False}))

    def test_keys_any_case(self):
        """Condition keys are case-insensitive (IAM) and kept in the
        context's spelling."""
        condition, = parse_conditions({"IpAddress": {"AWS:SOURCEIP": "10.0.0.0/8"}},
                                      "2012-10-17")
        self.assertEqual(condition.key, "aws:SourceIp")


def _glob_reference(pattern, text):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


class GlobTests(SynchronousTestCase):
    @settings(max_examples=500, deadline=None)
    @given(st.text("ab*?/", max_size=8), st.text("ab/", max_size=10))
    def test_matches_like_a_regex(self, pattern, text):
        """Piecewise matching agrees with the obvious (backtracking) regex."""
        self.assertEqual(Glob(pattern).matches(text), _glob_reference(pattern, text))

    @settings(max_examples=300, deadline=None)
    @given(st.text("ab*?", max_size=6), st.text("ab", max_size=5))
    def test_may_start(self, pattern, prefix):
        """``may_start`` is true exactly when some completion of the prefix
        matches (a completion needs at most as many characters as the
        pattern has)."""
        import itertools
        exists = any(_glob_reference(pattern, prefix + "".join(tail))
                     for length in range(len(pattern) + 1)
                     for tail in itertools.product("ab", repeat=length))
        self.assertEqual(Glob(pattern).may_start(prefix), exists)

    def test_crafted_pattern(self):
        """A pattern that makes backtracking regexes explode answers at once."""
        glob = Glob("*a" * 40 + "*b")
        self.assertFalse(glob.matches("a" * 1024))
        self.assertTrue(glob.matches("a" * 1024 + "b"))

    def test_case(self):
        self.assertTrue(Glob("s3:get*", ignore_case=True).matches("S3:GetObject"))
        self.assertFalse(Glob("arn:aws:s3:::b/A*").matches("arn:aws:s3:::b/a"))


class PublicTests(SynchronousTestCase):
    def public(self, *statements):
        return is_public(parse_policy(document(*statements), BUCKET))

    def test_meaning_of_public(self):
        """AWS's "meaning of public", on the keys this node has."""
        self.assertTrue(self.public(statement()))
        self.assertTrue(self.public(statement(Principal={"AWS": ["*"]})))
        self.assertTrue(self.public(statement(Principal={"AWS": [KEY, "*"]})))
        self.assertTrue(self.public(statement(Action="s3:PutObject", Resource="*")))
        self.assertFalse(self.public(statement(Principal={"AWS": [KEY, OTHER]})))
        self.assertFalse(self.public(statement(Effect="Deny")))
        fixed = {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}
        self.assertFalse(self.public(statement(Condition=fixed)))
        self.assertFalse(self.public(statement(Condition=dict(
            fixed, Bool={"aws:SecureTransport": "true"}))))
        for condition in [{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
                          {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "::/0"]}},
                          {"IpAddressIfExists": {"aws:SourceIp": "192.0.2.0/24"}},
                          {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
                          {"StringLike": {"aws:Referer": "https://example.com/*"}},
                          {"Bool": {"aws:SecureTransport": "true"}},
                          {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}]:
            self.assertTrue(self.public(statement(Condition=condition)), condition)
        self.assertFalse(self.public(statement(Principal={"AWS": KEY}), statement(
            Effect="Deny", Condition={"Bool": {"aws:SecureTransport": "false"}})))

    def test_deny_outside_fixed_ranges(self):
        """AWS's example "deny all but these addresses" makes a public
        grant non-public, if it covers every action on every resource of it."""
        fence = statement(Effect="Deny", Action="s3:*", Resource=[ARN, ARN + "/*"],
                          Condition={"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}})
        self.assertFalse(self.public(statement(), fence))
        self.assertFalse(self.public(statement(Resource=ARN + "/public/*"), fence))
        self.assertFalse(self.public(statement(), dict(fence, Resource="*")))
        self.assertTrue(self.public(statement(Action="s3:*", Resource=[ARN, ARN + "/*"]),
                                    dict(fence, Action="s3:Get*")))
        self.assertTrue(self.public(statement(), dict(fence, Resource=ARN + "/private/*")))
        self.assertTrue(self.public(statement(), dict(fence, Condition={
            "NotIpAddress": {"aws:SourceIp": "0.0.0.0/0"}})))
        self.assertTrue(self.public(statement(), dict(fence, Condition={
            "NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"},
            "Bool": {"aws:SecureTransport": "false"}})))
        self.assertTrue(self.public(statement(), dict(fence, Principal={"AWS": KEY})))

    def test_public_statements(self):
        policy = parse_policy(document(statement(Sid="Mine", Principal={"AWS": KEY}),
                                       statement(Sid="Everyone")), BUCKET)
        self.assertEqual([s.sid for s in policy.public_statements], ["Everyone"])
        self.assertFalse(is_public(None))
