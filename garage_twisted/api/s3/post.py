"""PostObject: browser uploads with a signed policy (``POST /bucket``).

The form carries the key, a base64 JSON policy, its SigV4 signature
(``x-amz-algorithm``, ``x-amz-credential``, ``x-amz-date``,
``x-amz-signature``: the HMAC of the base64 policy with the key's signing
key) or its SigV2 signature (``AWSAccessKeyId``, ``signature``:
``base64(HMAC-SHA1(secret, policy))``, unless ``[s3_api] allow_sigv2 =
false``), and the file, last. The request itself is not signed: the policy
is the authorization. It must not have expired, and every form field (except
``policy``, ``x-amz-signature``, ``file``, ``x-ignore-*``, and SigV2's
``AWSAccessKeyId`` and ``signature``) must satisfy
its conditions, each condition being matched by a field: ``{"field":
"value"}`` / ``["eq", "$field", "value"]``, ``["starts-with", "$field",
"prefix"]``, ``["content-length-range", min, max]`` (checked on the bytes
received, before the object is published). ``{"bucket": ...}`` is checked
against the bucket of the URL (a ``bucket`` field naming another is
refused). Field names are case-insensitive.

``${filename}`` in the key is replaced by the file's name. Answer:
``success_action_redirect`` (303 to it with bucket, key and etag), else
``success_action_status`` 200, 201 (a ``PostResponse`` document) or 204
(default), with CORS headers when a bucket rule matches.
"""

import base64
import hmac
import json
import time
from datetime import datetime
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from garage_twisted.api.s3 import cors, errors, sigv2, sigv4, tagging, unbuilt, version_fields
from garage_twisted.api.s3.auth import check_sigv2_allowed, key_of
from garage_twisted.api.s3.body import raw_body_reader
from garage_twisted.api.s3.body_digests import BodyChecks
from garage_twisted.api.s3.context import WRITE, RequestContext, respond
from garage_twisted.api.s3.encryption import PREFIX, key_for_write
from garage_twisted.api.s3.form import MAX_FIELD, MAX_FIELDS, FormReader, boundary_of
from garage_twisted.api.s3.metadata import DEFAULT_CONTENT_TYPE, STORED_HEADERS
from garage_twisted.api.s3.put import MAX_OBJECT_SIZE, check_quotas, store_object
from garage_twisted.api.s3.versioning import set_version_header
from garage_twisted.api.s3.xml import document, element

ALWAYS_ALLOWED = {"policy", "x-amz-signature", "file"}
# A SigV2 form's signature fields, which its policy need not name (AWS's
# SigV2 POST documentation exempts them).
SIGV2_FIELDS = frozenset({"awsaccesskeyid", "signature"})


class Policy:
    """A decoded POST policy: expiration and conditions by field."""

    def __init__(self, encoded: str, now: float):
        try:
            raw = json.loads(base64.b64decode(encoded, validate=True))
            expiration = raw["expiration"]
            conditions = raw["conditions"]
            expires = datetime.fromisoformat(expiration.replace("Z", "+00:00")).timestamp()
        except Exception:
            raise errors.InvalidPolicyDocument("Invalid Policy: the policy is not base64 "
                                               "JSON with an expiration and conditions")\
                from None
        if expires < now:
            raise errors.AccessDenied("Invalid according to Policy: Policy expired.")
        self.fields: dict[str, list] = {}
        self.length = (0, MAX_OBJECT_SIZE)
        for condition in conditions:
            if isinstance(condition, dict) and len(condition) == 1:
                ((name, value),) = condition.items()
                self._add(name, "eq", value)
            elif isinstance(condition, list) and len(condition) == 3 and \
                    condition[0] == "content-length-range":
                try:
                    low, high = int(condition[1]), int(condition[2])
                except (TypeError, ValueError):
                    raise errors.InvalidPolicyDocument(
                        "Invalid Policy: content-length-range needs two integers") from None
                self.length = (max(self.length[0], low), min(self.length[1], high))
            elif isinstance(condition, list) and len(condition) == 3 and \
                    condition[0] in ("eq", "starts-with") and isinstance(condition[1], str) \
                    and condition[1].startswith("$"):
                self._add(condition[1][1:], condition[0], condition[2])
            else:
                raise errors.InvalidPolicyDocument(
                    f"Invalid Policy: invalid condition {json.dumps(condition)[:100]}")

    def _add(self, name, operation, value):
        if not isinstance(value, str):
            raise errors.InvalidPolicyDocument(f"Invalid Policy: {name} needs a string")
        self.fields.setdefault(name.lower(), []).append((operation, value))

    def check(self, fields: dict) -> None:
        """Every field allowed by its conditions, every condition met."""
        remaining = dict(self.fields)
        for name, value in fields.items():
            if name in ALWAYS_ALLOWED or name.startswith("x-ignore-"):
                continue
            conditions = remaining.pop(name, None)
            if conditions is None:
                raise errors.AccessDenied(
                    f"Invalid according to Policy: Extra input fields: {name}")
            for operation, expected in conditions:
                values = value.split(",") if name == "content-type" else [value]
                ok = all(v == expected if operation == "eq" else v.startswith(expected)
                         for v in values)
                if not ok:
                    raise errors.AccessDenied(
                        f"Invalid according to Policy: Policy Condition failed: "
                        f'["{operation}", "${name}", "{expected}"]')
        if remaining:
            raise errors.AccessDenied("Invalid according to Policy: Policy Condition failed: "
                                      f"no {', '.join(sorted(remaining))} field")

    def check_length(self, size: int) -> None:
        low, high = self.length
        if size < low:
            raise errors.EntityTooSmall("Your proposed upload is smaller than the minimum "
                                        "allowed size")
        if size > high:
            raise errors.EntityTooLarge("Your proposed upload exceeds the maximum allowed "
                                        "size")


