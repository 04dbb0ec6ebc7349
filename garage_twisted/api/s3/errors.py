"""S3 errors: the only place that picks HTTP statuses and S3 error codes.

Each class is named after the AWS error code it renders; ``status`` is the
HTTP status AWS uses for it. :func:`render_error_xml` is the one renderer,
and :func:`from_model_error` the one translation of model-layer errors.
"""

from xml.sax.saxutils import escape

from garage_twisted.model import errors as model_errors
from garage_twisted.util.errors import GarageError


class S3Error(GarageError):
    """An error answered to an S3 client."""

    code = "InternalError"
    status = 500

    def __init__(self, message: str = "", resource: str | None = None,
                 extra: dict | None = None, headers: tuple = ()):
        super().__init__(message or self.code)
        self.resource = resource
        self.extra = dict(extra or {})
        # ((name, value), ...) bytes: response headers that qualify the
        # error (a delete marker's x-amz-delete-marker and version id).
        self.headers = tuple(headers)


def _error(name: str, status: int, doc: str = ""):
    cls = type(name, (S3Error,), {"code": name, "status": status, "__doc__": doc or name})
    return cls


AccessDenied = _error("AccessDenied", 403)
SignatureDoesNotMatch = _error("SignatureDoesNotMatch", 403)
InvalidAccessKeyId = _error("InvalidAccessKeyId", 403)
RequestTimeTooSkewed = _error("RequestTimeTooSkewed", 403)
AuthorizationHeaderMalformed = _error("AuthorizationHeaderMalformed", 400)
AuthorizationQueryParametersError = _error("AuthorizationQueryParametersError", 400)
InvalidRequest = _error("InvalidRequest", 400)
InvalidURI = _error("InvalidURI", 400,
                    "A request target that is not valid UTF-8 once percent-decoded.")
InvalidArgument = _error("InvalidArgument", 400)
InvalidDigest = _error("InvalidDigest", 400)
BadDigest = _error("BadDigest", 400)
XAmzContentSHA256Mismatch = _error("XAmzContentSHA256Mismatch", 400)
IncompleteBody = _error("IncompleteBody", 400)
InvalidBucketName = _error("InvalidBucketName", 400)
InvalidLocationConstraint = _error("InvalidLocationConstraint", 400)
BucketAlreadyExists = _error("BucketAlreadyExists", 409)
BucketAlreadyOwnedByYou = _error("BucketAlreadyOwnedByYou", 409)
BucketNotEmpty = _error("BucketNotEmpty", 409)
NoSuchBucket = _error("NoSuchBucket", 404)
NoSuchKey = _error("NoSuchKey", 404)
NoSuchUpload = _error("NoSuchUpload", 404)
InvalidRange = _error("InvalidRange", 416)
InvalidPartNumber = _error("InvalidPartNumber", 416,
                           "A ?partNumber= read of a part the object does not have.")
