"""AWS Signature Version 2 verification for S3 (sans-IO, no clock reads).

Forms accepted: the ``Authorization: AWS <key id>:<signature>`` header and
presigned query parameters (``AWSAccessKeyId``, ``Expires``,
``Signature``). The signature is ``base64(HMAC-SHA1(secret,
StringToSign))``, the string to sign being::

    METHOD \\n Content-MD5 \\n Content-Type \\n Date \\n
    CanonicalizedAmzHeaders CanonicalizedResource

- Date: the ``Date`` header; empty when ``x-amz-date`` is present (that
  header is then signed as an ``x-amz-*`` header); ``Expires`` in a
  presigned URL. (AWS's own DELETE example instead puts the ``x-amz-date``
  value on the Date line and leaves it out of the headers; that form is
  accepted too: the value is signed either way.)
- CanonicalizedAmzHeaders: every ``x-amz-*`` header of the request (and, in
  a presigned URL, every ``x-amz-*`` query parameter), names lower-cased and
  sorted, repeated values joined by ``,``, one ``name:value\\n`` each. Every
  ``x-amz-*`` header is therefore signed by construction: one added to a
  signed request or an upload link breaks its signature.
- CanonicalizedResource: ``/bucket`` (virtual-host style) followed by the
  path as sent, then the sub-resources among the query parameters, sorted by
  name, with their values (``?acl``, ``?uploadId=...&partNumber=...``,
  ``response-*`` overrides...).

Which query parameters are sub-resources is a list, and clients' lists
differ (AWS documents one, botocore signs a longer one, MinIO another); the
path is signed as sent by most clients, re-encoded by some, with or without
the bucket's trailing slash. So a few canonical resources are tried, every
one naming the same object. One rule holds for all of them: a query
parameter that chooses what this server does (:data:`SELECTORS`:
``?retention``, ``?object-lock``, ``?uploadId``, ``?versionId``...) must be
in the signed resource. A signature that verifies only without one is
refused 403 AccessDenied naming it, as an unsigned ``x-amz-*`` header is
under SigV4: otherwise ``?object-lock`` added to a signed ``PUT /bucket``
would lock a bucket for good.

The payload is never signed by SigV2: a body is checked only against the
``Content-MD5`` or ``x-amz-checksum-*`` its request gives (the body code
does that), or against ``x-amz-content-sha256`` when that signed header
carries a digest. A presigned URL is valid until ``Expires`` (AWS sets no
maximum for SigV2); a header-signed request's date must be within
:data:`MAX_SKEW_SECONDS` of the server's clock.
"""

import base64
import calendar
import email.utils
import hashlib
import hmac
import itertools
import re
from dataclasses import dataclass
from urllib.parse import quote_from_bytes, unquote, unquote_to_bytes

from garage_twisted.api.s3 import errors, router
from garage_twisted.api.s3.sigv4 import MAX_SKEW_SECONDS, PayloadMode, payload_mode

ALGORITHM = "AWS"

_RESPONSE_OVERRIDES = frozenset({
    "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires",
})
# Sub-resources as AWS's "Signing and authenticating REST requests" lists
# them (s3cmd signs exactly these, minus the overrides it never sends).
DOCUMENTED = frozenset({
    "acl", "delete", "lifecycle", "location", "logging", "notification", "partNumber",
    "policy", "requestPayment", "tagging", "torrent", "uploadId", "uploads", "versionId",
    "versioning", "versions", "website", "cors", "restore",
}) | _RESPONSE_OVERRIDES
# botocore's HmacV1Auth.QSAOfInterest (boto3 and the aws CLI).
BOTOCORE = DOCUMENTED | frozenset({
    "accelerate", "defaultObjectAcl", "storageClass", "replication", "analytics",
    "metrics", "inventory", "select", "select-type", "object-lock",
})
# Query parameters that choose the operation (router.py's keywords) or the
# upload, part or version it acts on: they must be signed.
SELECTORS = frozenset(router._BUCKET_SUBRESOURCES) | frozenset(
    router._OBJECT_SUBRESOURCES) | {"uploadId", "partNumber", "versionId"}
