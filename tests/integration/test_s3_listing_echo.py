"""ListObjects (v1 and v2) echo Prefix, Delimiter, Marker, StartAfter and
ContinuationToken as the client sent them: XML-escaped, control characters
included, URL-encoded only with encoding-type=url (and, as AWS, never the
Prefix of a v1 listing). Through boto3 (which always asks for
encoding-type=url on these and decodes what AWS encodes) and raw signed
HTTP (the XML itself)."""

import xml.etree.ElementTree as ET

from twisted.trial.unittest import TestCase

from tests.support.node import in_thread
from tests.support.raw_s3 import NS, start_node_with_signed_http, xml_text

BUCKET = "echo"
# A newline, a carriage return (XML parsers read a raw one as a newline),
# markup, a space, a plus and non-ASCII.
AWKWARD = "\n\r&<> +é"


class ListingEchoTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3, self.http = await start_node_with_signed_http(
            self, BUCKET)
        for key in ("foo/bar", "foo/baz", "quux"):
            await in_thread(self.s3.put_object, Bucket=BUCKET, Key=key, Body=b"x")

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), Bucket=BUCKET, **kwargs)

    async def raw(self, **params):
        code, body = await self.http.get(f"/{BUCKET}", params)
        self.assertEqual(code, 200, body)
        return body, ET.fromstring(body)

    async def test_boto3_unreadable_prefix_marker_delimiter(self):
        """boto3 gets back the prefix, marker, start-after and delimiter it
        sent, a lone newline included (as the s3-tests conformance suite
        checks), in v1 and v2."""
        for value in ("\n", AWKWARD):
            v1 = await self.call("list_objects", Prefix=value)
            self.assertEqual(v1["Prefix"], value)
            self.assertNotIn("Contents", v1)
            v1 = await self.call("list_objects", Marker=value, Delimiter=value)
            self.assertEqual((v1["Marker"], v1["Delimiter"]), (value, value))
            v2 = await self.call("list_objects_v2", Prefix=value)
            self.assertEqual(v2["Prefix"], value)
            v2 = await self.call("list_objects_v2", StartAfter=value, Delimiter=value)
            self.assertEqual((v2["StartAfter"], v2["Delimiter"]), (value, value))
            self.assertEqual(v2["KeyCount"], 3)

    async def test_raw_v1_echoes_as_sent(self):
        """Without encoding-type the v1 echoes are the values, XML-escaped
        (a carriage return as a character reference); with it, Marker,
        Delimiter and NextMarker are URL-encoded and Prefix is not."""
        body, root = await self.raw(prefix=AWKWARD, marker=AWKWARD, delimiter=AWKWARD)
        self.assertIn(b"<Prefix>\n&#xD;&amp;&lt;&gt; +\xc3\xa9</Prefix>", body)
        self.assertEqual((xml_text(root, "Prefix"), xml_text(root, "Marker"),
                          xml_text(root, "Delimiter")), (AWKWARD, AWKWARD, AWKWARD))
        self.assertIsNone(root.find(NS + "EncodingType"))
        _, root = await self.raw(**{"encoding-type": "url", "prefix": AWKWARD,
                                    "marker": AWKWARD, "delimiter": AWKWARD})
        encoded = "%0A%0D%26%3C%3E%20%2B%C3%A9"
        self.assertEqual((xml_text(root, "Prefix"), xml_text(root, "Marker"),
                          xml_text(root, "Delimiter"), xml_text(root, "EncodingType")),
                         (AWKWARD, encoded, encoded, "url"))
        for key in ("a b/c", "a c/d"):
            await self.call("put_object", Key=key, Body=b"x")
        _, root = await self.raw(**{"encoding-type": "url", "prefix": "a ",
                                    "delimiter": "/", "max-keys": "1"})
        self.assertEqual((xml_text(root, "Prefix"), xml_text(root, "NextMarker")),
                         ("a ", "a%20b/"))

    async def test_raw_v2_echoes_as_sent(self):
        """Without encoding-type the v2 echoes are the values, XML-escaped;
        with it, Prefix, StartAfter and Delimiter are URL-encoded; the
        continuation token comes back exactly as sent."""
        body, root = await self.raw(**{"list-type": "2", "prefix": AWKWARD,
                                       "start-after": AWKWARD, "delimiter": AWKWARD})
        self.assertEqual((xml_text(root, "Prefix"), xml_text(root, "StartAfter"),
                          xml_text(root, "Delimiter")), (AWKWARD, AWKWARD, AWKWARD))
        _, root = await self.raw(**{"list-type": "2", "encoding-type": "url",
                                    "prefix": AWKWARD, "start-after": AWKWARD,
                                    "delimiter": AWKWARD})
        encoded = "%0A%0D%26%3C%3E%20%2B%C3%A9"
        self.assertEqual((xml_text(root, "Prefix"), xml_text(root, "StartAfter"),
                          xml_text(root, "Delimiter")), (encoded, encoded, encoded))
        _, root = await self.raw(**{"list-type": "2", "max-keys": "1"})
        token = xml_text(root, "NextContinuationToken")
        _, root = await self.raw(**{"list-type": "2", "max-keys": "1",
                                    "encoding-type": "url", "continuation-token": token})
        self.assertEqual(xml_text(root, "ContinuationToken"), token)
        self.assertEqual(xml_text(root.find(NS + "Contents"), "Key"), "foo/baz")
