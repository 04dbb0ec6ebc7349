"""Errors of the model layer (bucket and key management).

Front ends translate them: the S3 API to S3 error codes, the admin API to
HTTP statuses with Garage's admin error codes.
"""

from garage_twisted.util.errors import GarageError


class ModelError(GarageError):
    code = "ModelError"


class BadRequest(ModelError):
    code = "BadRequest"


class InvalidBucketName(BadRequest):
    code = "InvalidBucketName"


class NoSuchBucket(ModelError):
    code = "NoSuchBucket"


class NoSuchAccessKey(ModelError):
    code = "NoSuchAccessKey"


class BucketAlreadyExists(ModelError):
    """The name is taken by a bucket the caller does not own."""

    code = "BucketAlreadyExists"


class BucketAlreadyOwnedByYou(ModelError):
    code = "BucketAlreadyOwnedByYou"


class BucketNotEmpty(ModelError):
    code = "BucketNotEmpty"


class KeyAlreadyExists(ModelError):
    code = "KeyAlreadyExists"
