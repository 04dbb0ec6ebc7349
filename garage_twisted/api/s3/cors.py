"""CORS: bucket rules (Put/Get/DeleteBucketCors), preflights, response headers.

Rules are stored in the bucket's ``cors_config`` register as a list of
dicts (``id``, ``max_age``, ``origins``, ``methods``, ``headers``,
``expose``). A browser's preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) needs no signature: it is answered from
the first rule matching the origin, the method and every requested header
(``*`` matches anything; an origin may hold one ``*`` wildcard, as
``https://*.example.com``), else 403. Other requests to a bucket that carry
an ``Origin`` get the matching rule's headers, errors included (a browser
must be able to read them).

As S3 does (and unlike Garage, which lists every allowed origin), the
``Access-Control-Allow-Origin`` answer is the request's origin (or ``*``
for a ``*`` rule), the only form browsers accept; ``Vary: Origin`` tells
caches the answer depends on it. Without rules, GetBucketCors answers
``NoSuchCORSConfiguration`` (404) as S3.
"""

import fnmatch

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.bucket_config import BucketConfigOps
from garage_twisted.api.s3.context import respond
from garage_twisted.api.s3.xml import document, element, local_name, parse_document

MAX_BODY = 64 * 1024
MAX_RULES = 100
METHODS = {"GET", "PUT", "HEAD", "POST", "DELETE"}



def parse_cors(body: bytes) -> list:
    """The rules of a ``<CORSConfiguration>`` document.

    :raises errors.MalformedXML: not such a document, or an invalid rule.
    """
    root = parse_document(body, "CORSConfiguration")
    rules = []
    for node in root:
        if local_name(node.tag) != "CORSRule":
            continue
        rule = {"id": None, "max_age": None, "origins": [], "methods": [], "headers": [],
                "expose": []}
        for child in node:
            name, text = local_name(child.tag), (child.text or "").strip()
            if name == "ID":
                rule["id"] = text
            elif name == "MaxAgeSeconds":
                try:
                    rule["max_age"] = int(text)
                except ValueError:
                    raise errors.MalformedXML("MaxAgeSeconds must be an integer") from None
            elif name == "AllowedOrigin":
                rule["origins"].append(text)
            elif name == "AllowedMethod":
                if text not in METHODS:
                    raise errors.MalformedXML(
                        f"Found unsupported HTTP method in CORS config. Unsupported method "
                        f"is {text}")
                rule["methods"].append(text)
            elif name == "AllowedHeader":
                rule["headers"].append(text.lower())
            elif name == "ExposeHeader":
                rule["expose"].append(text)
        if not rule["origins"] or not rule["methods"]:
            raise errors.MalformedXML("each CORSRule needs an AllowedOrigin and an "
                                      "AllowedMethod")
        if any(o.count("*") > 1 for o in rule["origins"]):
            raise errors.MalformedXML("an AllowedOrigin can contain at most one wildcard")
        rules.append(rule)
    if not rules or len(rules) > MAX_RULES:
        raise errors.MalformedXML(f"a CORS configuration has 1 to {MAX_RULES} rules")
    return rules


def cors_xml(rules: list) -> bytes:
    parts = []
    for rule in rules:
        inner = element("ID", rule["id"]) if rule.get("id") else ""
        inner += "".join(element("AllowedOrigin", o) for o in rule["origins"])
        inner += "".join(element("AllowedMethod", m) for m in rule["methods"])
        inner += "".join(element("AllowedHeader", h) for h in rule["headers"])
        inner += "".join(element("ExposeHeader", h) for h in rule["expose"])
        if rule.get("max_age") is not None:
            inner += element("MaxAgeSeconds", rule["max_age"])
        parts.append("<CORSRule>" + inner + "</CORSRule>")
    return document("CORSConfiguration", parts)


def _matches(pattern: str, value: str) -> bool:
    return pattern == "*" or pattern == value or (
        "*" in pattern and fnmatch.fnmatchcase(value, pattern))


