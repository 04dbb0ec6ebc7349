"""Admin API errors: the only place that picks their HTTP statuses and codes.

Errors leave as Garage's JSON: ``{"code", "message", "region", "path"}``.
"""

from garage_twisted.model import errors as model_errors
from garage_twisted.rpc.layout import LayoutError
from garage_twisted.util.errors import GarageError


class AdminError(GarageError):
    code = "InternalError"
    status = 500


def _error(name, status):
    return type(name, (AdminError,), {"code": name, "status": status})


BadRequest = _error("BadRequest", 400)
Forbidden = _error("Forbidden", 403)
NoSuchBucket = _error("NoSuchBucket", 404)
NoSuchAccessKey = _error("NoSuchAccessKey", 404)
NoSuchAdminToken = _error("NoSuchAdminToken", 404)
NoSuchEndpoint = _error("NoSuchEndpoint", 404)
NoSuchWorker = _error("NoSuchWorker", 404)
NoSuchBlock = _error("NoSuchBlock", 404)
NoSuchKey = _error("NoSuchKey", 404)
NoSuchBucketPolicy = _error("NoSuchBucketPolicy", 404)
MalformedPolicy = _error("MalformedPolicy", 400)
BucketNotEmpty = _error("BucketNotEmpty", 409)
BucketAlreadyExists = _error("BucketAlreadyExists", 409)
InvalidBucketState = _error("InvalidBucketState", 409)
KeyAlreadyExists = _error("KeyAlreadyExists", 409)
InvalidBucketName = _error("InvalidBucketName", 400)
MethodNotAllowed = _error("MethodNotAllowed", 405)
NotImplemented = _error("NotImplemented", 501)  # noqa: A001
InternalError = _error("InternalError", 500)
# Too much work queued for this node to take more now (as S3's SlowDown).
SlowDown = _error("SlowDown", 503)

_FROM = {
    model_errors.NoSuchBucket: NoSuchBucket,
    model_errors.NoSuchAccessKey: NoSuchAccessKey,
    model_errors.BucketNotEmpty: BucketNotEmpty,
    model_errors.BucketAlreadyExists: BucketAlreadyExists,
    model_errors.BucketAlreadyOwnedByYou: BucketAlreadyExists,
    model_errors.KeyAlreadyExists: KeyAlreadyExists,
    model_errors.InvalidBucketName: InvalidBucketName,
    LayoutError: BadRequest,
}


def to_admin_error(error: GarageError) -> AdminError:
    if isinstance(error, AdminError):
        return error
    for cls in type(error).__mro__:
        target = _FROM.get(cls)
        if target is not None:
            return target(error.message)
    return BadRequest(error.message)