async def _read_fields(reader: FormReader):
    """``(fields, raw fields, file part)``: the fields before ``file``
    (lower-cased names), as UTF-8 text and as the bytes sent."""
    fields, raw = {}, {}
    while True:
        part = await reader.next_part()
        if part is None:
            raise errors.InvalidArgument("POST requires exactly one file upload per request.")
        name = (part.name or "").lower()
        if name == "file":
            return fields, raw, part
        if len(fields) >= MAX_FIELDS:
            raise errors.MalformedPOSTRequest("too many form fields")
        if name in fields:
            raise errors.InvalidArgument(f"form field {name} given twice")
        raw[name] = await reader.read_all(MAX_FIELD)
        fields[name] = raw[name].decode("utf-8", "replace")


async def _authorize(api, fields: dict):
    """``(key whose signature the policy carries, fields its conditions
    need not name)``."""
    if "x-amz-algorithm" not in fields and "x-amz-signature" not in fields and \
            ("awsaccesskeyid" in fields or "signature" in fields):
        return await _authorize_v2(api, fields), SIGV2_FIELDS
    for name in ("policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
                 "x-amz-signature"):
        if name not in fields:
            raise errors.InvalidArgument(f"Bucket POST must contain a field named '{name}'")
    if fields["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
        raise errors.InvalidArgument("only AWS4-HMAC-SHA256 POST policies are supported")
    parts = fields["x-amz-credential"].split("/")
    if len(parts) != 5 or parts[3] != "s3" or parts[4] != "aws4_request":
        raise errors.InvalidArgument("invalid x-amz-credential")
    access_key, date, region = parts[0], parts[1], parts[2]
    if region != api.region:
        raise errors.AuthorizationHeaderMalformed(
            f"the region '{region}' is wrong; expecting '{api.region}'")
    if not fields["x-amz-date"].startswith(date):
        raise errors.InvalidArgument("x-amz-date does not match the credential's date")
    key = await key_of(api, access_key)
    expected = hmac.new(sigv4.signing_key(key.params.secret_key, date, region),
                        fields["policy"].encode(), "sha256").hexdigest()
    if not hmac.compare_digest(expected, fields["x-amz-signature"].lower()):
        raise errors.SignatureDoesNotMatch(
            "The request signature we calculated does not match the signature you provided.")
    return key, frozenset()


async def _authorize_v2(api, fields: dict):
    """The key whose SigV2 signature (``AWSAccessKeyId``, ``signature``) the
    policy carries."""
    check_sigv2_allowed(api)
    for name, shown in (("awsaccesskeyid", "AWSAccessKeyId"), ("policy", "policy"),
                        ("signature", "signature")):
        if not fields.get(name):
            raise errors.InvalidArgument(f"Bucket POST must contain a field named '{shown}'")
    key = await key_of(api, fields["awsaccesskeyid"])
    sigv2.verify_policy(fields["policy"], fields["signature"], key.params.secret_key)
    return key


def _object_headers(raw: dict, part) -> tuple:
    # Stored as the bytes sent, decoded as Latin-1, like a PUT's headers
    # (the invariant of .metadata): they come back byte for byte.
    headers = {}
    for name, value in raw.items():
        if name in STORED_HEADERS_STR or name.startswith("x-amz-meta-"):
            headers[name] = value.decode("latin-1")
    if "content-type" not in headers:
        headers["content-type"] = part.content_type or DEFAULT_CONTENT_TYPE
    return tuple(sorted(headers.items()))


STORED_HEADERS_STR = {h.decode("latin-1") for h in STORED_HEADERS}


async def post_object(api, request, endpoint, request_id) -> bytes:
    content_type = request.getHeader(b"content-type")
    reader = FormReader(raw_body_reader(request),
                        boundary_of(None if content_type is None
                                    else content_type.decode("latin-1")))
    fields, raw, part = await _read_fields(reader)
    key, unchecked = await _authorize(api, fields)
    ctx = RequestContext(api, request, endpoint, key, None, request_id)
    ctx.bucket_id, ctx.bucket = await api.bucket_for(ctx, endpoint.bucket, WRITE,
                                                     "PostObject", fields.get("key", ""))
    cors.add_response_headers(request, ctx.bucket)
    policy = Policy(fields["policy"], time.time() if api.clock is None else api.clock.seconds())
    # The object goes to the URL's bucket: that is the bucket the policy's
    # conditions are checked against, and a form field naming another one
    # is refused (once, it replaced the URL's bucket in the check, and a
    # policy signed for one bucket wrote into any other the key could).
    if fields.get("bucket", endpoint.bucket) != endpoint.bucket:
        raise errors.InvalidArgument(
            f"the form's bucket field {fields['bucket']!r} is not the bucket of the URL "
            f"{endpoint.bucket!r}")
    checked = {name: value for name, value in fields.items() if name not in unchecked}
    if "bucket" in policy.fields:
        policy.check({**checked, "bucket": endpoint.bucket})
    else:
        policy.check(checked)
    if "key" not in fields:
        raise errors.InvalidArgument("Bucket POST must contain a field named 'key'")
    object_key = fields["key"]
    if "${filename}" in object_key and part.filename is not None:
        object_key = object_key.replace("${filename}", part.filename)
    if not object_key or len(object_key.encode()) > 1024:
        raise errors.KeyTooLongError("object keys are 1 to 1024 bytes")
    unbuilt.check_form(fields)
    # Nothing asked to be encrypted is stored in clear: SSE-C is not built
    # for forms, SSE-KMS nowhere.
    if any(name.startswith(PREFIX) for name in fields):
        raise errors.NotImplemented("SSE-C is not supported on browser POST uploads")
    # SSE-S3: the x-amz-server-side-encryption field, or the bucket's default.
    sse = key_for_write(ctx, fields.get)
    # The form's tagging field is a <Tagging> document (not x-amz-tagging's
    # query form).
    tags = tagging.from_xml(fields["tagging"].encode()) if fields.get("tagging") else ()
    version_fields.prepare_write(ctx, fields.get)
    checks = BodyChecks(content_md5=fields.get("content-md5"))
    version = await store_object(ctx, object_key, _object_headers(raw, part), checks,
                                 _FileReader(reader), sse=sse, size_check=policy.check_length,
                                 before_complete=lambda size: check_quotas(ctx, object_key,
                                                                           size),
                                 tags=tags)
    # The rest of the form (the closing boundary, fields after the file).
    while await reader.next_part() is not None:
        pass
    etag = f'"{version.data.meta.etag}"'
    request.setHeader(b"etag", etag.encode())
    for name, value in sse.response_headers() if sse is not None else ():
        request.setHeader(name, value)
    set_version_header(ctx, version)
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and urlsplit(redirect).scheme in ("http", "https"):
        parts = urlsplit(redirect)
        query = urlencode({"bucket": endpoint.bucket, "key": object_key, "etag": etag})
        target = urlunsplit(parts._replace(
            query=f"{parts.query}&{query}" if parts.query else query))
        request.setHeader(b"location", target.encode())
        return respond(request, status=303)
    host = request.getHeader(b"host")
    location = (f"https://{host.decode('latin-1')}" if host else "") + \
        f"/{quote(endpoint.bucket)}/{quote(object_key)}"
    request.setHeader(b"location", location.encode())
    status = fields.get("success_action_status", "204")
    if status == "200":
        return respond(request, status=200)
    if status == "201":
        return respond(request, document("PostResponse", [
            element("Location", location), element("Bucket", endpoint.bucket),
            element("Key", object_key), element("ETag", etag)]), status=201)
    return respond(request, status=204)


class _FileReader:
    """The ``file`` part as a payload (``read()``; no trailers)."""

    trailers = {}

    def __init__(self, reader: FormReader):
        self.reader = reader

    async def read(self) -> bytes:
        return await self.reader.read()
