"""S3 Object Lock through boto3 on a real node, AWS's behaviour the oracle:
bucket configuration and default retention, lock headers on writes
(PutObject, multipart, copy), the digest a lock bucket's PUTs need,
retention and legal holds of versions, and what they forbid (deletion by
version id, shortening or removing retention) to whom."""

import base64
import hashlib
from datetime import datetime, timedelta, timezone

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support import signer
from tests.support.node import in_thread, start_with_s3_client

LOCKED = "locked"
PLAIN = "plain"
PART = 5 * 1024 * 1024


def later(**delta) -> datetime:
    """A date ``delta`` from now, to the second (as S3 keeps them)."""
    return (datetime.now(timezone.utc) + timedelta(**delta)).replace(microsecond=0)


class _Calls:
    async def call(self, method, client=None, **kwargs):
        return await in_thread(getattr(client or self.s3, method), **kwargs)

    async def assertError(self, status, code, method, client=None, **kwargs):
        """``method`` fails with HTTP ``status`` and S3 error ``code``."""
        with self.assertRaises(ClientError) as caught:
            await self.call(method, client, **kwargs)
        response = caught.exception.response
        self.assertEqual((response["ResponseMetadata"]["HTTPStatusCode"],
                          response["Error"]["Code"]), (status, code), method)
        return caught.exception

    async def body(self, key, version_id=None, bucket=LOCKED):
        extra = {} if version_id is None else {"VersionId": version_id}
        got = await self.call("get_object", Bucket=bucket, Key=key, **extra)
        return await in_thread(got["Body"].read)

    async def put(self, key, body, bucket=LOCKED, **kwargs) -> str:
        """Put ``key`` and answer its version id (None: not versioned)."""
        put = await self.call("put_object", Bucket=bucket, Key=key, Body=body, **kwargs)
        return put.get("VersionId")

    async def retention(self, key, version_id=None):
        extra = {} if version_id is None else {"VersionId": version_id}
        got = await self.call("get_object_retention", Bucket=LOCKED, Key=key, **extra)
        return got["Retention"]["Mode"], got["Retention"]["RetainUntilDate"]


class _LockedBucket(_Calls):
    """A node, its owner key's client, a bucket created with Object Lock
    and one without."""

    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024)
        await self.call("create_bucket", Bucket=LOCKED, ObjectLockEnabledForBucket=True)
        await self.call("create_bucket", Bucket=PLAIN)


