"""GetBlockInfo and PurgeBlocks on a real node, with data written through S3."""

import json
import os
import secrets


from garage_twisted.api.admin import errors
from garage_twisted.api.admin.blocks import get_block_info, purge_blocks
from garage_twisted.model.block_ref import BlockRef
from garage_twisted.model.object import STATE_ABORTED, STATE_UPLOADING, Object, ObjectVersion
from garage_twisted.model.version import Version, VersionBlock
from garage_twisted.util.crdt import Bool
from tests.integration.test_s3_boto3 import _Boto3Calls
from tests.support.node import in_thread, start_with_s3_client

BLOCK = 64 * 1024
BUCKET = "blocks"


class AdminBlocksTests(_Boto3Calls):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, BLOCK, BUCKET)
        self.api = self.fixture.node.admin_api
        self.model = self.fixture.node.model
        self.bucket_id = await self.fixture.node.helper.resolve_bucket(BUCKET, self.key)
        # Block "shared" starts both the object and the upload's part.
        self.shared = os.urandom(BLOCK)
        self.own = os.urandom(BLOCK)
        await self.call("put_object", Bucket=BUCKET, Key="big",
                        Body=self.shared + self.own + os.urandom(20000))
        created = await self.call("create_multipart_upload", Bucket=BUCKET, Key="up")
        self.upload_id = created["UploadId"]
        await self.call("upload_part", Bucket=BUCKET, Key="up", UploadId=self.upload_id,
                        PartNumber=1, Body=self.shared + os.urandom(10000))

    async def assertBadRequest(self, function, body):
        try:
            await function(self.api, body)
        except errors.BadRequest:
            return
        self.fail(f"{function.__name__}({body!r}) did not raise BadRequest")

    async def object_blocks(self, key: str) -> tuple:
        """``(version uuid, [block hashes])`` of the object's current version."""
        obj = await self.model.object_table.get(self.bucket_id, key.encode())
        uuid = obj.last_data_version().uuid
        version = await self.model.version_table.get(uuid, b"")
        return uuid, [block.hash for _, block in version.sorted_blocks()]

    async def part_version(self) -> bytes:
        mpu = await self.model.mpu_table.get(bytes.fromhex(self.upload_id), b"")
        # One part: its announcement and its finished attempt (recorded at
        # its finish time, issue 23 item 8) name the same version.
        ((_, part),) = mpu.latest_parts().values()
        return part.version

    async def test_info_backlinks(self):
        """A block shared by an object and an upload's part names both, with
        Garage's field names, and JSON-encodes as it is."""
        object_version, hashes = await self.object_blocks("big")
        self.assertEqual(len(hashes), 3)
        shared = hashes[0]
        info = await get_block_info(self.api, {"blockHash": shared.hex()})
        self.assertEqual(json.loads(json.dumps(info)), info)
        self.assertEqual((info["blockHash"], info["refcount"]), (shared.hex(), 2))
        by_version = {v["versionId"]: v for v in info["versions"]}
        bucket = self.bucket_id.hex()
        self.assertEqual(by_version[object_version.hex()], {
            "versionId": object_version.hex(), "refDeleted": False, "versionDeleted": False,
            "garbageCollected": False,
            "backlink": {"object": {"bucketId": bucket, "key": "big"}}})
        part = (await self.part_version()).hex()
        self.assertEqual(by_version[part], {
            "versionId": part, "refDeleted": False, "versionDeleted": False,
            "garbageCollected": False,
            "backlink": {"upload": {"uploadId": self.upload_id, "uploadDeleted": False,
                                    "uploadGarbageCollected": False, "bucketId": bucket,
                                    "key": "up"}}})
        self.assertEqual(len(by_version), 2)
        # A prefix (even or odd length, any case) finds the same block.
        for prefix in (shared.hex()[:8], shared.hex()[:7].upper()):
            again = await get_block_info(self.api, {"blockHash": prefix})
            self.assertEqual(again["blockHash"], shared.hex())

    async def test_info_version_collected(self):
        """A reference whose version is gone shows as garbage collected, with
        no backlink."""
        _, hashes = await self.object_blocks("big")
        lost = secrets.token_bytes(32)
        await self.model.block_ref_table.insert(BlockRef(hashes[1], lost, Bool(False)))
        info = await get_block_info(self.api, {"blockHash": hashes[1].hex()})
        (entry,) = [v for v in info["versions"] if v["versionId"] == lost.hex()]
        self.assertEqual(entry, {"versionId": lost.hex(), "refDeleted": False,
                                 "versionDeleted": True, "garbageCollected": True,
                                 "backlink": None})
        self.assertEqual(info["refcount"], 2)
        result = await purge_blocks(self.api, [hashes[1].hex()])
        self.assertEqual(result, {"blocksPurged": 1, "objectsDeleted": 1, "uploadsDeleted": 0,
                                  "versionsDeleted": 1, "blockRefsPurged": 2,
                                  "versionsLocked": 0})
        self.assertEqual(self.model.block_manager.refcount(hashes[1]), 0)

    async def test_purge_shared_block(self):
        """Purging a block deletes the object and the upload using it,
        their versions and references; the block's count drops to zero."""
        object_version, hashes = await self.object_blocks("big")
        part = await self.part_version()
        shared = hashes[0]
        result = await purge_blocks(self.api, [shared.hex()])
        self.assertEqual(json.loads(json.dumps(result)), result)
        self.assertEqual(result, {"blocksPurged": 1, "objectsDeleted": 1, "uploadsDeleted": 1,
                                  "versionsDeleted": 2, "blockRefsPurged": 2,
                                  "versionsLocked": 0})
        self.assertEqual(self.model.block_manager.refcount(shared), 0)
        await self.assertS3Error("NoSuchKey", "get_object", Bucket=BUCKET, Key="big")
        listed = await self.call("list_objects_v2", Bucket=BUCKET)
        self.assertEqual(listed.get("Contents", []), [])
        uploads = await self.call("list_multipart_uploads", Bucket=BUCKET)
        self.assertEqual(uploads.get("Uploads", []), [])
        await self.assertS3Error("NoSuchUpload", "list_parts", Bucket=BUCKET, Key="up",
                                 UploadId=self.upload_id)
        info = await get_block_info(self.api, {"blockHash": shared.hex()})
        self.assertEqual(info["refcount"], 0)
        self.assertEqual(
            sorted((v["versionId"], v["refDeleted"], v["versionDeleted"])
                   for v in info["versions"]),
            sorted([(object_version.hex(), True, True), (part.hex(), True, True)]))
        # Done already: a second purge finds nothing left to delete.
        again = await purge_blocks(self.api, [shared.hex()])
        self.assertEqual(again, {"blocksPurged": 1, "objectsDeleted": 0, "uploadsDeleted": 0,
                                 "versionsDeleted": 0, "blockRefsPurged": 0,
                                 "versionsLocked": 0})

    async def test_purge_object_block_keeps_upload(self):
        """A block only the object uses takes the object away and leaves the
        upload running."""
        _, hashes = await self.object_blocks("big")
        result = await purge_blocks(self.api, [hashes[1].hex()])
        self.assertEqual(result, {"blocksPurged": 1, "objectsDeleted": 1, "uploadsDeleted": 0,
                                  "versionsDeleted": 1, "blockRefsPurged": 1,
                                  "versionsLocked": 0})
        await self.assertS3Error("NoSuchKey", "get_object", Bucket=BUCKET, Key="big")
        uploads = await self.call("list_multipart_uploads", Bucket=BUCKET)
        self.assertEqual([u["UploadId"] for u in uploads["Uploads"]], [self.upload_id])
        await self.call("upload_part", Bucket=BUCKET, Key="up", UploadId=self.upload_id,
                        PartNumber=2, Body=b"more")

    async def test_purge_unfinished_put(self):
        """A version still being written (a PutObject in flight) is aborted,
        so its completion can no longer publish lost data."""
        _, hashes = await self.object_blocks("big")
        uuid = secrets.token_bytes(32)
        uploading = ObjectVersion(uuid, 2 ** 62, STATE_UPLOADING)
        await self.model.object_table.insert(Object(self.bucket_id, "big", (uploading,)))
        await self.model.version_table.insert(
            Version.new(uuid, self.bucket_id, "big").with_block(0, 0, VersionBlock(hashes[2], 1)))
        await self.model.block_ref_table.insert(BlockRef(hashes[2], uuid, Bool(False)))
        result = await purge_blocks(self.api, [hashes[2].hex()])
        # The current object version and the unfinished one.
        self.assertEqual(result, {"blocksPurged": 1, "objectsDeleted": 2, "uploadsDeleted": 0,
                                  "versionsDeleted": 2, "blockRefsPurged": 2,
                                  "versionsLocked": 0})
        obj = await self.model.object_table.get(self.bucket_id, b"big")
        self.assertEqual([v.state for v in obj.versions if v.uuid == uuid], [STATE_ABORTED])
        self.assertIsNone(obj.last_data_version())

    async def test_unknown_block(self):
        """A hash or prefix no local reference has is NoSuchBlock (404)."""
        known = {key[:32].hex()[:5] for key, _ in self.model.block_ref_table.data.rows.range()}
        unknown = next(b for b in (bytes(32), b"\xff" * 32, b"\x77" * 32)
                       if b.hex()[:5] not in known)
        for prefix in (unknown.hex(), unknown.hex()[:5]):
            with self.assertRaises(errors.NoSuchBlock):
                await get_block_info(self.api, {"blockHash": prefix})

    async def test_ambiguous_prefix(self):
        """A prefix matching several blocks is BadRequest; a longer one finds
        the block, deleted references included (as Garage)."""
        first = b"\xab\xcd\x10" + secrets.token_bytes(29)
        second = b"\xab\xcd\x20" + secrets.token_bytes(29)
        # Deleted references: rows that take no count and fetch nothing.
        await self.model.block_ref_table.insert_many(
            [BlockRef(h, secrets.token_bytes(32), Bool(True)) for h in (first, second)])
        for prefix in ("abcd", "ABCD"):
            with self.assertRaises(errors.BadRequest):
                await get_block_info(self.api, {"blockHash": prefix})
        info = await get_block_info(self.api, {"blockHash": "abcd1"})
        self.assertEqual((info["blockHash"], info["refcount"]), (first.hex(), 0))
        self.assertEqual([v["refDeleted"] for v in info["versions"]], [True])

    async def test_bad_requests(self):
        """Malformed hashes and bodies are BadRequest, and nothing is purged
        when one hash of the list is bad."""
        _, hashes = await self.object_blocks("big")
        for body in ({}, [], {"blockHash": 7}, {"blockHash": "abc"},
                     {"blockHash": "zz" * 32}, {"blockHash": "ab" * 33}):
            await self.assertBadRequest(get_block_info, body)
        for body in ({"blockHashes": []}, ["xyz"], ["ab" * 16], [hashes[0].hex(), "nothex"],
                     [None]):
            await self.assertBadRequest(purge_blocks, body)
        self.assertEqual(self.model.block_manager.refcount(hashes[0]), 2)
        empty = await purge_blocks(self.api, [])
        self.assertEqual(set(empty.values()), {0})


