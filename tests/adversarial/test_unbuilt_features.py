"""What is not built is refused, not half done (issue 22, defect 8).

Once, CreateBucket with ``x-amz-bucket-object-lock-enabled: true`` made a
bucket without a lock, ``x-amz-tagging`` was dropped, ``GLACIER`` was
stored as STANDARD, a ``versionId`` read the current object and, in a
DeleteObjects document, deleted it. Each such request now answers 501
NotImplemented (or AWS's own error for a value AWS rejects) and changes
nothing. Tags, versions and Object Lock are built since (issue 25): what
they are asked for where they cannot apply (a lock on a bucket without
one, a malformed version id) is still refused whole. Requests through
boto3, as a client would send them.
"""

import hashlib

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support import signer
from tests.support.node import in_thread, start_with_s3_client

BODY = b"the current version"


class UnbuiltFeatureTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="bkt")
        await in_thread(self.s3.put_object, Bucket="bkt", Key="kept", Body=BODY)

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def refused(self, method, status=501, code="NotImplemented", **kwargs):
        """Call ``method`` and check it fails with ``status`` and ``code``."""
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        response = caught.exception.response
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], status, kwargs)
        if not method.startswith("head_"):  # a HEAD answer has no body
            self.assertEqual(response["Error"]["Code"], code, kwargs)
        return response

    async def assertAbsent(self, key, bucket="bkt"):
        with self.assertRaises(ClientError) as caught:
            await self.call("head_object", Bucket=bucket, Key=key)
        self.assertEqual(caught.exception.response["Error"]["Code"], "404")

    async def assertKept(self):
        got = await self.call("get_object", Bucket="bkt", Key="kept")
        self.assertEqual(await in_thread(got["Body"].read), BODY)

    async def test_object_write_options_are_not_dropped(self):
        """SSE-KMS and another storage class (501), Object Lock on a bucket
        without it (400 InvalidRequest, as AWS): refused by PutObject,
        CopyObject and CreateMultipartUpload, nothing written."""
        for options, status, code in (
                ({"StorageClass": "GLACIER"}, 501, "NotImplemented"),
                ({"ObjectLockMode": "COMPLIANCE",
                  "ObjectLockRetainUntilDate": "2040-01-01T00:00:00Z"}, 400, "InvalidRequest"),
                ({"ObjectLockLegalHoldStatus": "ON"}, 400, "InvalidRequest"),
                ({"ServerSideEncryption": "aws:kms"}, 501, "NotImplemented")):
            kinds = dict(status=status, code=code)
            await self.refused("put_object", Bucket="bkt", Key="new", Body=b"x", **options,
                               **kinds)
            await self.refused("copy_object", Bucket="bkt", Key="new",
                               CopySource={"Bucket": "bkt", "Key": "kept"}, **options,
                               **kinds)
            await self.refused("create_multipart_upload", Bucket="bkt", Key="new", **options,
                               **kinds)
            await self.assertAbsent("new")
        uploads = await self.call("list_multipart_uploads", Bucket="bkt")
        self.assertEqual(uploads.get("Uploads", []), [])

    async def test_unknown_storage_class_is_awss_error(self):
        await self.refused("put_object", status=400, code="InvalidStorageClass", Bucket="bkt",
                           Key="new", Body=b"x", StorageClass="FROZEN")
        await self.assertAbsent("new")
        await self.call("put_object", Bucket="bkt", Key="std", Body=b"x",
                        StorageClass="STANDARD")

    async def test_version_ids_other_than_null(self):
        """GET, HEAD, DELETE and a copy source naming a malformed version are
        400 InvalidArgument, one that does not exist 404 NoSuchVersion (a
        DELETE of it 204); the object stays; "null" (its version id in a
        bucket without versioning) reads it."""
        version = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
        malformed = dict(status=400, code="InvalidArgument")
        await self.refused("get_object", Bucket="bkt", Key="kept", VersionId=version,
                           **malformed)
        await self.refused("head_object", Bucket="bkt", Key="kept", VersionId=version,
                           **malformed)
        await self.refused("delete_object", Bucket="bkt", Key="kept", VersionId=version,
                           **malformed)
        await self.refused("copy_object", Bucket="bkt", Key="copy",
                           CopySource={"Bucket": "bkt", "Key": "kept", "VersionId": version},
                           **malformed)
        unknown = "ab" * 32
        await self.refused("get_object", Bucket="bkt", Key="kept", VersionId=unknown,
                           status=404, code="NoSuchVersion")
        await self.call("delete_object", Bucket="bkt", Key="kept", VersionId=unknown)
        await self.assertAbsent("copy")
        await self.assertKept()
        got = await self.call("get_object", Bucket="bkt", Key="kept", VersionId="null")
        self.assertEqual(await in_thread(got["Body"].read), BODY)

    async def test_delete_objects_naming_a_version_deletes_nothing(self):
        """One entry with a malformed <VersionId> (400) or a condition
        (501) refuses the whole batch: the plain entry beside it is not
        deleted either."""
        await self.call("put_object", Bucket="bkt", Key="other", Body=b"o")
        await self.refused("delete_objects", Bucket="bkt", Delete={"Objects": [
            {"Key": "other"}, {"Key": "kept", "VersionId": "v1"}]},
                           status=400, code="InvalidArgument")
        await self.refused("delete_objects", Bucket="bkt", Delete={"Objects": [
            {"Key": "kept", "ETag": '"abc"'}]})
        await self.assertKept()
        await self.call("head_object", Bucket="bkt", Key="other")

    async def test_newer_subresources_do_not_delete_or_overwrite(self):
        """``DELETE /bkt?metadataTable`` once deleted the (empty) bucket, and
        ``PUT /bkt/kept?renameObject`` overwrote the object with its body."""
        await in_thread(self.s3.create_bucket, Bucket="empty")
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        for method, path, body in (("DELETE", "/empty?metadataTable", b""),
                                   ("PUT", "/bkt/kept?renameObject", b"overwritten"),
                                   ("DELETE", "/bkt/kept?annotation", b"")):
            url = self.fixture.endpoint + path
            headers, *_ = signer.sign(method, url, self.key.key_id, self.key.params.secret_key,
                                      "garage", hashlib.sha256(body).hexdigest())
            response = await treq.request(method, url, headers=headers, data=body or None,
                                          pool=pool)
            content = await treq.content(response)
            self.assertEqual(response.code, 501, (path, content))
            self.assertIn(b"<Code>NotImplemented</Code>", content)
        await self.call("head_bucket", Bucket="empty")
        await self.assertKept()

    async def test_browser_post_asking_for_glacier_stores_nothing(self):
        """A signed POST policy allowing a GLACIER storage class is refused
        like the header (501), nothing stored."""
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        for field, value in (("x-amz-storage-class", "GLACIER"),):
            post = await self.call("generate_presigned_post", Bucket="bkt", Key="posted",
                                   Fields={field: value}, Conditions=[{field: value}],
                                   ExpiresIn=300)
            response = await treq.post(post["url"], data=list(post["fields"].items()),
                                       files={"file": ("f", "text/plain", b"x")}, pool=pool)
            content = await treq.content(response)
            self.assertEqual(response.code, 501, content)
            self.assertIn(b"<Code>NotImplemented</Code>", content)
            await self.assertAbsent("posted")
