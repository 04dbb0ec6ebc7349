"""ListMultipartUploads against a real node: order, markers, paging, delimiter,
URL encoding; through boto3, raw signed HTTP and aws-cli's paginator."""

import json
import os
import sys
import xml.etree.ElementTree as ET

from botocore.exceptions import ConnectionClosedError
from twisted.internet import defer
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.support.node import in_thread
from tests.support.raw_s3 import NS, start_node_with_signed_http, xml_text

BUCKET = "uploads"


class UploadListingTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3, self.http = await start_node_with_signed_http(
            self, BUCKET)

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), Bucket=BUCKET, **kwargs)

    async def create(self, *keys) -> list:
        """Start an upload on each key, one after the other: ``[(key, id)]``."""
        created = []
        for key in keys:
            answer = await self.call("create_multipart_upload", Key=key)
            created.append((key, answer["UploadId"]))
        return created

    async def page_through(self, page_size, **kwargs) -> tuple:
        """Every page of a listing by ``page_size``, following the markers.

        :returns: ``(uploads as (key, id), common prefixes, page count)``.
        """
        uploads, prefixes, pages = [], [], 0
        markers = {}
        while True:
            page = await self.call("list_multipart_uploads", MaxUploads=page_size,
                                   **kwargs, **markers)
            pages += 1
            listed = [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
            common = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            self.assertLessEqual(len(listed) + len(common), page_size)
            uploads += listed
            prefixes += common
            if not page["IsTruncated"]:
                return uploads, prefixes, pages
            self.assertLess(pages, 100, "paging does not end")
            markers = {"KeyMarker": page["NextKeyMarker"]}
            if "NextUploadIdMarker" in page:
                markers["UploadIdMarker"] = page["NextUploadIdMarker"]

    async def test_paged_one_at_a_time_lists_all_four(self):
        """Four uploads, three of them on one key, paged one at a time: each
        page names the upload it ends on and the four come out once each, by
        key then initiation."""
        created = await self.create("same", "other", "same", "same")
        expected = [created[1]] + [created[0], created[2], created[3]]
        uploads, prefixes, pages = await self.page_through(1)
        self.assertEqual(uploads, expected)
        self.assertEqual((prefixes, pages), ([], 4))
        first = await self.call("list_multipart_uploads", MaxUploads=1)
        self.assertTrue(first["IsTruncated"])
        self.assertEqual((first["NextKeyMarker"], first["NextUploadIdMarker"]),
                         expected[0])
        for size in (2, 3, 1000):
            self.assertEqual((await self.page_through(size))[0], expected, size)

    async def test_sorted_by_key_then_initiation(self):
        """Uploads started in any key order list by key, and on one key in the
        order they were started (not by their random ids), on one page or
        across pages."""
        created = await self.create("b", "a", "b", "a", "b", "a", "b")
        expected = [c for c in created if c[0] == "a"] + [c for c in created if c[0] == "b"]
        listed = await self.call("list_multipart_uploads")
        self.assertEqual([(u["Key"], u["UploadId"]) for u in listed["Uploads"]], expected)
        self.assertFalse(listed["IsTruncated"])
        self.assertNotIn("NextKeyMarker", listed)
        for size in (2, 4):
            self.assertEqual((await self.page_through(size))[0], expected, size)

    async def test_markers(self):
        """key-marker alone skips every upload of that key; with an
        upload-id-marker, the key's uploads after that one are listed;
        upload-id-marker without key-marker is ignored (as AWS)."""
        created = await self.create("k", "k", "k", "l")
        k1, k2, k3, l1 = created

        async def listed(**markers):
            page = await self.call("list_multipart_uploads", **markers)
            return [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        self.assertEqual(await listed(KeyMarker="k"), [l1])
        self.assertEqual(await listed(KeyMarker="j"), created)
        self.assertEqual(await listed(KeyMarker="k", UploadIdMarker=k1[1]), [k2, k3, l1])
        self.assertEqual(await listed(KeyMarker="k", UploadIdMarker=k2[1]), [k3, l1])
        self.assertEqual(await listed(KeyMarker="k", UploadIdMarker=k3[1]), [l1])
        self.assertEqual(await listed(UploadIdMarker=k2[1]), created)
        page = await self.call("list_multipart_uploads", KeyMarker="k",
                               UploadIdMarker=k2[1])
        self.assertEqual((page["KeyMarker"], page["UploadIdMarker"]), ("k", k2[1]))

    async def test_marker_upload_gone_between_pages(self):
        """A page ending on an upload that is then aborted or completed
        resumes with the next uploads of its key, losing none."""
        k1, k2, k3 = await self.create("k", "k", "k")
        page = await self.call("list_multipart_uploads", MaxUploads=1)
        self.assertEqual(page["NextUploadIdMarker"], k1[1])
        await self.call("abort_multipart_upload", Key="k", UploadId=k1[1])
        markers = {"KeyMarker": "k", "UploadIdMarker": page["NextUploadIdMarker"]}
        rest = await self.call("list_multipart_uploads", **markers)
        self.assertEqual([u["UploadId"] for u in rest["Uploads"]], [k2[1], k3[1]])
        # Completing the next one keeps the newer upload listed after it.
        part = await self.call("upload_part", Key="k", UploadId=k2[1], PartNumber=1,
                               Body=b"x")
        await self.call("complete_multipart_upload", Key="k", UploadId=k2[1],
                        MultipartUpload={"Parts": [{"PartNumber": 1,
                                                    "ETag": part["ETag"]}]})
        rest = await self.call("list_multipart_uploads", KeyMarker="k",
                               UploadIdMarker=k2[1])
        self.assertEqual([u["UploadId"] for u in rest["Uploads"]], [k3[1]])

    async def test_marker_upload_completed_above_an_older_pending_one(self):
        """A page ends on the second of three uploads of a key, which then
        completes: the first stays pending below the object (a completed
        write does not drop a pending upload) and is not listed again; the
        third is."""
        k1, k2, k3 = await self.create("k", "k", "k")
        page = await self.call("list_multipart_uploads", MaxUploads=2)
        self.assertEqual(page["NextUploadIdMarker"], k2[1])
        part = await self.call("upload_part", Key="k", UploadId=k2[1], PartNumber=1,
                               Body=b"x")
        await self.call("complete_multipart_upload", Key="k", UploadId=k2[1],
                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        rest = await self.call("list_multipart_uploads", KeyMarker="k", UploadIdMarker=k2[1])
        self.assertEqual([u["UploadId"] for u in rest["Uploads"]], [k3[1]])
        everything = await self.call("list_multipart_uploads")
        self.assertEqual([u["UploadId"] for u in everything["Uploads"]], [k1[1], k3[1]])

    async def test_delimiter_common_prefixes(self):
        """A delimiter folds the uploads of keys under a common prefix into
        CommonPrefixes, paged like uploads, each prefix once."""
        created = await self.create("dir/a", "dir/b", "dir/sub/c", "top", "zed/x", "zed/y")
        listed = await self.call("list_multipart_uploads", Delimiter="/")
        self.assertEqual([(u["Key"], u["UploadId"]) for u in listed["Uploads"]],
                         [created[3]])
        self.assertEqual([p["Prefix"] for p in listed["CommonPrefixes"]], ["dir/", "zed/"])
        self.assertEqual(listed["Delimiter"], "/")
        under = await self.call("list_multipart_uploads", Delimiter="/", Prefix="dir/")
        self.assertEqual([(u["Key"], u["UploadId"]) for u in under["Uploads"]],
                         created[:2])
        self.assertEqual([p["Prefix"] for p in under["CommonPrefixes"]], ["dir/sub/"])
        first = await self.call("list_multipart_uploads", Delimiter="/", MaxUploads=1)
        self.assertEqual((first["NextKeyMarker"], first.get("NextUploadIdMarker")),
                         ("dir/", None))
        for size in (1, 2):
            uploads, prefixes, _ = await self.page_through(size, Delimiter="/")
            self.assertEqual((uploads, prefixes), ([created[3]], ["dir/", "zed/"]), size)
        uploads, prefixes, _ = await self.page_through(1, Delimiter="/", Prefix="dir/")
        self.assertEqual((uploads, prefixes), (created[:2], ["dir/sub/"]))

    async def raw_listing(self, **params):
        code, body = await self.http.get(f"/{BUCKET}", {"uploads": "", **params})
        self.assertEqual(code, 200, body)
        return body, ET.fromstring(body)

    async def test_encoding_type_url(self):
        """With encoding-type=url the keys, prefixes, delimiter and key
        markers are URL-encoded; without it, they are as stored, XML-escaped."""
        key = "a b/é&<\n\r+x"
        (_, upload_id), = await self.create(key)
        body, root = await self.raw_listing(**{
            "encoding-type": "url", "prefix": "a b", "key-marker": "a",
            "max-uploads": "1"})
        self.assertEqual(xml_text(root, "EncodingType"), "url")
        self.assertEqual(xml_text(root, "Prefix"), "a%20b")
        self.assertEqual(xml_text(root, "KeyMarker"), "a")
        upload = root.find(NS + "Upload")
        self.assertEqual(xml_text(upload, "Key"), "a%20b/%C3%A9%26%3C%0A%0D%2Bx")
        self.assertEqual(xml_text(upload, "UploadId"), upload_id)
        self.assertEqual(xml_text(root, "IsTruncated"), "false")
        body, root = await self.raw_listing(**{
            "encoding-type": "url", "delimiter": "/", "key-marker": "a\n", "max-uploads": "1"})
        self.assertEqual(xml_text(root, "Delimiter"), "/")
        self.assertEqual(xml_text(root, "KeyMarker"), "a%0A")
        self.assertEqual(xml_text(root.find(NS + "CommonPrefixes"), "Prefix"), "a%20b/")
        body, root = await self.raw_listing(prefix="a b/é&<\n\r", delimiter="\r",
                                            **{"key-marker": "a\n"})
        self.assertEqual(xml_text(root.find(NS + "Upload"), "Key"), key)
        self.assertEqual(xml_text(root, "Prefix"), "a b/é&<\n\r")
        self.assertEqual(xml_text(root, "Delimiter"), "\r")
        self.assertEqual(xml_text(root, "KeyMarker"), "a\n")
        self.assertIsNone(root.find(NS + "EncodingType"))

    async def test_page_size_and_next_markers(self):
        """max-uploads defaults to 1000 and is capped at 1000; a truncated
        page's NextKeyMarker and NextUploadIdMarker are its last upload (raw
        XML), and IsTruncated says so; the next page starts right after it."""
        created = await self.create("p", "p", "q")
        for params, shown in (({}, "1000"), ({"max-uploads": "5000"}, "1000")):
            _, root = await self.raw_listing(**params)
            self.assertEqual(xml_text(root, "MaxUploads"), shown)
            self.assertEqual(len(root.findall(NS + "Upload")), 3)
        _, root = await self.raw_listing(**{"max-uploads": "1"})
        self.assertEqual(xml_text(root, "IsTruncated"), "true")
        self.assertEqual((xml_text(root, "NextKeyMarker"), xml_text(root, "NextUploadIdMarker")),
                         created[0])
        _, root = await self.raw_listing(**{"max-uploads": "1", "key-marker": "p",
                                            "upload-id-marker": created[0][1]})
        self.assertEqual(xml_text(root, "IsTruncated"), "true")
        self.assertEqual([xml_text(u, "UploadId") for u in root.findall(NS + "Upload")],
                         [created[1][1]])
        self.assertEqual((xml_text(root, "KeyMarker"), xml_text(root, "UploadIdMarker")),
                         created[0])
        _, root = await self.raw_listing(**{"max-uploads": "2", "key-marker": "p",
                                            "upload-id-marker": created[1][1]})
        self.assertEqual(xml_text(root, "IsTruncated"), "false")
        self.assertIsNone(root.find(NS + "NextKeyMarker"))
        self.assertEqual([xml_text(u, "UploadId") for u in root.findall(NS + "Upload")],
                         [created[2][1]])

    async def aws(self, *args) -> bytes:
        """Run aws-cli (from the venv) against the node; its stdout."""
        aws = os.path.join(os.path.dirname(sys.executable), "aws")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.key.key_id,
                   AWS_SECRET_ACCESS_KEY=self.key.params.secret_key,
                   AWS_DEFAULT_REGION="garage", AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        out, err, code = await getProcessOutputAndValue(
            aws, ("--endpoint-url", self.fixture.endpoint, *args), env=env)
        self.assertEqual(code, 0, err)
        return out

    async def test_aws_cli_paginator_over_a_thousand_uploads(self):
        """aws-cli's list-multipart-uploads paginator, by pages of 7 and of
        100, returns each of 1,000 pending uploads over 10 keys once, by key
        then initiation."""
        keys = [f"key-{n}" for n in range(10)]

        def create_many(key):
            created = []
            while len(created) < 100:
                try:
                    answer = self.s3.create_multipart_upload(Bucket=BUCKET, Key=key)
                except ConnectionClosedError:
                    # Seen under this concurrency (about 1 request in 150
                    # dropped without an answer; see the report of issue 23):
                    # retried, and the truth below is read from the table.
                    continue
                created.append((key, answer["UploadId"]))
            return created
        # Ten clients at once: one at a time takes half a minute.
        batches = await defer.gatherResults([in_thread(create_many, k) for k in keys])
        created = {u for batch in batches for u in batch}
        self.assertEqual(len(created), 1000)
        # Every upload pending, read from the object table itself (a dropped
        # request may have created one nobody was told of).
        table = self.fixture.node.model.object_table
        bucket_id = await self.fixture.node.helper.resolve_global_alias(BUCKET)
        pending = set()
        for key in keys:
            obj = await table.get(bucket_id, key.encode())
            pending |= {(key, v.uuid.hex()) for v in obj.versions
                        if v.is_uploading and v.multipart}
        self.assertLessEqual(created, pending)
        for page_size in ("7", "100"):
            reads = table.request_counts["get_range"]
            out = await self.aws("s3api", "list-multipart-uploads", "--bucket", BUCKET,
                                 "--page-size", page_size)
            uploads = json.loads(out)["Uploads"]
            listed = [(u["Key"], u["UploadId"]) for u in uploads]
            self.assertEqual(len(listed), len(pending), page_size)
            self.assertEqual(set(listed), pending, page_size)
            order = [(u["Key"], u["Initiated"]) for u in uploads]
            self.assertEqual(order, sorted(order), page_size)
            # One listing request (at least one read) per page: it did page.
            self.assertGreaterEqual(table.request_counts["get_range"] - reads,
                                    1000 // int(page_size))