PreconditionFailed = _error("PreconditionFailed", 412)
NoSuchVersion = _error("NoSuchVersion", 404)
InvalidStorageClass = _error("InvalidStorageClass", 400)
NoSuchCORSConfiguration = _error("NoSuchCORSConfiguration", 404)
InvalidPolicyDocument = _error("InvalidPolicyDocument", 400)
NoSuchLifecycleConfiguration = _error("NoSuchLifecycleConfiguration", 404)
NoSuchWebsiteConfiguration = _error("NoSuchWebsiteConfiguration", 404)
NoSuchTagSet = _error("NoSuchTagSet", 404)
InvalidTag = _error("InvalidTag", 400)
ConditionalRequestConflict = _error("ConditionalRequestConflict", 409)
MalformedPOSTRequest = _error("MalformedPOSTRequest", 400)
MalformedXML = _error("MalformedXML", 400)
MethodNotAllowed = _error("MethodNotAllowed", 405)
NotImplemented = _error("NotImplemented", 501)  # noqa: A001 - the AWS code
InternalError = _error("InternalError", 500)
ServiceUnavailable = _error("ServiceUnavailable", 503)
SlowDown = _error("SlowDown", 503, "Too many requests on one key or connection.")
EntityTooLarge = _error("EntityTooLarge", 400)
EntityTooSmall = _error("EntityTooSmall", 400)
KeyTooLongError = _error("KeyTooLongError", 400)
MetadataTooLarge = _error("MetadataTooLarge", 400)
MissingContentLength = _error("MissingContentLength", 411)
InvalidPart = _error("InvalidPart", 400)
InvalidPartOrder = _error("InvalidPartOrder", 400)
InvalidBucketState = _error("InvalidBucketState", 409)
UnexpectedContent = _error("UnexpectedContent", 400)
MissingSecurityHeader = _error("MissingSecurityHeader", 400)
NoSuchPublicAccessBlockConfiguration = _error("NoSuchPublicAccessBlockConfiguration", 404)
NoSuchBucketPolicy = _error("NoSuchBucketPolicy", 404)
MalformedPolicy = _error("MalformedPolicy", 400)
MalformedACLError = _error("MalformedACLError", 400)
ObjectLockConfigurationNotFoundError = _error("ObjectLockConfigurationNotFoundError", 404)
NoSuchObjectLockConfiguration = _error("NoSuchObjectLockConfiguration", 404)
ServerSideEncryptionConfigurationNotFoundError = _error(
    "ServerSideEncryptionConfigurationNotFoundError", 404)


_FROM_MODEL = {
    model_errors.NoSuchBucket: NoSuchBucket,
    model_errors.BucketNotEmpty: BucketNotEmpty,
    model_errors.BucketAlreadyExists: BucketAlreadyExists,
    model_errors.BucketAlreadyOwnedByYou: BucketAlreadyOwnedByYou,
    model_errors.InvalidBucketName: InvalidBucketName,
    model_errors.NoSuchAccessKey: InvalidAccessKeyId,
}


def from_model_error(error: model_errors.ModelError) -> S3Error:
    """The S3 error a model-layer error is answered with."""
    for cls in type(error).__mro__:
        target = _FROM_MODEL.get(cls)
        if target is not None:
            return target(error.message)
    return InvalidRequest(error.message)


# The response headers an error keeps (lower case): those every response
# carries, and those that qualify the error itself. The bucket's CORS
# headers (``access-control-*``) stay too: a browser reads no error without
# them. Everything else (an object's ETag, checksum, x-amz-meta-*, ranges)
# described a success that did not happen.
ERROR_RESPONSE_HEADERS = frozenset({
    b"x-amz-request-id", b"x-amz-id-2", b"server", b"date", b"connection", b"vary",
    b"allow", b"x-amz-bucket-region",
})


def keep_error_headers(headers) -> None:
    """Remove from ``headers`` (Twisted ``Headers`` of a response about to
    carry an error) all but :data:`ERROR_RESPONSE_HEADERS` and CORS headers."""
    for name, _ in list(headers.getAllRawHeaders()):
        lower = name.lower()
        if lower not in ERROR_RESPONSE_HEADERS and not lower.startswith(b"access-control-"):
            headers.removeHeader(name)


def render_error_xml(error: S3Error, request_id: str, resource: str | None = None) -> bytes:
    """The XML body of an S3 error response."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?><Error>',
        f"<Code>{escape(error.code)}</Code>",
        f"<Message>{escape(error.message)}</Message>",
    ]
    resource = error.resource if error.resource is not None else resource
    if resource is not None:
        parts.append(f"<Resource>{escape(resource)}</Resource>")
    parts.append(f"<RequestId>{escape(request_id)}</RequestId>")
    for name, value in error.extra.items():
        parts.append(f"<{name}>{escape(str(value))}</{name}>")
    parts.append("</Error>")
    return "".join(parts).encode("utf-8")
