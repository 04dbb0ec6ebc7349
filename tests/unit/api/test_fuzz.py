"""Fuzzing the parsers that read what clients and peers send.

Whatever the input, each parser either succeeds or raises its documented
error (an S3 error answered as XML, an RPC error answered to the peer); any
other exception would be a 500 or a dropped connection.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.s3 import errors, sigv4
from garage_twisted.api.s3.aws_chunked import AwsChunkedDecoder
from garage_twisted.api.s3.cors import parse_cors
from garage_twisted.api.s3.delete import parse_delete
from garage_twisted.api.s3.lifecycle import parse_lifecycle
from garage_twisted.api.s3.multipart import _parse_complete
from garage_twisted.api.s3.post import Policy
from garage_twisted.api.s3.router import locate, parse_endpoint, parse_query, split_target
from garage_twisted.api.s3.website import parse_website
from garage_twisted.db.memory import MemoryStore
from garage_twisted.net.errors import RpcError
from garage_twisted.table.rpc import decode_entry

TAGS = ["Delete", "Object", "Key", "Quiet", "CORSConfiguration", "CORSRule", "AllowedOrigin",
        "AllowedMethod", "MaxAgeSeconds", "LifecycleConfiguration", "Rule", "Status", "Filter",
        "Prefix", "And", "Expiration", "Days", "Date", "WebsiteConfiguration", "IndexDocument",
        "Suffix", "RoutingRules", "RoutingRule", "Redirect", "CompleteMultipartUpload", "Part",
        "PartNumber", "ETag", "ObjectSizeLessThan", "HttpRedirectCode", "Condition"]


def _xml(depth=3):
    leaf = st.text(max_size=20)
    return st.recursive(
        leaf,
        lambda children: st.builds(
            lambda tag, kids: f"<{tag}>{''.join(kids)}</{tag}>", st.sampled_from(TAGS),
            st.lists(children, max_size=4)),
        max_leaves=12)


documents = st.one_of(st.binary(max_size=200), _xml().map(str.encode),
                      st.builds(lambda root, body: f"<{root}>{body}</{root}>".encode(),
                                st.sampled_from(TAGS[:1] + ["CORSConfiguration",
                                                            "LifecycleConfiguration",
                                                            "WebsiteConfiguration",
                                                            "CompleteMultipartUpload"]),
                                _xml()))


class FuzzTests(SynchronousTestCase):

    @settings(max_examples=300)
    @given(documents)
    def test_xml_readers(self, body):
        for parse in (parse_delete, parse_cors, parse_lifecycle, parse_website,
                      _parse_complete):
            try:
                parse(body)
            except errors.S3Error:
                pass

    @settings(max_examples=300)
    @given(st.text(max_size=300), st.floats(allow_nan=False, min_value=0, max_value=4e9))
    def test_post_policy(self, encoded, now):
        import base64
        for candidate in (encoded, base64.b64encode(encoded.encode()).decode()):
            try:
                Policy(candidate, now).check({"key": "k", "x-amz-meta-a": "v"})
            except errors.S3Error:
                pass

    @settings(max_examples=300)
    @given(st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "X"]),
           st.binary(max_size=80), st.one_of(st.none(), st.text(max_size=40)),
           st.sampled_from([None, ".s3.example", "s3.example"]))
    def test_router(self, method, target, host, root_domain):
        try:
            raw_path, raw_query = split_target(b"/" + target)
            bucket, key = locate(raw_path, host, root_domain)
            parse_endpoint(method, bucket, key, parse_query(raw_query))
        except errors.S3Error:
            pass

    @settings(max_examples=300)
    @given(st.dictionaries(
        st.sampled_from(["authorization", "x-amz-date", "x-amz-content-sha256", "host",
                         "x-amz-decoded-content-length"]),
        st.one_of(st.text(max_size=120), st.sampled_from([
            "AWS4-HMAC-SHA256 Credential=GK1/20250101/garage/s3/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
            "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=, Signature=",
            "20250101T000000Z", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"]))),
        st.text(max_size=200))
    def test_sigv4_parse(self, headers, raw_query):
        request = sigv4.SignedRequest("GET", "/b/k", raw_query, headers, 1.7e9)
        try:
            sigv4.parse(request)
        except errors.S3Error:
            pass

    @settings(max_examples=300)
    @given(st.lists(st.one_of(st.binary(max_size=60), st.sampled_from([
        b"5\r\nhello\r\n", b"0\r\n", b"x-amz-checksum-crc32:AAAAAA==\r\n", b"\r\n",
        b"ffffffffffffffff\r\n", b"5;chunk-signature=zz\r\n"])), max_size=8))
    def test_aws_chunked_decoder(self, pieces):
        decoder = AwsChunkedDecoder(sigv4.PayloadMode.STREAMING_UNSIGNED_TRAILER)
        try:
            for piece in pieces:
                decoder.feed(piece)
            decoder.finish()
        except errors.S3Error:
            pass

    @settings(max_examples=200)
    @given(st.binary(max_size=120))
    def test_table_entries_from_peers(self, raw):
        from garage_twisted.block.manager import BlockManager
        from garage_twisted.model.garage import GarageModel
        from twisted.internet.task import Clock
        store = MemoryStore()
        model = GarageModel(store, BlockManager(None, store, None, Clock()), b"n" * 32,
                            sharded=_Local(), full_copy=_Local(), clock=Clock())
        for table in model.tables:
            marker = table.schema.entry_class.MARKER
            for candidate in (raw, marker + raw):
                try:
                    decode_entry(table, candidate)
                except RpcError:
                    pass


class _Local:
    def read_nodes(self, position_hash):
        return [b"n" * 32]

    def write_sets(self, position_hash):
        return [[b"n" * 32]]

    def all_nodes(self, position_hash):
        return [b"n" * 32]

    def read_quorum(self):
        return 1

    def write_quorum(self):
        return 1
