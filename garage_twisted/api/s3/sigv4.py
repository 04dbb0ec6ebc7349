"""AWS Signature Version 4 verification for S3 (sans-IO, no clock reads).

Forms accepted: the ``Authorization: AWS4-HMAC-SHA256 ...`` header and
presigned query parameters (``X-Amz-Algorithm`` ...). :func:`parse` reads
the request's auth data; :func:`verify` recomputes the signature with the
key's secret and checks region, service, dates and expiry.

Canonical request, as S3 defines it:

- URI: the path *as sent* (S3 does not normalize it, ``//`` included); if
  that does not verify, the path decoded and re-encoded per RFC 3986 is tried,
  for clients whose encoding choices differ from the canonical one;
- query: parameters decoded, re-encoded, sorted by name then value;
- headers: the signed ones, lower-cased, values trimmed with inner runs of
  whitespace collapsed;
- payload: the ``x-amz-content-sha256`` value (``UNSIGNED-PAYLOAD`` for
  presigned URLs unless given).

Signed means signed: every ``x-amz-*`` header of the request must be among
the signed headers (``SignedHeaders``, or ``X-Amz-SignedHeaders`` of a
presigned URL), with no exemption, as on AWS and Garage; otherwise 403
AccessDenied listing them in ``HeadersNotSigned``, before anything is done.
Those headers choose what a request does (``x-amz-copy-source`` turns a PUT
into a copy), so one added to a signed request or an upload link must not be
obeyed. ``Content-Type`` and ``Content-MD5`` need not be signed (AWS does not
require it, and clients such as minio's do not sign ``Content-Type``).

Signing keys are cached per (secret, date, region): deriving one costs four
HMACs and it changes once a day.
"""

import calendar
import enum
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from garage_twisted.api.s3 import errors

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_EXPIRY = 7 * 24 * 3600
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_UNRESERVED = "-_.~"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_SPACES = re.compile(r"\s+")
_EXPIRES = re.compile(r"-?[0-9]+\Z")


class PayloadMode(enum.Enum):
    UNSIGNED = "UNSIGNED-PAYLOAD"
    SHA256 = "sha256"  # a hex digest to check against the body
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


_STREAMING = {m.value: m for m in (PayloadMode.STREAMING_SIGNED,
                                   PayloadMode.STREAMING_SIGNED_TRAILER,
                                   PayloadMode.STREAMING_UNSIGNED_TRAILER)}


@dataclass(frozen=True)
class SignedRequest:
    """What signature verification reads of an HTTP request.

    :ivar headers: lower-case name -> value (repeated headers joined by ",").
    :ivar now: the current time, seconds since the epoch.
    """

    method: str
    raw_path: str
    raw_query: str
    headers: dict
    now: float


@dataclass(frozen=True)
class AuthData:
    """Authentication claimed by a request, before verification."""

    access_key: str
    date: str  # YYYYMMDD of the scope
    region: str
    service: str
    signed_headers: tuple
    signature: str
    amz_date: str  # YYYYMMDDTHHMMSSZ
    content_sha256: str
    presigned: bool
    expires: int | None = None

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class VerifiedAuth:
    """A verified signature: what the body decoder needs next."""

    access_key: str
    payload_mode: PayloadMode
    content_sha256: str | None  # the hex digest when payload_mode is SHA256
    signing_key: bytes
    signature: str
    amz_date: str
    scope: str

    @property
    def is_streaming(self) -> bool:
        return self.payload_mode in _STREAMING.values()


@functools.lru_cache(maxsize=256)
def _parse_amz_date(value: str) -> float:
    # strptime costs ~40 us a call; this fixed format needs no parser, and
    # the requests of one second share their date (cached; a malformed
    # one raises every time).
    if len(value) != 16 or value[8] != "T" or value[15] != "Z" or not (
            value[:8] + value[9:15]).isdigit():
        raise errors.AccessDenied(f"invalid X-Amz-Date {value!r}")
    try:
        return float(calendar.timegm((int(value[0:4]), int(value[4:6]), int(value[6:8]),
                                      int(value[9:11]), int(value[11:13]),
                                      int(value[13:15]), 0, 0, 0)))
    except ValueError:
        raise errors.AccessDenied(f"invalid X-Amz-Date {value!r}") from None


def _parse_credential(credential: str, malformed):
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise malformed(f"invalid credential {credential!r}; expected "
                        "KEY/YYYYMMDD/REGION/s3/aws4_request")
    return parts[0], parts[1], parts[2], parts[3]


