"""The S3 operation a request names (method, bucket, key, query keywords)."""

from twisted.trial.unittest import TestCase

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.router import locate, parse_endpoint, parse_query


class ParseEndpointTests(TestCase):
    def name(self, method, bucket=None, key=None, **query):
        return parse_endpoint(method, bucket, key, query).name

    def test_bucket_operations(self):
        self.assertEqual(self.name("PUT", "b"), "CreateBucket")
        self.assertEqual(self.name("GET", "b"), "ListObjects")
        self.assertEqual(self.name("GET", "b", **{"list-type": "2"}), "ListObjectsV2")
        self.assertEqual(self.name("POST", "b", delete=""), "DeleteObjects")
        self.assertEqual(self.name("GET", "b", uploads=""), "ListMultipartUploads")

    def test_unsupported_subresources_are_named_not_taken_for_others(self):
        """A PUT with a sub-resource this node lacks is that operation (501
        later), never CreateBucket."""
        for keyword, operation in (("replication", "PutBucketReplication"),
                                   ("ownershipControls", "PutBucketOwnershipControls"),
                                   ("metrics", "PutBucketMetricsConfiguration")):
            endpoint = parse_endpoint("PUT", "b", None, {keyword: ""})
            self.assertEqual(endpoint.name, operation)
            self.assertFalse(endpoint.implemented)
        self.assertEqual(self.name("GET", "b", policyStatus=""), "GetBucketPolicyStatus")

    def test_object_operations(self):
        self.assertEqual(self.name("PUT", "b", "k"), "PutObject")
        self.assertEqual(self.name("PUT", "b", "k", uploadId="u", partNumber="1"),
                         "UploadPart")
        self.assertEqual(self.name("POST", "b", "k", uploadId="u"), "CompleteMultipartUpload")
        self.assertEqual(self.name("DELETE", "b", "k", uploadId="u"), "AbortMultipartUpload")
        self.assertEqual(self.name("GET", "b", "k", acl=""), "GetObjectAcl")

    def test_method_not_allowed(self):
        self.assertRaises(errors.MethodNotAllowed, parse_endpoint, "POST", None, None, {})
        self.assertRaises(errors.MethodNotAllowed, parse_endpoint, "DELETE", "b", None,
                          {"location": ""})

    def test_newer_subresources_never_write_or_delete(self):
        """AWS sub-resources this node lacks are named (501 later), never
        taken for DeleteBucket, CreateBucket, PutObject or DeleteObject."""
        for method, key, keyword in (("DELETE", None, "metadataTable"),
                                     ("DELETE", None, "metadataConfiguration"),
                                     ("PUT", None, "abac"),
                                     ("PUT", None, "default-storage-class"),
                                     ("PUT", None, "metadataJournalTable"),
                                     ("PUT", "k", "renameObject"),
                                     ("PUT", "k", "encryption"),
                                     ("PUT", "k", "annotation"),
                                     ("DELETE", "k", "annotation")):
            endpoint = parse_endpoint(method, "b", key, {keyword: ""})
            self.assertFalse(endpoint.implemented, (method, keyword, endpoint.name))


class InvalidUriTests(TestCase):
    def test_target_not_utf8_is_invalid_uri(self):
        """A key, bucket or query value that is not UTF-8 once decoded is
        InvalidURI (400), as AWS answers, not a key that is then not found."""
        for target in (b"/bucket/%AE%8A-", b"/%FF/key"):
            error = self.assertRaises(errors.InvalidURI, locate, target, None, None)
            self.assertEqual((error.status, error.message),
                             (400, "Couldn't parse the specified URI."))
        self.assertRaises(errors.InvalidURI, locate, b"/%AE", "bkt.s3.test", "s3.test")
        self.assertRaises(errors.InvalidURI, parse_query, "prefix=%AE%8A")
        self.assertEqual(locate(b"/bucket/%C3%A9", None, None), ("bucket", "\u00e9"))