# Ours: everything above (MinIO's list is inside it).
WIDE = BOTOCORE | SELECTORS
_LISTS = (WIDE, DOCUMENTED, BOTOCORE)

_UNRESERVED = b"-_.~/"
_EXPIRES = re.compile(r"[0-9]{1,12}\Z")
_AMZ_DATE = re.compile(r"([0-9]{8})T([0-9]{6})Z\Z")
_MALFORMED_HEADER = "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
_QUERY_PARAMS = ("Signature", "Expires", "AWSAccessKeyId")


@dataclass(frozen=True)
class AuthData:
    """SigV2 authentication claimed by a request, before verification."""

    access_key: str
    signature: str  # base64, as sent
    presigned: bool
    expires: int | None = None


@dataclass(frozen=True)
class VerifiedAuth:
    """A verified SigV2 signature, with what the body code reads of a
    :class:`~garage_twisted.api.s3.sigv4.VerifiedAuth` (the payload is not
    signed: its mode comes from ``x-amz-content-sha256``, unsigned when
    absent)."""

    access_key: str
    payload_mode: PayloadMode
    content_sha256: str | None
    presigned: bool
    signature: str = ""
    signing_key: bytes = b""  # no chunk signatures under SigV2
    amz_date: str = ""
    scope: str = ""
    version: int = 2

    @property
    def is_streaming(self) -> bool:
        return self.payload_mode is PayloadMode.STREAMING_UNSIGNED_TRAILER


def _query_pairs(raw_query: str) -> list:
    """``[(decoded name, has "=", raw value)]`` in the order sent."""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, eq, value = part.partition("=")
            pairs.append((unquote(name), bool(eq), value))
    return pairs


def _query_values(raw_query: str) -> dict:
    """Name -> first value, decoded to Latin-1 text: encoded back, it is
    the bytes the client percent-encoded (and signed)."""
    values = {}
    for name, _, value in _query_pairs(raw_query):
        values.setdefault(name, unquote(value, encoding="latin-1"))
    return values


def is_sigv2(headers: dict, raw_query: str) -> bool:
    """Whether a request claims a SigV2 signature (header or presigned).

    :param headers: lower-case name -> value.
    """
    header = headers.get("authorization")
    if header is not None:
        return header.lstrip().startswith("AWS ")
    return any(name in ("AWSAccessKeyId", "Signature") for name, _, _ in
               _query_pairs(raw_query))


def parse(headers: dict, raw_query: str) -> AuthData:
    """The SigV2 auth data of a request :func:`is_sigv2` accepted.

    :raises errors.S3Error: malformed auth data (InvalidArgument for a
        header, AccessDenied for missing query parameters, as AWS).
    """
    header = headers.get("authorization")
    if header is not None:
        credentials = header.strip()[len(ALGORITHM) + 1:].strip()
        access_key, colon, signature = credentials.rpartition(":")
        if not colon or not access_key or not signature:
            raise errors.InvalidArgument(_MALFORMED_HEADER)
        return AuthData(access_key, signature, presigned=False)
    params = _query_values(raw_query)
    if any(not params.get(name) for name in _QUERY_PARAMS):
        raise errors.AccessDenied("Query-string authentication requires the Signature, "
                                  "Expires and AWSAccessKeyId parameters")
    expires = params["Expires"]
    if _EXPIRES.match(expires) is None:
        raise errors.AccessDenied(
            f"Invalid date (should be seconds since epoch): {expires[:40]}")
    return AuthData(params["AWSAccessKeyId"], params["Signature"], presigned=True,
                    expires=int(expires))