def parse(request: SignedRequest) -> AuthData | None:
    """The auth data of ``request``, or ``None`` for an anonymous request.

    :raises errors.S3Error: malformed auth data.
    """
    header = request.headers.get("authorization")
    if header is not None:
        return _parse_header(header, request)
    if "X-Amz-Signature" in request.raw_query or "X-Amz-Algorithm" in request.raw_query:
        return _parse_query(request)
    return None


def _parse_header(header: str, request: SignedRequest) -> AuthData:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm == "AWS":
            raise errors.InvalidRequest(
                "signature version 2 is not supported; use AWS4-HMAC-SHA256")
        raise errors.AuthorizationHeaderMalformed(f"unsupported algorithm {algorithm!r}")
    fields = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if eq:
            fields[name.strip()] = value.strip()
    try:
        credential = fields["Credential"]
        signed_headers = fields["SignedHeaders"]
        signature = fields["Signature"]
    except KeyError as e:
        raise errors.AuthorizationHeaderMalformed(
            f"the authorization header is missing {e.args[0]}") from None
    access_key, date, region, service = _parse_credential(
        credential, errors.AuthorizationHeaderMalformed)
    amz_date = request.headers.get("x-amz-date")
    if amz_date is None:
        raise errors.AccessDenied("missing x-amz-date header")
    content_sha256 = request.headers.get("x-amz-content-sha256")
    if content_sha256 is None:
        raise errors.InvalidRequest(
            "Missing required header for this request: x-amz-content-sha256")
    return AuthData(access_key, date, region, service,
                    tuple(signed_headers.lower().split(";")), signature.lower(),
                    amz_date, content_sha256, presigned=False)


def _query_params(raw_query: str) -> dict:
    params = {}
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            params.setdefault(unquote(name), unquote(value))
    return params


def _parse_query(request: SignedRequest) -> AuthData:
    params = _query_params(request.raw_query)
    malformed = errors.AuthorizationQueryParametersError
    try:
        algorithm = params["X-Amz-Algorithm"]
        credential = params["X-Amz-Credential"]
        amz_date = params["X-Amz-Date"]
        expires = params["X-Amz-Expires"]
        signed_headers = params["X-Amz-SignedHeaders"]
        signature = params["X-Amz-Signature"]
    except KeyError as e:
        raise malformed(f"query-string authentication requires {e.args[0]}") from None
    if algorithm != ALGORITHM:
        raise malformed(f"unsupported X-Amz-Algorithm {algorithm!r}")
    expires_seconds = _presign_expiry(expires)
    access_key, date, region, service = _parse_credential(credential, malformed)
    content_sha256 = (request.headers.get("x-amz-content-sha256")
                      or params.get("X-Amz-Content-Sha256") or "UNSIGNED-PAYLOAD")
    return AuthData(access_key, date, region, service,
                    tuple(signed_headers.lower().split(";")), signature.lower(),
                    amz_date, content_sha256, presigned=True, expires=expires_seconds)


def _presign_expiry(value: str) -> int:
    """``X-Amz-Expires`` in seconds, 1 to :data:`MAX_PRESIGN_EXPIRY`.

    Outside that range (zero, negative, not an integer) the link is refused
    403 AccessDenied with AWS's words. AWS itself answers some of these 400
    AuthorizationQueryParametersError; 403 is what S3 conformance suites
    (Ceph's s3-tests) expect, and what clients take for "this link is not
    valid". A link of zero seconds is expired when made.

    :raises errors.AccessDenied:
    """
    if _EXPIRES.match(value) is None:
        raise errors.AccessDenied("X-Amz-Expires should be a number")
    # Compared as digits first: int() of thousands of digits is refused.
    digits = value.lstrip("-").lstrip("0") or "0"
    if value.startswith("-") and digits != "0":
        raise errors.AccessDenied("X-Amz-Expires must be non-negative")
    if digits == "0":
        raise errors.AccessDenied("Request has expired")
    if len(digits) > len(str(MAX_PRESIGN_EXPIRY)) or int(digits) > MAX_PRESIGN_EXPIRY:
        raise errors.AccessDenied(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            f"X-Amz-Expires must be less than {MAX_PRESIGN_EXPIRY} seconds")
    return int(digits)


@functools.lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    key = hmac.new(key, region.encode(), hashlib.sha256).digest()
    key = hmac.new(key, service.encode(), hashlib.sha256).digest()
    return hmac.new(key, b"aws4_request", hashlib.sha256).digest()


def uri_encode(value: str, keep_slash: bool) -> str:
    return quote(value, safe=_UNRESERVED + ("/" if keep_slash else ""))


def canonical_query(raw_query: str, presigned: bool) -> str:
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = unquote(name)
        if presigned and name == "X-Amz-Signature":
            continue
        pairs.append((uri_encode(name, False), uri_encode(unquote(value), False)))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


