"""The list of unbuilt features: what is refused, with which error, and what
real clients send that must pass."""

import botocore.session
from twisted.trial.unittest import TestCase

from garage_twisted.api.s3 import errors, unbuilt
from garage_twisted.api.s3.router import IMPLEMENTED


def check(operation, query=None, **headers):
    headers = {name.replace("_", "-"): value for name, value in headers.items()}
    unbuilt.check_request(operation, query or {}, headers.get)


class CheckRequestTests(TestCase):
    def refused(self, error, operation, query=None, **headers):
        with self.assertRaises(error) as caught:
            check(operation, query, **headers)
        return caught.exception

    def test_unbuilt_object_write_headers_are_501(self):
        """SSE-KMS and appends on any object write are 501
        NotImplemented naming the header (tags, Object Lock and SSE-S3 are
        built)."""
        cases = [
            {"x_amz_server_side_encryption": "aws:kms"},
            {"x_amz_server_side_encryption": "aws:kms:dsse"},
            {"x_amz_server_side_encryption_aws_kms_key_id": "k"},
            {"x_amz_server_side_encryption_bucket_key_enabled": "true"},
        ]
        for operation in ("PutObject", "CopyObject", "CreateMultipartUpload"):
            for headers in cases:
                error = self.refused(errors.NotImplemented, operation, **headers)
                self.assertEqual(error.status, 501)
                (name,) = headers
                self.assertEqual(error.extra["Header"], name.replace("_", "-"))
                self.assertIn("not implemented", error.message)
        self.refused(errors.NotImplemented, "PutObject", x_amz_write_offset_bytes="0")

    def test_sse_s3_passes_to_the_handlers(self):
        """AES256 (SSE-S3) is built; another value than AWS's is left to the
        handler (400 InvalidArgument there, encryption.py)."""
        for operation in ("PutObject", "CopyObject", "CreateMultipartUpload", "PostObject"):
            check(operation, x_amz_server_side_encryption="AES256")
            check(operation, x_amz_server_side_encryption="rot13")

    def test_values_that_ask_for_nothing_pass(self):
        """Legal hold OFF, lock disabled, empty tags, STANDARD: nothing
        unbuilt is asked."""
        check("PutObject", x_amz_object_lock_legal_hold="OFF", x_amz_tagging="",
              x_amz_storage_class="STANDARD")
        check("CreateMultipartUpload", x_amz_server_side_encryption_bucket_key_enabled="false")
        check("CreateBucket", x_amz_bucket_object_lock_enabled="false")
        check("CreateBucket", x_amz_bucket_namespace="global")

    def test_storage_classes(self):
        """STANDARD is built; another AWS class is 501; an unknown one is
        AWS's 400 InvalidStorageClass."""
        check("PutObject", x_amz_storage_class="standard")
        for operation in ("PutObject", "CopyObject", "CreateMultipartUpload"):
            for name in ("GLACIER", "DEEP_ARCHIVE", "STANDARD_IA", "REDUCED_REDUNDANCY"):
                self.refused(errors.NotImplemented, operation, x_amz_storage_class=name)
            error = self.refused(errors.InvalidStorageClass, operation,
                                 x_amz_storage_class="FROZEN")
            self.assertEqual((error.status, error.code), (400, "InvalidStorageClass"))
            self.assertEqual(error.extra["StorageClassRequested"], "FROZEN")

    def test_object_lock_is_built(self):
        """Object Lock on buckets and writes passes (the handlers check it)."""
        check("CreateBucket", x_amz_bucket_object_lock_enabled="true")
        for operation in ("PutObject", "CopyObject", "CreateMultipartUpload"):
            check(operation, x_amz_object_lock_mode="GOVERNANCE",
                  x_amz_object_lock_retain_until_date="2030-01-01T00:00:00Z",
                  x_amz_object_lock_legal_hold="ON")
        self.refused(errors.NotImplemented, "PutObject", x_amz_object_lock_event_hold="ON")

    def test_version_ids_are_left_to_the_handlers(self):
        """Versions are built: any versionId passes here (the handlers
        answer InvalidArgument or NoSuchVersion)."""
        for operation in ("GetObject", "HeadObject", "DeleteObject", "GetObjectAttributes"):
            check(operation, {"versionId": "3HL4kqtJlcpXro"})
        for operation in ("CopyObject", "UploadPartCopy"):
            check(operation, x_amz_copy_source="/b/k?versionId=abc")

    def test_conditional_deletes_and_mfa(self):
        for headers in ({"if_match": '"e"'}, {"x_amz_if_match_size": "3"},
                        {"x_amz_if_match_last_modified_time": "x"}, {"x_amz_mfa": "a b"}):
            self.refused(errors.NotImplemented, "DeleteObject", **headers)
        self.refused(errors.NotImplemented, "DeleteObjects", x_amz_mfa="a b")
        self.refused(errors.NotImplemented, "AbortMultipartUpload",
                     x_amz_if_match_initiated_time="x")

    def test_unbuilt_checksum_algorithms(self):
        for operation in ("PutObject", "UploadPart", "CompleteMultipartUpload"):
            self.refused(errors.NotImplemented, operation, x_amz_checksum_sha512="x")
            check(operation, x_amz_checksum_crc32="AAAAAA==")

    def test_headers_only_matter_on_their_operations(self):
        """A header AWS ignores on an operation is ignored here too."""
        check("GetObject", x_amz_storage_class="GLACIER", x_amz_tagging="a=b")
        check("UploadPart", x_amz_server_side_encryption="AES256")
        check("PutObject", if_match='"e"')  # conditional writes are built

    def test_listing_delimiters_pass(self):
        """A delimiter is built on every listing, multipart uploads' included."""
        check("ListMultipartUploads", {"delimiter": "/"})
        check("ListObjectsV2", {"delimiter": "/"})

    def test_what_boto3_sends_by_default_passes(self):
        """Headers real clients send in normal use are never refused."""
        for operation in ("PutObject", "UploadPart", "CompleteMultipartUpload"):
            check(operation, x_amz_sdk_checksum_algorithm="CRC32", x_amz_checksum_crc32="x",
                  x_amz_content_sha256="UNSIGNED-PAYLOAD", x_amz_te="gzip",
                  x_amz_decoded_content_length="3", x_amz_trailer="x-amz-checksum-crc32",
                  expect="100-continue", x_amz_acl="public-read",
                  x_amz_expected_bucket_owner="1", x_amz_request_payer="requester")
        check("CopyObject", x_amz_tagging_directive="REPLACE", x_amz_metadata_directive="REPLACE",
              x_amz_copy_source="/b/k", x_amz_grant_read="id=x")
        check("CreateBucket", x_amz_acl="private", x_amz_object_ownership="BucketOwnerEnforced")