def request_time(headers: dict) -> float:
    """Seconds since the epoch of ``x-amz-date``, else ``Date`` (HTTP dates,
    or ``x-amz-date`` in ISO 8601 basic form).

    :raises errors.AccessDenied: neither is present and valid.
    """
    value = headers.get("x-amz-date") or headers.get("date")
    if value:
        match = _AMZ_DATE.match(value.strip())
        if match is not None:
            day, time = match.groups()
            try:
                return float(calendar.timegm((int(day[:4]), int(day[4:6]), int(day[6:]),
                                              int(time[:2]), int(time[2:4]), int(time[4:]),
                                              0, 0, 0)))
            except ValueError:
                pass
        else:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return float(email.utils.mktime_tz(parsed))
    raise errors.AccessDenied("AWS authentication requires a valid Date or x-amz-date header")


def amz_headers(headers: dict, raw_query: str, presigned: bool) -> dict:
    """The ``x-amz-*`` headers a signature covers: lower-case name -> value.

    In a presigned URL, ``x-amz-*`` query parameters count as headers (as
    botocore's HmacV1QueryAuth moves them there); one also sent as a header
    with another value is refused.

    :raises errors.InvalidArgument: that conflict.
    """
    found = {name: value.strip() for name, value in headers.items()
             if name.startswith("x-amz-")}
    if presigned:
        for name, value in _query_values(raw_query).items():
            name, value = name.lower(), value.strip()
            if not name.startswith("x-amz-"):
                continue
            if name in found and found[name] != value:
                raise errors.InvalidArgument(
                    f"{name} is given both as a header and as a query parameter, "
                    "with different values")
            found[name] = value
    return found


def presigned_headers(headers: dict, raw_query: str) -> dict:
    """What a verified presigned URL's query adds to the request's headers:
    its ``x-amz-*`` parameters and ``content-type`` / ``content-md5``, each
    only where the request lacks that header (they are signed, so they are
    obeyed).

    :raises errors.NotImplemented: ``x-amz-copy-source`` in the query (it
        chooses the operation before the signature is read; send it as a
        header).
    """
    extra = {}
    for name, value in _query_values(raw_query).items():
        name = name.lower()
        if not (name.startswith("x-amz-") or name in ("content-type", "content-md5")):
            continue
        if name.startswith("x-amz-copy-source"):
            raise errors.NotImplemented(
                f"{name} as a query parameter of a presigned URL; send it as a header")
        if name not in headers:
            extra[name] = value
    return extra


def _path_variants(raw_path: str, bucket_host: str | None) -> list:
    path = raw_path.encode("latin-1")
    if bucket_host is not None:
        path = b"/" + bucket_host.encode("latin-1") + path
    variants = [path]
    reencoded = quote_from_bytes(unquote_to_bytes(path), safe=_UNRESERVED).encode("ascii")
    if reencoded != path:
        variants.append(reencoded)
    # A bucket alone: "/bucket" and "/bucket/" name it alike (botocore signs
    # the second for a path-style "/bucket").
    for candidate in list(variants):
        segments = candidate.strip(b"/").split(b"/")
        if len(segments) == 1 and segments[0]:
            other = candidate[:-1] if candidate.endswith(b"/") else candidate + b"/"
            variants.append(other)
    return variants


def _resources(pairs: list, names: frozenset) -> list:
    """Renderings of the sub-resources among ``pairs``: values decoded (AWS,
    botocore) or as sent (s3cmd), ``name=`` of an empty value as sent or
    bare."""
    chosen = sorted((p for p in pairs if p[0] in names), key=lambda p: p[0])
    out = []
    for decode, bare_empty in itertools.product((True, False), (False, True)):
        parts = []
        for name, eq, raw in chosen:
            value = unquote_to_bytes(raw) if decode else raw.encode("latin-1")
            rendered = name.encode("utf-8")
            if eq and (value or not bare_empty):
                rendered += b"=" + value
            parts.append(rendered)
        resource = b"?" + b"&".join(parts) if parts else b""
        if resource not in out:
            out.append(resource)
    return out


def string_to_sign(method: str, content_md5: str, content_type: str, date: str,
                   amz: dict, resource: bytes) -> bytes:
    """The SigV2 string to sign (bytes: header values as received, Latin-1)."""
    lines = "".join(f"{name}:{amz[name]}\n" for name in sorted(amz))
    return (f"{method}\n{content_md5}\n{content_type}\n{date}\n{lines}"
            .encode("latin-1") + resource)


