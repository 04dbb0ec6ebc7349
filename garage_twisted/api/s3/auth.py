"""From a request to the caller's access key, through SigV4.

Anonymous requests are refused (the S3 API always needs a key; public
websites are served by the web endpoint). The key is looked up in the key
table; an unknown or deleted key is InvalidAccessKeyId.
"""

from garage_twisted.api.s3 import errors, sigv4


def _headers(request) -> dict:
    headers = {}
    for name, values in request.requestHeaders.getAllRawHeaders():
        headers[name.decode("latin-1").lower()] = ",".join(
            v.decode("latin-1") for v in values)
    return headers


async def authenticate(api, request, raw_path: bytes, raw_query: str):
    """Verify ``request``'s signature.

    :returns: ``(key, VerifiedAuth)``.
    :raises errors.S3Error: AccessDenied, InvalidAccessKeyId,
        SignatureDoesNotMatch, AuthorizationHeaderMalformed...
    """
    signed = sigv4.SignedRequest(
        request.method.decode("ascii"), raw_path.decode("latin-1"), raw_query,
        _headers(request), api.clock.seconds())
    auth = sigv4.parse(signed)
    if auth is None:
        raise errors.AccessDenied("Anonymous access is not allowed: sign your requests")
    key = await api.helper.get_key(auth.access_key)
    if key is None:
        raise errors.InvalidAccessKeyId(
            "The AWS Access Key Id you provided does not exist in our records.")
    verified = sigv4.verify(signed, auth, key.params.secret_key, api.region)
    return key, verified