class BodyAndFormTests(TestCase):
    def test_delete_entries(self):
        unbuilt.check_delete_entry({"Key": "k"})
        unbuilt.check_delete_entry({"Key": "k", "VersionId": "null"})
        unbuilt.check_delete_entry({"Key": "k", "VersionId": "v1"})  # versions are built
        for extra in ({"ETag": '"e"'}, {"Size": "3"},
                      {"LastModifiedTime": "x"}):
            with self.assertRaises(errors.NotImplemented):
                unbuilt.check_delete_entry({"Key": "k", **extra})

    def test_bucket_configuration(self):
        unbuilt.check_bucket_configuration(["LocationConstraint"])
        for name in ("Tags", "Bucket", "Location"):
            with self.assertRaises(errors.NotImplemented):
                unbuilt.check_bucket_configuration(["LocationConstraint", name])

    def test_post_form_fields(self):
        unbuilt.check_form({"key": "k", "acl": "public-read", "x-amz-storage-class": "STANDARD"})
        unbuilt.check_form({"key": "k", "tagging": "<Tagging/>"})  # tags are built
        unbuilt.check_form({"key": "k", "x-amz-server-side-encryption": "AES256"})
        for fields in ({"x-amz-storage-class": "GLACIER"},
                       {"x-amz-server-side-encryption": "aws:kms"},
                       {"x-amz-object-lock-event-hold": "ON"}):
            with self.assertRaises(errors.NotImplemented):
                unbuilt.check_form({"key": "k", **fields})


class CoverageTests(TestCase):
    def test_every_aws_field_of_a_served_operation_is_decided(self):
        """Each header AWS defines (botocore's model) for an operation this
        node serves is built, refused or deliberately ignored: a new one
        shows up here rather than being silently dropped."""
        model = botocore.session.get_session().get_service_model("s3")
        refused = {rule.name for rule in unbuilt.REFUSED} | {"x-amz-storage-class"}
        built = {
            "cache-control", "content-disposition", "content-encoding", "content-language",
            "content-length", "content-md5", "content-type", "expires", "if-match",
            "if-none-match", "if-modified-since", "if-unmodified-since", "range",
            "x-amz-copy-source", "x-amz-copy-source-range", "x-amz-metadata-directive",
            "x-amz-checksum-mode", "x-amz-checksum-type", "x-amz-sdk-checksum-algorithm",
            "x-amz-website-redirect-location", "x-amz-object-attributes", "x-amz-max-parts",
            "x-amz-part-number-marker", "x-amz-tagging", "x-amz-tagging-directive",
            "x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date",
            "x-amz-object-lock-legal-hold", "x-amz-bypass-governance-retention",
            "x-amz-bucket-object-lock-enabled", "x-amz-acl", "x-amz-grant-full-control",
            "x-amz-grant-read", "x-amz-grant-read-acp", "x-amz-grant-write",
            "x-amz-grant-write-acp",
        }
        built_prefixes = ("x-amz-copy-source-if-", "x-amz-server-side-encryption-customer-",
                          "x-amz-copy-source-server-side-encryption-customer-",
                          "x-amz-checksum-crc", "x-amz-checksum-sha1", "x-amz-checksum-sha256",
                          "x-amz-meta-")
        undecided = []
        for operation in sorted(IMPLEMENTED - {"Options", "PostObject"}):
            shape = model.operation_model(operation).input_shape
            for member in shape.members.values() if shape is not None else ():
                if member.serialization.get("location") not in ("header", "headers"):
                    continue
                name = member.serialization["name"].lower()
                if (name in built or name in refused or name in unbuilt.IGNORED
                        or name.startswith(built_prefixes)):
                    continue
                undecided.append((operation, name))
        self.assertEqual(undecided, [])

    def test_refused_and_ignored_are_disjoint(self):
        self.assertFalse({rule.name for rule in unbuilt.REFUSED} & set(unbuilt.IGNORED))
