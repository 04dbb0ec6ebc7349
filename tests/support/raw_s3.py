"""Signed S3 requests with any query values, to read a response's exact bytes.

boto3 decodes what it asked to be URL-encoded and hides how elements were
written; tests that check the XML itself send requests through this. Query
values are given decoded (control characters, ``&``, ``=`` included) and
are percent-encoded once, the same way on the wire and in the signature.
"""

import hashlib
import hmac
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

import treq

from tests.support import signer


# The S3 XML namespace, as ElementTree names its elements.
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def xml_text(root, name: str):
    """The text of ``root``'s child element ``name`` ("" if empty), or
    ``None`` when there is none."""
    node = root.find(NS + name)
    return None if node is None else (node.text or "")


async def start_node_with_signed_http(testcase, bucket: str):
    """A node, a key, its boto3 client and a :class:`SignedHttp` for it, with
    ``bucket`` created: ``(fixture, key, s3, http)``."""
    from twisted.internet import reactor
    from twisted.web.client import HTTPConnectionPool

    from tests.support.node import start_with_s3_client

    fixture, key, s3 = await start_with_s3_client(testcase, 64 * 1024, bucket=bucket)
    pool = HTTPConnectionPool(reactor, persistent=False)
    testcase.addCleanup(pool.closeCachedConnections)
    return fixture, key, s3, SignedHttp(fixture.endpoint, key, pool)


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


class SignedHttp:
    """Header-signed requests to ``endpoint`` as ``key`` (a model key).

    :param pool: a twisted.web HTTPConnectionPool the caller cleans up.
    """

    def __init__(self, endpoint: str, key, pool, region: str = "garage"):
        self.endpoint = endpoint
        self.key = key
        self.pool = pool
        self.region = region

    def _headers(self, method: str, path: str, query: str) -> dict:
        when = datetime.now(timezone.utc)
        amz_date = when.strftime("%Y%m%dT%H%M%SZ")
        headers = {"host": urlsplit(self.endpoint).netloc, "x-amz-date": amz_date,
                   "x-amz-content-sha256": signer.EMPTY}
        signed = sorted(headers)
        canonical = "\n".join([
            method, path, query, "".join(f"{h}:{headers[h]}\n" for h in signed),
            ";".join(signed), signer.EMPTY])
        scope = f"{amz_date[:8]}/{self.region}/s3/aws4_request"
        to_sign = (f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
                   f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        key = signer.signing_key(self.key.params.secret_key, amz_date[:8], self.region)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.key.key_id}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={signature}")
        return headers

    async def get(self, path: str, params: dict) -> tuple:
        """GET ``path`` (already URI-encoded) with decoded query ``params``.

        :returns: a Deferred firing with ``(status, body bytes)``.
        """
        query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()))
        headers = self._headers("GET", path, query)
        response = await treq.get(f"{self.endpoint}{path}?{query}", headers=headers,
                                  pool=self.pool)
        return response.code, await treq.content(response)