def sign(secret: str, data: bytes) -> str:
    """``base64(HMAC-SHA1(secret, data))``."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), data,
                                     hashlib.sha1).digest()).decode("ascii")


def _candidates(request, auth: AuthData, bucket_host: str | None):
    """``(string to sign, sub-resources it leaves unsigned)``, most likely
    first."""
    headers = request.headers
    query = _query_values(request.raw_query) if auth.presigned else {}
    content_md5 = headers.get("content-md5", query.get("content-md5", "")).strip()
    content_type = headers.get("content-type", query.get("content-type", "")).strip()
    amz = amz_headers(headers, request.raw_query, auth.presigned)
    if auth.presigned:
        dates = [(str(auth.expires), amz)]
    elif "x-amz-date" in amz:
        dates = [("", amz), (amz["x-amz-date"],
                             {n: v for n, v in amz.items() if n != "x-amz-date"})]
    else:
        dates = [(headers.get("date", "").strip(), amz)]
    pairs = _query_pairs(request.raw_query)
    selectors = {name for name, _, _ in pairs if name in SELECTORS}
    seen = set()
    for names in _LISTS:
        unsigned = tuple(sorted(selectors - names))
        for path in _path_variants(request.raw_path, bucket_host):
            for resource in _resources(pairs, names):
                for date, amz_signed in dates:
                    data = string_to_sign(request.method, content_md5, content_type, date,
                                          amz_signed, path + resource)
                    if data not in seen:
                        seen.add(data)
                        yield data, unsigned


def verify(request, auth: AuthData, secret: str,
           bucket_host: str | None = None) -> VerifiedAuth:
    """Check ``auth`` against the request and the key's ``secret``.

    :param request: a :class:`~garage_twisted.api.s3.sigv4.SignedRequest`.
    :param bucket_host: the bucket a virtual-host style Host names, or None.
    :raises errors.S3Error: expired, too skewed, a bad signature, an
        operation-choosing sub-resource left unsigned.
    """
    if auth.presigned:
        if request.now > auth.expires:
            raise errors.AccessDenied("Request has expired")
    elif abs(request.now - request_time(request.headers)) > MAX_SKEW_SECONDS:
        raise errors.RequestTimeTooSkewed(
            "The difference between the request time and the server's time is too large.")
    mode, digest = _payload(request.headers)
    given = auth.signature.encode("latin-1")
    first = None
    for data, unsigned in _candidates(request, auth, bucket_host):
        first = first or data
        if hmac.compare_digest(sign(secret, data).encode("ascii"), given):
            if unsigned:
                raise errors.AccessDenied(
                    "Signature Version 2 requests must sign the sub-resources that choose "
                    f"the operation; not signed: {', '.join(unsigned)}",
                    extra={"SubresourcesNotSigned": ", ".join(unsigned)})
            return VerifiedAuth(auth.access_key, mode, digest, auth.presigned,
                                auth.signature)
    raise errors.SignatureDoesNotMatch(
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        extra={"StringToSign": first.decode("latin-1")} if first else None)


def _payload(headers: dict):
    value = headers.get("x-amz-content-sha256")
    if value is None:
        return PayloadMode.UNSIGNED, None
    mode, digest = payload_mode(value.strip())
    if mode in (PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER):
        raise errors.InvalidRequest(
            f"x-amz-content-sha256 {value} needs chunk signatures, which only SigV4 has")
    return mode, digest


def verify_policy(policy: str, signature: str, secret: str) -> None:
    """A browser POST form's SigV2 signature: ``base64(HMAC-SHA1(secret,
    policy))`` over the base64 policy as sent.

    :raises errors.SignatureDoesNotMatch:
    """
    expected = sign(secret, policy.encode("latin-1", "replace"))
    if not hmac.compare_digest(expected.encode("ascii"),
                               signature.strip().encode("latin-1", "replace")):
        raise errors.SignatureDoesNotMatch(
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.")
