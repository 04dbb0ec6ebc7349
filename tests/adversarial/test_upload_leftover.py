"""A multipart upload that is over comes back as pending: a replica missed
its abort while the others had dropped it (below a complete version there
is no tombstone, ``model/object.py``), and anti-entropy brought the
uploading state back. ListMultipartUploads must not list it (its ``mpu``
row is deleted: UploadPart and Complete refuse it) and aborts it again.

The stale replica's write is made with the table's own insert, at quorum
on three nodes, as anti-entropy would deliver it."""

import os

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from garage_twisted.model.mpu import MultipartUpload
from garage_twisted.model.object import Object, ObjectVersion, STATE_UPLOADING
from garage_twisted.util.time import now_msec
from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import in_thread

BUCKET = "leftover"


class UploadLeftoverTests(TestCase):
    timeout = 120

    async def _held_everywhere(self, nodes, row, uuid):
        """Wait until every node's own object row ``row`` lists ``uuid``."""
        def held(node):
            entry = node.model.object_table.data.read_entry(row.partition_hash(),
                                                            row.sort_key())
            return entry is not None and uuid in [v.uuid for v in entry.versions]
        deadline = reactor.seconds() + 30
        while not all(held(node) for node in nodes):
            if reactor.seconds() > deadline:
                self.fail("the leftover did not reach every replica")
            await deferLater(reactor, 0.01, lambda: None)

    async def test_listing_hides_and_aborts_an_upload_that_came_back(self):
        fixtures, nodes = await start_cluster(self)
        key = await fixtures[0].create_key()
        s3, = boto3_clients(self, fixtures[:1], key)
        await in_thread(s3.create_bucket, Bucket=BUCKET)
        live = (await in_thread(s3.create_multipart_upload, Bucket=BUCKET,
                                Key="k"))["UploadId"]
        await in_thread(s3.put_object, Bucket=BUCKET, Key="k", Body=b"object")
        bucket_id = await nodes[0].helper.resolve_global_alias(BUCKET)
        # An upload begun before the PUT, aborted since (its row deleted),
        # back as pending from a replica that missed the abort.
        gone = os.urandom(32)
        stamp = now_msec(reactor) - 5_000
        model = nodes[1].model
        await model.mpu_table.insert(MultipartUpload.new(gone, stamp, bucket_id, "k",
                                                         deleted=True))
        await model.object_table.insert(Object(bucket_id, "k", (
            ObjectVersion(gone, stamp, STATE_UPLOADING, multipart=True),)))
        entry = await model.object_table.get(bucket_id, b"k")
        self.assertIn(gone, [v.uuid for v in entry.versions])
        # The insert returned at quorum; its third copy may still be on its
        # way, and would bring the upload back on its node after the abort
        # (what the listing repairs on its next pass). The state under test
        # is the leftover on every replica: wait for it there.
        await self._held_everywhere(nodes, Object(bucket_id, "k", ()), gone)

        listed = await in_thread(s3.list_multipart_uploads, Bucket=BUCKET)
        self.assertEqual([u["UploadId"] for u in listed["Uploads"]], [live])

        async def aborted_again():
            entry = await model.object_table.get(bucket_id, b"k")
            return gone not in [v.uuid for v in entry.versions]
        # The listing starts the abort and answers without waiting for it:
        # wait for it here, in reactor time (not a number of reads, which a
        # quick answer can run through before the abort's round trip ends).
        deadline = reactor.seconds() + 30
        while not await aborted_again():
            if reactor.seconds() > deadline:
                self.fail("the leftover upload was not aborted again")
            await deferLater(reactor, 0.01, lambda: None)
        got = await in_thread(s3.get_object, Bucket=BUCKET, Key="k")
        self.assertEqual(await in_thread(got["Body"].read), b"object")

        # A leftover newer than the live upload, met on the page that
        # resumes inside the key (the key marker's own uploads), is hidden
        # too; one whose row the read does not find is hidden, not aborted.
        entry = await model.object_table.get(bucket_id, b"k")
        live_version = next(v for v in entry.versions if v.uuid.hex() == live)
        later, unknown = os.urandom(32), os.urandom(32)
        await model.mpu_table.insert(MultipartUpload.new(
            later, live_version.timestamp + 1, bucket_id, "k", deleted=True))
        await model.object_table.insert(Object(bucket_id, "k", (
            ObjectVersion(later, live_version.timestamp + 1, STATE_UPLOADING, multipart=True),
            ObjectVersion(unknown, live_version.timestamp + 2, STATE_UPLOADING,
                          multipart=True))))
        first = await in_thread(s3.list_multipart_uploads, Bucket=BUCKET, MaxUploads=1)
        self.assertEqual([u["UploadId"] for u in first["Uploads"]], [live])
        rest = await in_thread(s3.list_multipart_uploads, Bucket=BUCKET,
                               KeyMarker="k", UploadIdMarker=live)
        self.assertEqual(rest.get("Uploads", []), [])
        entry = await model.object_table.get(bucket_id, b"k")
        self.assertIn(unknown, [v.uuid for v in entry.versions if v.is_uploading])