class BucketConfigurationTests(_LockedBucket, TestCase):

    async def test_created_with_lock(self):
        """A bucket created with Object Lock has versioning Enabled for good
        and an Object Lock configuration without default retention."""
        got = await self.call("get_bucket_versioning", Bucket=LOCKED)
        self.assertEqual(got["Status"], "Enabled")
        await self.assertError(409, "InvalidBucketState", "put_bucket_versioning",
                               Bucket=LOCKED,
                               VersioningConfiguration={"Status": "Suspended"})
        got = await self.call("get_bucket_versioning", Bucket=LOCKED)
        self.assertEqual(got["Status"], "Enabled")
        got = await self.call("get_object_lock_configuration", Bucket=LOCKED)
        self.assertEqual(got["ObjectLockConfiguration"], {"ObjectLockEnabled": "Enabled"})

    async def test_default_retention_read_back(self):
        for rule in ({"Mode": "GOVERNANCE", "Days": 1}, {"Mode": "COMPLIANCE", "Years": 1}):
            await self.call("put_object_lock_configuration", Bucket=LOCKED,
                            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                                     "Rule": {"DefaultRetention": rule}})
            got = await self.call("get_object_lock_configuration", Bucket=LOCKED)
            self.assertEqual(got["ObjectLockConfiguration"],
                             {"ObjectLockEnabled": "Enabled",
                              "Rule": {"DefaultRetention": rule}})
        await self.assertError(400, "MalformedXML", "put_object_lock_configuration",
                               Bucket=LOCKED, ObjectLockConfiguration={
                                   "ObjectLockEnabled": "Enabled",
                                   "Rule": {"DefaultRetention": {
                                       "Mode": "GOVERNANCE", "Days": 1, "Years": 1}}})
        for rule in ({"Mode": "GOVERNANCE", "Days": 0}, {"Mode": "COMPLIANCE", "Years": 0}):
            await self.assertError(400, "InvalidArgument", "put_object_lock_configuration",
                                   Bucket=LOCKED, ObjectLockConfiguration={
                                       "ObjectLockEnabled": "Enabled",
                                       "Rule": {"DefaultRetention": rule}})
        # The refused ones changed nothing.
        got = await self.call("get_object_lock_configuration", Bucket=LOCKED)
        self.assertEqual(got["ObjectLockConfiguration"]["Rule"]["DefaultRetention"],
                         {"Mode": "COMPLIANCE", "Years": 1})

    async def test_lock_needs_enabled_versioning(self):
        """A bucket without versioning cannot get Object Lock; a versioned
        one gets it (and then keeps versioning Enabled)."""
        configuration = {"ObjectLockEnabled": "Enabled",
                         "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
        await self.assertError(409, "InvalidBucketState", "put_object_lock_configuration",
                               Bucket=PLAIN, ObjectLockConfiguration=configuration)
        await self.assertError(404, "ObjectLockConfigurationNotFoundError",
                               "get_object_lock_configuration", Bucket=PLAIN)
        await self.call("put_bucket_versioning", Bucket=PLAIN,
                        VersioningConfiguration={"Status": "Suspended"})
        await self.assertError(409, "InvalidBucketState", "put_object_lock_configuration",
                               Bucket=PLAIN, ObjectLockConfiguration=configuration)
        await self.call("put_bucket_versioning", Bucket=PLAIN,
                        VersioningConfiguration={"Status": "Enabled"})
        await self.call("put_object_lock_configuration", Bucket=PLAIN,
                        ObjectLockConfiguration=configuration)
        got = await self.call("get_object_lock_configuration", Bucket=PLAIN)
        self.assertEqual(got["ObjectLockConfiguration"], configuration)
        await self.assertError(409, "InvalidBucketState", "put_bucket_versioning",
                               Bucket=PLAIN,
                               VersioningConfiguration={"Status": "Suspended"})
        # Its new versions get the default retention.
        version_id = await self.put("k", b"v", bucket=PLAIN)
        head = await self.call("head_object", Bucket=PLAIN, Key="k", VersionId=version_id)
        self.assertEqual(head["ObjectLockMode"], "GOVERNANCE")

    async def test_plain_bucket_has_no_configuration(self):
        error = await self.assertError(404, "ObjectLockConfigurationNotFoundError",
                                       "get_object_lock_configuration", Bucket=PLAIN)
        self.assertIn("Object Lock configuration does not exist", error.response["Error"]
                      ["Message"])


class WriteHeadersTests(_LockedBucket, TestCase):

    async def test_put_with_lock_headers(self):
        until = later(days=2)
        version_id = await self.put("k", b"data", ObjectLockMode="GOVERNANCE",
                                    ObjectLockRetainUntilDate=until,
                                    ObjectLockLegalHoldStatus="ON")
        head = await self.call("head_object", Bucket=LOCKED, Key="k")
        self.assertEqual((head["VersionId"], head["ObjectLockMode"],
                          head["ObjectLockRetainUntilDate"], head["ObjectLockLegalHoldStatus"]),
                         (version_id, "GOVERNANCE", until, "ON"))
        got = await self.call("get_object", Bucket=LOCKED, Key="k", VersionId=version_id)
        self.assertEqual((got["ObjectLockMode"], got["ObjectLockRetainUntilDate"],
                          got["ObjectLockLegalHoldStatus"]), ("GOVERNANCE", until, "ON"))
        await in_thread(got["Body"].read)

    async def test_malformed_lock_headers(self):
        await self.assertError(400, "InvalidArgument", "put_object", Bucket=LOCKED, Key="k",
                               Body=b"x", ObjectLockMode="GOVERNANCE")
        await self.assertError(400, "InvalidArgument", "put_object", Bucket=LOCKED, Key="k",
                               Body=b"x", ObjectLockRetainUntilDate=later(days=1))
        await self.assertError(400, "InvalidArgument", "put_object", Bucket=LOCKED, Key="k",
                               Body=b"x", ObjectLockMode="COMPLIANCE",
                               ObjectLockRetainUntilDate=later(days=-1))
        await self.assertError(400, "InvalidArgument", "put_object", Bucket=LOCKED, Key="k",
                               Body=b"x", ObjectLockMode="FOREVER",
                               ObjectLockRetainUntilDate=later(days=1))
        await self.assertError(404, "404", "head_object", Bucket=LOCKED, Key="k")

    async def test_lock_headers_need_a_lock_bucket(self):
        for headers in ({"ObjectLockMode": "GOVERNANCE",
                         "ObjectLockRetainUntilDate": later(days=1)},
                        {"ObjectLockLegalHoldStatus": "ON"}):
            await self.assertError(400, "InvalidRequest", "put_object", Bucket=PLAIN,
                                   Key="k", Body=b"x", **headers)
        await self.assertError(404, "404", "head_object", Bucket=PLAIN, Key="k")

    async def test_default_retention_applies(self):
        await self.call("put_object_lock_configuration", Bucket=LOCKED,
                        ObjectLockConfiguration={
                            "ObjectLockEnabled": "Enabled",
                            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
        before = datetime.now(timezone.utc)
        version_id = await self.put("k", b"x")
        after = datetime.now(timezone.utc)
        head = await self.call("head_object", Bucket=LOCKED, Key="k", VersionId=version_id)
        self.assertEqual(head["ObjectLockMode"], "GOVERNANCE")
        until = head["ObjectLockRetainUntilDate"]
        self.assertGreaterEqual(until, before + timedelta(days=1, seconds=-1))
        self.assertLessEqual(until, after + timedelta(days=1, seconds=1))
        self.assertNotIn("ObjectLockLegalHoldStatus", head)
        # Years count as 365 days.
        await self.call("put_object_lock_configuration", Bucket=LOCKED,
                        ObjectLockConfiguration={
                            "ObjectLockEnabled": "Enabled",
                            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 1}}})
        version_id = await self.put("k", b"x")
        mode, until = await self.retention("k", version_id)
        self.assertEqual(mode, "COMPLIANCE")
        self.assertLess(abs(until - datetime.now(timezone.utc) - timedelta(days=365)),
                        timedelta(minutes=1))
        # A write naming its own retention keeps it instead.
        own = later(days=5)
        version_id = await self.put("k", b"y", ObjectLockMode="COMPLIANCE",
                                    ObjectLockRetainUntilDate=own)
        self.assertEqual(await self.retention("k", version_id), ("COMPLIANCE", own))

    async def test_multipart_carries_lock(self):
        until = later(days=3)
        upload = await self.call("create_multipart_upload", Bucket=LOCKED, Key="mpu",
                                 ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                                 ObjectLockLegalHoldStatus="ON")
        parts = []
        for number, body in ((1, b"a" * PART), (2, b"b" * 1000)):
            part = await self.call("upload_part", Bucket=LOCKED, Key="mpu",
                                   PartNumber=number, UploadId=upload["UploadId"], Body=body)
            parts.append({"PartNumber": number, "ETag": part["ETag"]})
        done = await self.call("complete_multipart_upload", Bucket=LOCKED, Key="mpu",
                               UploadId=upload["UploadId"],
                               MultipartUpload={"Parts": parts})
        head = await self.call("head_object", Bucket=LOCKED, Key="mpu")
        self.assertEqual((head["VersionId"], head["ObjectLockMode"],
                          head["ObjectLockRetainUntilDate"], head["ObjectLockLegalHoldStatus"]),
                         (done["VersionId"], "COMPLIANCE", until, "ON"))
        await self.assertError(400, "InvalidArgument", "create_multipart_upload",
                               Bucket=LOCKED, Key="mpu", ObjectLockMode="COMPLIANCE")
        await self.assertError(400, "InvalidRequest", "create_multipart_upload",
                               Bucket=PLAIN, Key="mpu", ObjectLockLegalHoldStatus="ON")

    async def test_copy_carries_lock(self):
        await self.put("src", b"source")
        until = later(days=4)
        copied = await self.call("copy_object", Bucket=LOCKED, Key="dst",
                                 CopySource={"Bucket": LOCKED, "Key": "src"},
                                 ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until,
                                 ObjectLockLegalHoldStatus="ON")
        head = await self.call("head_object", Bucket=LOCKED, Key="dst")
        self.assertEqual((head["VersionId"], head["ObjectLockMode"],
                          head["ObjectLockRetainUntilDate"], head["ObjectLockLegalHoldStatus"]),
                         (copied["VersionId"], "GOVERNANCE", until, "ON"))
        self.assertEqual(await self.body("dst"), b"source")
        # A copy does not take the source's lock (AWS): only what it asks
        # for, else the bucket's default.
        await self.call("copy_object", Bucket=LOCKED, Key="again",
                        CopySource={"Bucket": LOCKED, "Key": "dst"})
        head = await self.call("head_object", Bucket=LOCKED, Key="again")
        self.assertNotIn("ObjectLockMode", head)
        self.assertNotIn("ObjectLockLegalHoldStatus", head)
        # Into a bucket without Object Lock, the headers are refused.
        await self.assertError(400, "InvalidRequest", "copy_object", Bucket=PLAIN, Key="dst",
                               CopySource={"Bucket": LOCKED, "Key": "src"},
                               ObjectLockLegalHoldStatus="ON")


class IntegrityTests(_LockedBucket, TestCase):
    """AWS: a PUT to a bucket with Object Lock needs Content-MD5 or an
    x-amz-checksum-* (a digest the server checks)."""

    async def setUp(self):
        await super().setUp()
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def raw_put(self, bucket, key, body, headers=None):
        url = f"{self.fixture.endpoint}/{bucket}/{key}"
        signed, *_ = signer.sign("PUT", url, self.key.key_id, self.key.params.secret_key,
                                 "garage", hashlib.sha256(body).hexdigest(), headers)
        response = await treq.put(url, data=body, headers=signed, pool=self.pool)
        return response.code, await treq.content(response)

    async def test_raw_put_needs_a_digest(self):
        code, content = await self.raw_put(LOCKED, "k", b"no digest")
        self.assertEqual(code, 400, content)
        self.assertIn(b"<Code>InvalidRequest</Code>", content)
        await self.assertError(404, "404", "head_object", Bucket=LOCKED, Key="k")
        md5 = base64.b64encode(hashlib.md5(b"with md5").digest()).decode()
        code, content = await self.raw_put(LOCKED, "k", b"with md5", {"content-md5": md5})
        self.assertEqual(code, 200, content)
        self.assertEqual(await self.body("k"), b"with md5")
        # A bucket without Object Lock needs none.
        code, content = await self.raw_put(PLAIN, "k", b"no digest")
        self.assertEqual(code, 200, content)

    async def test_boto3_without_checksum_is_refused(self):
        client = self.fixture.boto3_client(self.key, request_checksum_calculation="when_required")
        self.addCleanup(client.close)
        sent = []
        client.meta.events.register("before-send.s3.PutObject",
                                    lambda request, **_: sent.append(dict(request.headers)))
        await self.assertError(400, "InvalidRequest", "put_object", client, Bucket=LOCKED,
                               Key="k", Body=b"x")
        names = {name.lower() for name in sent[-1]}
        self.assertNotIn("content-md5", names)
        self.assertFalse([n for n in names if n.startswith("x-amz-checksum-")
                          or n in ("x-amz-trailer", "x-amz-sdk-checksum-algorithm")], names)
        # The same client with a Content-MD5 is accepted.
        md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
        await self.call("put_object", client, Bucket=LOCKED, Key="k", Body=b"x",
                        ContentMD5=md5)
        # boto3's default (a CRC32 checksum) is accepted.
        sent.clear()
        self.s3.meta.events.register("before-send.s3.PutObject",
                                     lambda request, **_: sent.append(dict(request.headers)))
        await self.put("k", b"default")
        names = {name.lower() for name in sent[-1]}
        self.assertTrue([n for n in names if n.startswith("x-amz-checksum-")]
                        or "x-amz-trailer" in names, names)
        self.assertEqual(await self.body("k"), b"default")


class RetentionAndLegalHoldTests(_LockedBucket, TestCase):

    async def test_put_get_retention_and_legal_hold(self):
        first = await self.put("k", b"1")
        second = await self.put("k", b"2")
        await self.assertError(404, "NoSuchObjectLockConfiguration", "get_object_retention",
                               Bucket=LOCKED, Key="k")
        await self.assertError(404, "NoSuchObjectLockConfiguration", "get_object_legal_hold",
                               Bucket=LOCKED, Key="k")
        until = later(days=1)
        await self.call("put_object_retention", Bucket=LOCKED, Key="k", VersionId=first,
                        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
        self.assertEqual(await self.retention("k", first), ("GOVERNANCE", until))
        # The latest version was not touched.
        await self.assertError(404, "NoSuchObjectLockConfiguration", "get_object_retention",
                               Bucket=LOCKED, Key="k", VersionId=second)
        await self.call("put_object_retention", Bucket=LOCKED, Key="k",
                        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
        self.assertEqual(await self.retention("k"), ("COMPLIANCE", until))
        self.assertEqual(await self.retention("k", second), ("COMPLIANCE", until))
        await self.call("put_object_legal_hold", Bucket=LOCKED, Key="k", VersionId=first,
                        LegalHold={"Status": "ON"})
        got = await self.call("get_object_legal_hold", Bucket=LOCKED, Key="k",
                              VersionId=first)
        self.assertEqual(got["LegalHold"], {"Status": "ON"})
        await self.call("put_object_legal_hold", Bucket=LOCKED, Key="k", VersionId=first,
                        LegalHold={"Status": "OFF"})
        got = await self.call("get_object_legal_hold", Bucket=LOCKED, Key="k",
                              VersionId=first)
        self.assertEqual(got["LegalHold"], {"Status": "OFF"})
        head = await self.call("head_object", Bucket=LOCKED, Key="k", VersionId=first)
        self.assertEqual(head["ObjectLockLegalHoldStatus"], "OFF")
        # A past date, an unknown key or version, a bucket without lock.
        await self.assertError(400, "InvalidArgument", "put_object_retention", Bucket=LOCKED,
                               Key="k", VersionId=second,
                               Retention={"Mode": "COMPLIANCE",
                                          "RetainUntilDate": later(days=-1)})
        await self.assertError(404, "NoSuchKey", "get_object_retention", Bucket=LOCKED,
                               Key="none")
        await self.assertError(404, "NoSuchVersion", "get_object_retention", Bucket=LOCKED,
                               Key="k", VersionId="0" * 64)
        await self.put("k", b"p", bucket=PLAIN)
        await self.assertError(400, "InvalidRequest", "put_object_retention", Bucket=PLAIN,
                               Key="k", Retention={"Mode": "GOVERNANCE",
                                                   "RetainUntilDate": until})
        await self.assertError(400, "InvalidRequest", "put_object_legal_hold", Bucket=PLAIN,
                               Key="k", LegalHold={"Status": "ON"})
        await self.assertError(400, "InvalidRequest", "get_object_retention", Bucket=PLAIN,
                               Key="k")
        await self.assertError(400, "InvalidRequest", "get_object_legal_hold", Bucket=PLAIN,
                               Key="k")
        # A key that may only read changes neither.
        reader_key = await self.fixture.create_key("reader", allow_create_bucket=False)
        helper = self.fixture.node.helper
        await helper.set_permissions(await helper.resolve_global_alias(LOCKED),
                                     reader_key.key_id, True, False, False)
        reader = self.fixture.boto3_client(reader_key)
        self.addCleanup(reader.close)
        self.assertEqual(await self.retention("k", first), ("GOVERNANCE", until))
        await self.assertError(403, "AccessDenied", "put_object_retention", reader,
                               Bucket=LOCKED, Key="k", VersionId=first,
                               Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
        await self.assertError(403, "AccessDenied", "put_object_legal_hold", reader,
                               Bucket=LOCKED, Key="k", VersionId=first,
                               LegalHold={"Status": "ON"})
        got = await self.call("get_object_retention", reader, Bucket=LOCKED, Key="k",
                              VersionId=first)
        self.assertEqual(got["Retention"]["Mode"], "GOVERNANCE")


class GovernanceTests(_LockedBucket, TestCase):

    async def setUp(self):
        await super().setUp()
        self.until = later(days=2)
        self.version_id = await self.put("k", b"governed", ObjectLockMode="GOVERNANCE",
                                         ObjectLockRetainUntilDate=self.until)
        # A second key with read and write rights on the bucket, not owner.
        helper = self.fixture.node.helper
        self.writer_key = await self.fixture.create_key("writer", allow_create_bucket=False)
        bucket_id = await helper.resolve_global_alias(LOCKED)
        await helper.set_permissions(bucket_id, self.writer_key.key_id, True, True, False)
        self.writer = self.fixture.boto3_client(self.writer_key)
        self.addCleanup(self.writer.close)

    async def test_delete_by_id_needs_owner_bypass(self):
        await self.assertError(403, "AccessDenied", "delete_object", Bucket=LOCKED, Key="k",
                               VersionId=self.version_id)
        await self.assertError(403, "AccessDenied", "delete_object", Bucket=LOCKED, Key="k",
                               VersionId=self.version_id, BypassGovernanceRetention=False)
        await self.assertError(403, "AccessDenied", "delete_object", self.writer,
                               Bucket=LOCKED, Key="k", VersionId=self.version_id,
                               BypassGovernanceRetention=True)
        await self.assertError(403, "AccessDenied", "delete_object", self.writer,
                               Bucket=LOCKED, Key="k", VersionId=self.version_id)
        # The writer reads it fine.
        self.assertEqual(await self.body("k", self.version_id), b"governed")
        await self.call("delete_object", Bucket=LOCKED, Key="k", VersionId=self.version_id,
                        BypassGovernanceRetention=True)
        await self.assertError(404, "NoSuchVersion", "get_object", Bucket=LOCKED, Key="k",
                               VersionId=self.version_id)

    async def test_delete_objects_by_id_needs_owner_bypass(self):
        entries = {"Objects": [{"Key": "k", "VersionId": self.version_id}]}
        for client, bypass in ((self.s3, False), (self.writer, False)):
            got = await self.call("delete_objects", client, Bucket=LOCKED, Delete=entries,
                                  BypassGovernanceRetention=bypass)
            self.assertEqual([e["Code"] for e in got["Errors"]], ["AccessDenied"])
            self.assertNotIn("Deleted", got)
        # Without owner rights, the bypass is refused: for the whole request
        # (as here) or for the protected key (AWS checks the permission then).
        try:
            got = await self.call("delete_objects", self.writer, Bucket=LOCKED,
                                  Delete=entries, BypassGovernanceRetention=True)
        except ClientError as e:
            self.assertEqual(e.response["Error"]["Code"], "AccessDenied")
        else:
            self.assertEqual([e["Code"] for e in got["Errors"]], ["AccessDenied"])
        self.assertEqual(await self.body("k", self.version_id), b"governed")
        got = await self.call("delete_objects", Bucket=LOCKED, Delete=entries,
                              BypassGovernanceRetention=True)
        self.assertEqual([(d["Key"], d["VersionId"]) for d in got["Deleted"]],
                         [("k", self.version_id)])
        await self.assertError(404, "NoSuchVersion", "get_object", Bucket=LOCKED, Key="k",
                               VersionId=self.version_id)

    async def test_changing_retention(self):
        shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": later(days=1)}
        await self.assertError(403, "AccessDenied", "put_object_retention", Bucket=LOCKED,
                               Key="k", VersionId=self.version_id, Retention=shorter)
        await self.assertError(403, "AccessDenied", "put_object_retention", self.writer,
                               Bucket=LOCKED, Key="k", VersionId=self.version_id,
                               Retention=shorter, BypassGovernanceRetention=True)
        self.assertEqual(await self.retention("k", self.version_id),
                         ("GOVERNANCE", self.until))
        # Anyone who may write may lengthen it.
        longer = later(days=3)
        await self.call("put_object_retention", self.writer, Bucket=LOCKED, Key="k",
                        VersionId=self.version_id,
                        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": longer})
        self.assertEqual(await self.retention("k", self.version_id), ("GOVERNANCE", longer))
        # The owner shortens it with a bypass.
        await self.call("put_object_retention", Bucket=LOCKED, Key="k",
                        VersionId=self.version_id, Retention=shorter,
                        BypassGovernanceRetention=True)
        self.assertEqual(await self.retention("k", self.version_id),
                         ("GOVERNANCE", shorter["RetainUntilDate"]))
        # GOVERNANCE to COMPLIANCE makes it stronger: allowed.
        await self.call("put_object_retention", Bucket=LOCKED, Key="k",
                        VersionId=self.version_id,
                        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer})
        self.assertEqual(await self.retention("k", self.version_id), ("COMPLIANCE", longer))
        await self.assertError(403, "AccessDenied", "delete_object", Bucket=LOCKED, Key="k",
                               VersionId=self.version_id, BypassGovernanceRetention=True)

    async def test_removing_governance_retention(self):
        await self.assertError(403, "AccessDenied", "put_object_retention", Bucket=LOCKED,
                               Key="k", VersionId=self.version_id, Retention={})
        await self.call("put_object_retention", Bucket=LOCKED, Key="k",
                        VersionId=self.version_id, Retention={},
                        BypassGovernanceRetention=True)
        await self.assertError(404, "NoSuchObjectLockConfiguration", "get_object_retention",
                               Bucket=LOCKED, Key="k", VersionId=self.version_id)
        await self.call("delete_object", self.writer, Bucket=LOCKED, Key="k",
                        VersionId=self.version_id)
        await self.assertError(404, "NoSuchVersion", "get_object", Bucket=LOCKED, Key="k",
                               VersionId=self.version_id)


class ComplianceTests(_LockedBucket, TestCase):

    async def setUp(self):
        await super().setUp()
        self.until = later(days=2)
        self.version_id = await self.put("k", b"complied", ObjectLockMode="COMPLIANCE",
                                         ObjectLockRetainUntilDate=self.until)

    async def test_nobody_deletes_or_shortens(self):
        for bypass in (False, True):
            await self.assertError(403, "AccessDenied", "delete_object", Bucket=LOCKED,
                                   Key="k", VersionId=self.version_id,
                                   BypassGovernanceRetention=bypass)
            await self.assertError(403, "AccessDenied", "put_object_retention",
                                   Bucket=LOCKED, Key="k", VersionId=self.version_id,
                                   BypassGovernanceRetention=bypass,
                                   Retention={"Mode": "COMPLIANCE",
                                              "RetainUntilDate": later(days=1)})
            await self.assertError(403, "AccessDenied", "put_object_retention",
                                   Bucket=LOCKED, Key="k", VersionId=self.version_id,
                                   BypassGovernanceRetention=bypass,
                                   Retention={"Mode": "GOVERNANCE",
                                              "RetainUntilDate": self.until})
            await self.assertError(403, "AccessDenied", "put_object_retention",
                                   Bucket=LOCKED, Key="k", VersionId=self.version_id,
                                   BypassGovernanceRetention=bypass, Retention={})
            got = await self.call("delete_objects", Bucket=LOCKED,
                                  BypassGovernanceRetention=bypass,
                                  Delete={"Objects": [{"Key": "k",
                                                       "VersionId": self.version_id}]})
            self.assertEqual([e["Code"] for e in got["Errors"]], ["AccessDenied"])
        self.assertEqual(await self.retention("k", self.version_id),
                         ("COMPLIANCE", self.until))
        self.assertEqual(await self.body("k", self.version_id), b"complied")
        # Lengthening is allowed.
        longer = later(days=30)
        await self.call("put_object_retention", Bucket=LOCKED, Key="k",
                        VersionId=self.version_id,
                        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer})
        self.assertEqual(await self.retention("k", self.version_id), ("COMPLIANCE", longer))

    async def test_legal_hold_blocks_deletion_until_off(self):
        version_id = await self.put("held", b"held", ObjectLockLegalHoldStatus="ON")
        for bypass in (False, True):
            await self.assertError(403, "AccessDenied", "delete_object", Bucket=LOCKED,
                                   Key="held", VersionId=version_id,
                                   BypassGovernanceRetention=bypass)
        self.assertEqual(await self.body("held", version_id), b"held")
        await self.call("put_object_legal_hold", Bucket=LOCKED, Key="held",
                        VersionId=version_id, LegalHold={"Status": "OFF"})
        await self.call("delete_object", Bucket=LOCKED, Key="held", VersionId=version_id)
        await self.assertError(404, "NoSuchVersion", "get_object", Bucket=LOCKED,
                               Key="held", VersionId=version_id)
        # A hold put on later protects the same way.
        version_id = await self.put("later", b"later")
        await self.call("put_object_legal_hold", Bucket=LOCKED, Key="later",
                        VersionId=version_id, LegalHold={"Status": "ON"})
        await self.assertError(403, "AccessDenied", "delete_object", Bucket=LOCKED,
                               Key="later", VersionId=version_id)
        self.assertEqual(await self.body("later", version_id), b"later")

    async def test_delete_without_version_writes_a_marker(self):
        deleted = await self.call("delete_object", Bucket=LOCKED, Key="k")
        self.assertTrue(deleted["DeleteMarker"])
        self.assertNotEqual(deleted["VersionId"], self.version_id)
        await self.assertError(404, "NoSuchKey", "get_object", Bucket=LOCKED, Key="k")
        self.assertEqual(await self.body("k", self.version_id), b"complied")
        listed = await self.call("list_object_versions", Bucket=LOCKED)
        self.assertEqual([v["VersionId"] for v in listed["Versions"]], [self.version_id])
        self.assertEqual([m["VersionId"] for m in listed["DeleteMarkers"]],
                         [deleted["VersionId"]])
        # The marker is no locked version: deleting it by id brings the key back.
        await self.call("delete_object", Bucket=LOCKED, Key="k",
                        VersionId=deleted["VersionId"])
        self.assertEqual(await self.body("k"), b"complied")


class BrowserPostTests(_LockedBucket, TestCase):
    """A browser POST carries Object Lock in its form fields, as AWS: the
    version it makes is locked; on a bucket without Object Lock the form is
    refused and nothing is stored."""

    async def post(self, bucket: str, key: str, fields: dict):
        post = await self.call("generate_presigned_post", Bucket=bucket, Key=key,
                               Fields=fields, Conditions=[{k: v} for k, v in fields.items()],
                               ExpiresIn=300)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        response = await treq.post(post["url"], data=list(post["fields"].items()),
                                   files={"file": ("f", "text/plain", b"posted")}, pool=pool)
        return response.code, await treq.content(response), response.headers

    async def test_post_with_lock_fields(self):
        until = (datetime.now(timezone.utc) + timedelta(days=2)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        fields = {"x-amz-object-lock-mode": "COMPLIANCE",
                  "x-amz-object-lock-retain-until-date": until,
                  "x-amz-object-lock-legal-hold": "ON"}
        code, _, headers = await self.post(LOCKED, "posted", fields)
        self.assertEqual(code, 204)
        version_id = headers.getRawHeaders(b"x-amz-version-id")[0].decode()
        head = await self.call("head_object", Bucket=LOCKED, Key="posted",
                               VersionId=version_id)
        self.assertEqual((head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]),
                         ("COMPLIANCE", "ON"))
        await self.assertError(403, "AccessDenied", "delete_object", Bucket=LOCKED,
                               Key="posted", VersionId=version_id)
        code, content, _ = await self.post(PLAIN, "posted", fields)
        self.assertEqual(code, 400, content)
        self.assertIn(b"<Code>InvalidRequest</Code>", content)
        await self.assertError(404, "404", "head_object", Bucket=PLAIN, Key="posted")
