"""An independent AWS SigV4 signer for tests (written from the AWS spec).

Tests use it to build requests boto3 would not send: tampered chunk
signatures, expired presigned URLs, wrong regions.
"""

import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlsplit


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret, date, region):
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    return key


def _canonical(method, path, query_pairs, headers, signed, payload_hash):
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                     for k, v in sorted(query_pairs))
    canon_headers = "".join(f"{h}:{headers[h].strip()}\n" for h in signed)
    return f"{method}\n{path}\n{query}\n{canon_headers}\n{';'.join(signed)}\n{payload_hash}"


def sign(method, url, key_id, secret, region, payload_hash, headers=None, when=None,
         charset="utf-8"):
    """Headers (with Authorization) for a header-signed request.

    ``charset`` is how the client puts header values on the wire (Python's
    http.client sends ``str`` values as Latin-1): the signature covers those
    bytes."""
    when = when or datetime.now(timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    parts = urlsplit(url)
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    headers.update({"host": parts.netloc, "x-amz-date": amz_date,
                    "x-amz-content-sha256": payload_hash})
    signed = sorted(headers)
    pairs = [tuple(p.split("=", 1)) if "=" in p else (p, "")
             for p in parts.query.split("&") if p]
    canonical = _canonical(method, parts.path, pairs, headers, signed, payload_hash)
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    to_sign = (f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
               f"{hashlib.sha256(canonical.encode(charset)).hexdigest()}")
    key = signing_key(secret, amz_date[:8], region)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    return headers, signature, key, scope, amz_date


def presign(method, url, key_id, secret, region, expires, when=None):
    when = when or datetime.now(timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    parts = urlsplit(url)
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    pairs = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
             ("X-Amz-Credential", f"{key_id}/{scope}"), ("X-Amz-Date", amz_date),
             ("X-Amz-Expires", str(expires)), ("X-Amz-SignedHeaders", "host")]
    canonical = _canonical(method, parts.path, pairs, {"host": parts.netloc}, ["host"],
                           "UNSIGNED-PAYLOAD")
    to_sign = (f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
               f"{hashlib.sha256(canonical.encode()).hexdigest()}")
    signature = hmac.new(signing_key(secret, amz_date[:8], region), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    query = "&".join(f"{k}={quote(v, safe='-_.~')}" for k, v in pairs)
    return f"{url}?{query}&X-Amz-Signature={signature}"


EMPTY = hashlib.sha256(b"").hexdigest()


def signed_chunks(chunks, seed, key, scope, amz_date, tamper_index=None):
    """An aws-chunked body with chunk signatures chained from ``seed``."""
    out = []
    previous = seed
    for i, data in enumerate(list(chunks) + [b""]):
        to_sign = (f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY}\n"
                   f"{hashlib.sha256(data).hexdigest()}")
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        previous = signature
        if i == tamper_index:
            data = bytes([data[0] ^ 1]) + data[1:]
        out.append(b"%x;chunk-signature=%s\r\n%s\r\n" % (len(data), signature.encode(), data))
    return b"".join(out)


def unsigned_chunks_with_trailer(chunks, trailer_name, trailer_value):
    out = [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks]
    out.append(b"0\r\n%s:%s\r\n\r\n" % (trailer_name.encode(), trailer_value.encode()))
    return b"".join(out)


def past(hours):
    return datetime.now(timezone.utc) - timedelta(hours=hours)