def find_rule(rules, origin: str, method: str, request_headers) -> dict | None:
    """The first rule allowing ``origin``, ``method`` and every header."""
    for rule in rules or ():
        if not any(_matches(o, origin) for o in rule["origins"]):
            continue
        if method not in rule["methods"]:
            continue
        if all(any(_matches(h, wanted.lower()) for h in rule["headers"])
               for wanted in request_headers):
            return rule
    return None


def cors_headers(rule: dict, origin: str, request_headers=()) -> list:
    """``[(name, value)]`` to answer a request matched by ``rule``."""
    headers = [
        (b"access-control-allow-origin", b"*" if "*" in rule["origins"] else origin.encode()),
        (b"access-control-allow-methods", ", ".join(rule["methods"]).encode()),
        (b"vary", b"Origin"),
    ]
    if request_headers:
        headers.append((b"access-control-allow-headers",
                        ", ".join(request_headers).encode("latin-1")))
    if rule["expose"]:
        headers.append((b"access-control-expose-headers",
                        ", ".join(rule["expose"]).encode("latin-1")))
    if rule.get("max_age") is not None:
        headers.append((b"access-control-max-age", str(rule["max_age"]).encode()))
    return headers


def _requested_headers(value: str | None) -> list:
    return [h.strip() for h in (value or "").split(",") if h.strip()]


async def preflight(api, request, bucket_name: str | None) -> bytes:
    """Answer an ``OPTIONS`` preflight (no authentication)."""
    origin = request.getHeader(b"origin")
    method = request.getHeader(b"access-control-request-method")
    if origin is None or method is None:
        raise errors.InvalidRequest("A CORS preflight needs Origin and "
                                    "Access-Control-Request-Method headers")
    origin, method = origin.decode("latin-1"), method.decode("latin-1")
    wanted = _requested_headers(
        (request.getHeader(b"access-control-request-headers") or b"").decode("latin-1"))
    if bucket_name is None:
        # The service itself (ListBuckets): readable from anywhere, as Garage.
        request.setHeader(b"access-control-allow-origin", b"*")
        request.setHeader(b"access-control-allow-methods", b"GET")
        return respond(request)
    rule = None
    if bucket_name is not None:
        bucket_id = await api.helper.resolve_bucket(bucket_name, None)
        bucket = None if bucket_id is None else await api.helper.get_bucket(bucket_id)
        if bucket is not None and bucket.params is not None:
            rule = find_rule(bucket.params.cors_config.value, origin, method, wanted)
    if rule is None:
        raise errors.AccessDenied("CORSResponse: This CORS request is not allowed. This is "
                                  "usually because the evaluation of Origin, request method "
                                  "/ Access-Control-Request-Method or "
                                  "Access-Control-Request-Headers are not whitelisted by the "
                                  "resource's CORS spec.")
    for name, value in cors_headers(rule, origin, wanted):
        request.setHeader(name, value)
    return respond(request)


def add_response_headers(request, bucket) -> None:
    """Headers of the matching rule on a request with an ``Origin``."""
    origin = request.getHeader(b"origin")
    if origin is None or bucket is None or bucket.params is None:
        return
    rules = bucket.params.cors_config.value
    if not rules:
        return
    origin = origin.decode("latin-1")
    rule = find_rule(rules, origin, request.method.decode("ascii"), ())
    if rule is not None:
        for name, value in cors_headers(rule, origin):
            request.setHeader(name, value)


# PUT/GET/DELETE of the bucket's cors_config.
_OPS = BucketConfigOps("cors_config", parse_cors, cors_xml, MAX_BODY,
                       errors.NoSuchCORSConfiguration, "The CORS configuration does not exist")
put_bucket_cors = _OPS.put
get_bucket_cors = _OPS.get
delete_bucket_cors = _OPS.delete