def canonical_headers(auth: AuthData, headers: dict) -> str:
    lines = []
    for name in auth.signed_headers:
        value = headers.get(name)
        if value is None:
            raise errors.AccessDenied(f"signed header {name!r} is missing from the request")
        value = value.strip()
        if not value.isprintable() or "  " in value:
            # Runs of whitespace (tabs, any Unicode space: never printable,
            # but the ASCII space) fold to one space, as AWS folds them.
            value = _SPACES.sub(" ", value)
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def string_to_sign(auth: AuthData, canonical_request: str) -> str:
    # Every part of the canonical request is text decoded as Latin-1 from
    # the bytes received (or ASCII): encoded back as Latin-1 it is those
    # bytes, which the client signed (as AWS verifies: botocore sends and
    # signs a non-ASCII header value as the same UTF-8 bytes).
    return (f"{ALGORITHM}\n{auth.amz_date}\n{auth.scope}\n"
            f"{hashlib.sha256(canonical_request.encode('latin-1')).hexdigest()}")


def verify(request: SignedRequest, auth: AuthData, secret: str, region: str) -> VerifiedAuth:
    """Check ``auth`` against the request and the key's ``secret``.

    :raises errors.S3Error: on any mismatch (wrong region, expired, bad
        signature...).
    """
    malformed = (errors.AuthorizationQueryParametersError if auth.presigned
                 else errors.AuthorizationHeaderMalformed)
    if auth.region != region:
        raise malformed(
            f"the region '{auth.region}' is wrong; expecting '{region}'",
            extra={"Region": region})
    if auth.service != SERVICE:
        raise malformed(f"service must be 's3', not {auth.service!r}")
    if not auth.amz_date.startswith(auth.date):
        raise malformed("the credential date does not match X-Amz-Date")
    when = _parse_amz_date(auth.amz_date)
    if auth.presigned:
        if request.now > when + auth.expires:
            raise errors.AccessDenied("Request has expired")
        if when > request.now + MAX_SKEW_SECONDS:
            raise errors.AccessDenied("Request is not valid yet")
    elif abs(request.now - when) > MAX_SKEW_SECONDS:
        raise errors.RequestTimeTooSkewed(
            "The difference between the request time and the server's time is too large.")
    if "host" not in auth.signed_headers:
        raise errors.AccessDenied("the host header must be signed")
    check_signed_headers(auth, request.headers)
    mode, digest = payload_mode(auth.content_sha256)
    key = signing_key(secret, auth.date, auth.region, auth.service)
    query = canonical_query(request.raw_query, auth.presigned)
    headers = canonical_headers(auth, request.headers)
    signed = ";".join(auth.signed_headers)
    for path in _candidate_paths(request.raw_path):
        canonical = (f"{request.method}\n{path}\n{query}\n{headers}\n{signed}\n"
                     f"{auth.content_sha256}")
        expected = hmac.new(key, string_to_sign(auth, canonical).encode(),
                            hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, auth.signature):
            return VerifiedAuth(auth.access_key, mode, digest, key, auth.signature,
                                auth.amz_date, auth.scope)
    raise errors.SignatureDoesNotMatch(
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.")


def _candidate_paths(raw_path: str):
    """The paths a client may have signed: the one received, then (only if
    that signature fails: a generator) the same path encoded as AWS
    encodes it, for clients that sent it less encoded than they signed."""
    yield raw_path
    reencoded = uri_encode(unquote(raw_path), True)
    if reencoded != raw_path:
        yield reencoded


def check_signed_headers(auth: AuthData, headers: dict) -> None:
    """Every ``x-amz-*`` header of the request is signed.

    :param headers: lower-case name -> value.
    :raises errors.AccessDenied: naming the unsigned ones, as AWS does.
    """
    signed = set(auth.signed_headers)
    unsigned = sorted(name for name in headers
                      if name.startswith("x-amz-") and name not in signed)
    if unsigned:
        raise errors.AccessDenied(
            "There were headers present in the request which were not signed",
            extra={"HeadersNotSigned": ", ".join(unsigned)})


def payload_mode(content_sha256: str):
    """``(PayloadMode, hex digest or None)`` of an x-amz-content-sha256 value."""
    if content_sha256 == "UNSIGNED-PAYLOAD":
        return PayloadMode.UNSIGNED, None
    mode = _STREAMING.get(content_sha256)
    if mode is not None:
        return mode, None
    if _HEX64.match(content_sha256):
        return PayloadMode.SHA256, content_sha256.lower()
    raise errors.InvalidArgument(f"invalid x-amz-content-sha256 value {content_sha256!r}")