class PurgeUnderObjectLockTests(_Boto3Calls):
    """PurgeBlocks is no way around Object Lock: a locked version keeps its
    rows and references; in a versioned bucket an unlocked version whose
    block is purged is deleted for good (not hidden behind a marker, which
    would leave it listed without its data)."""

    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, BLOCK)
        self.api = self.fixture.node.admin_api
        self.model = self.fixture.node.model
        await self.call("create_bucket", Bucket="locked", ObjectLockEnabledForBucket=True)
        self.bucket_id = await self.fixture.node.helper.resolve_bucket("locked", self.key)

    async def _blocks(self, version_id: str) -> list:
        version = await self.model.version_table.get(bytes.fromhex(version_id), b"")
        return [block.hash.hex() for _, block in version.sorted_blocks()]

    async def test_locked_version_kept_unlocked_one_deleted(self):
        body = os.urandom(2 * BLOCK)
        locked = await self.call("put_object", Bucket="locked", Key="k", Body=body,
                                 ObjectLockMode="COMPLIANCE",
                                 ObjectLockRetainUntilDate="2099-01-01T00:00:00Z")
        plain = await self.call("put_object", Bucket="locked", Key="k",
                                Body=os.urandom(2 * BLOCK))
        result = await purge_blocks(self.api, await self._blocks(locked["VersionId"])
                                    + await self._blocks(plain["VersionId"]))
        self.assertEqual((result["versionsLocked"], result["objectsDeleted"]), (2, 1))
        got = await self.call("get_object", Bucket="locked", Key="k",
                              VersionId=locked["VersionId"])
        self.assertEqual(await in_thread(got["Body"].read), body)
        listed = await self.call("list_object_versions", Bucket="locked")
        self.assertEqual([v["VersionId"] for v in listed["Versions"]], [locked["VersionId"]])
