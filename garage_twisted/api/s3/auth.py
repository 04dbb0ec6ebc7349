"""From a request to the caller's access key, through SigV4 or SigV2.

A request signs with SigV2 when its ``Authorization`` header starts with
``AWS `` or its query carries ``AWSAccessKeyId`` / ``Signature``
(:mod:`.sigv2`); with SigV4 otherwise (:mod:`.sigv4`). SigV2 is refused 400
when ``[s3_api] allow_sigv2 = false``, before any key is looked up.

Anonymous requests are refused (the S3 API always needs a key; public
websites are served by the web endpoint). The key is looked up in the key
table; an unknown or deleted key is InvalidAccessKeyId.
"""

from garage_twisted.api.s3 import errors, sigv2, sigv4
from garage_twisted.api.s3.router import bucket_of_host

# AWS's words when a region refuses SigV2: clients that know them (s3cmd)
# switch to SigV4 by themselves. The reason is in the error's Detail.
SIGV2_REFUSED = ("The authorization mechanism you have provided is not supported. "
                 "Please use AWS4-HMAC-SHA256.")
SIGV2_DISABLED = ("Signature Version 2 is disabled on this server "
                  "([s3_api] allow_sigv2 = false); sign with SigV4 (AWS4-HMAC-SHA256)")


def _headers(request) -> dict:
    headers = {}
    for name, values in request.requestHeaders.getAllRawHeaders():
        headers[name.decode("latin-1").lower()] = ",".join(
            v.decode("latin-1") for v in values)
    return headers


def check_sigv2_allowed(api) -> None:
    """:raises errors.InvalidRequest: SigV2 is turned off."""
    if not api.allow_sigv2:
        raise errors.InvalidRequest(SIGV2_REFUSED, extra={"Detail": SIGV2_DISABLED})


async def key_of(api, access_key: str):
    """The key named ``access_key``.

    :raises errors.InvalidAccessKeyId: no such key.
    """
    key = await api.helper.get_key(access_key)
    if key is None:
        raise errors.InvalidAccessKeyId(
            "The AWS Access Key Id you provided does not exist in our records.")
    return key


async def authenticate(api, request, raw_path: bytes, raw_query: str):
    """Verify ``request``'s signature.

    :returns: ``(key, auth)``: a :class:`.sigv4.VerifiedAuth` or a
        :class:`.sigv2.VerifiedAuth` (same payload attributes).
    :raises errors.S3Error: AccessDenied, InvalidAccessKeyId,
        SignatureDoesNotMatch, AuthorizationHeaderMalformed...
    """
    headers = _headers(request)
    signed = sigv4.SignedRequest(
        request.method.decode("ascii"), raw_path.decode("latin-1"), raw_query,
        headers, api.clock.seconds())
    if sigv2.is_sigv2(headers, raw_query):
        return await _authenticate_v2(api, request, signed)
    auth = sigv4.parse(signed)
    if auth is None:
        raise errors.AccessDenied("Anonymous access is not allowed: sign your requests")
    key = await key_of(api, auth.access_key)
    verified = sigv4.verify(signed, auth, key.params.secret_key, api.region)
    return key, verified


async def _authenticate_v2(api, request, signed):
    check_sigv2_allowed(api)
    auth = sigv2.parse(signed.headers, signed.raw_query)
    key = await key_of(api, auth.access_key)
    host = signed.headers.get("host")
    verified = sigv2.verify(signed, auth, key.params.secret_key,
                            bucket_of_host(host, api.root_domain))
    if auth.presigned:
        # Signed query parameters standing for headers are obeyed as headers.
        for name, value in sigv2.presigned_headers(signed.headers, signed.raw_query).items():
            request.requestHeaders.setRawHeaders(name.encode("latin-1"),
                                                 [value.encode("latin-1")])
    return key, verified
