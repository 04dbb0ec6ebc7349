"""From a raw HTTP request to a typed S3 endpoint.

S3 names its operations by method, by whether a bucket and a key are present,
and by query keywords (``?uploads``, ``?delete``, ``?cors``...).
:func:`parse_endpoint` applies those rules (as Garage's ``router.rs``) to the
*raw* request target: the key is the percent-decoded raw path, so ``//``,
``.``/``..`` segments and ``+`` survive exactly as the client sent them
(werkzeug's routing would merge and decode them, corrupting keys and SigV4
canonical URIs).

Bucket addressing: virtual-host style when ``root_domain`` is configured and
the Host header ends with it (``bucket.s3.example.org``), else path style
(``/bucket/key``).
"""

from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, unquote_to_bytes

from garage_twisted.api.s3 import errors

# Endpoints this node answers; every other recognized operation gets 501.
IMPLEMENTED = frozenset({
    "ListBuckets", "CreateBucket", "HeadBucket", "DeleteBucket",
    "GetBucketLocation", "PutObject", "GetObject", "HeadObject",
    "DeleteObject", "DeleteObjects", "ListObjectsV2", "ListObjects", "CopyObject",
    "GetObjectAttributes", "ListObjectVersions",
    "GetBucketVersioning", "GetBucketAcl", "UploadPartCopy",
    "PutBucketCors", "GetBucketCors", "DeleteBucketCors", "Options", "PostObject",
    "PutBucketLifecycleConfiguration", "GetBucketLifecycleConfiguration",
    "DeleteBucketLifecycle", "PutBucketWebsite", "GetBucketWebsite", "DeleteBucketWebsite",
    "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
    "AbortMultipartUpload", "ListParts", "ListMultipartUploads",
    "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging",
    "GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging",
    "PutBucketVersioning", "GetObjectLockConfiguration", "PutObjectLockConfiguration",
    "PutBucketEncryption", "GetBucketEncryption", "DeleteBucketEncryption",
    "GetObjectRetention", "PutObjectRetention", "GetObjectLegalHold", "PutObjectLegalHold",
    "PutBucketAcl", "GetObjectAcl", "PutObjectAcl", "GetPublicAccessBlock",
    "PutPublicAccessBlock", "DeletePublicAccessBlock", "GetBucketPolicy", "PutBucketPolicy",
    "DeleteBucketPolicy", "GetBucketPolicyStatus",
})

# Query keywords that select a bucket sub-resource, with the endpoint name
# per method (GET, PUT, DELETE, POST).
_BUCKET_SUBRESOURCES = {
    "location": {"GET": "GetBucketLocation"},
    "versioning": {"GET": "GetBucketVersioning", "PUT": "PutBucketVersioning"},
    "versions": {"GET": "ListObjectVersions"},
    "uploads": {"GET": "ListMultipartUploads"},
    "cors": {"GET": "GetBucketCors", "PUT": "PutBucketCors", "DELETE": "DeleteBucketCors"},
    "website": {"GET": "GetBucketWebsite", "PUT": "PutBucketWebsite",
                "DELETE": "DeleteBucketWebsite"},
    "lifecycle": {"GET": "GetBucketLifecycleConfiguration",
                  "PUT": "PutBucketLifecycleConfiguration",
                  "DELETE": "DeleteBucketLifecycle"},
    "policy": {"GET": "GetBucketPolicy", "PUT": "PutBucketPolicy",
               "DELETE": "DeleteBucketPolicy"},
    "acl": {"GET": "GetBucketAcl", "PUT": "PutBucketAcl"},
    "tagging": {"GET": "GetBucketTagging", "PUT": "PutBucketTagging",
                "DELETE": "DeleteBucketTagging"},
    "encryption": {"GET": "GetBucketEncryption", "PUT": "PutBucketEncryption",
                   "DELETE": "DeleteBucketEncryption"},
    "replication": {"GET": "GetBucketReplication", "PUT": "PutBucketReplication",
                    "DELETE": "DeleteBucketReplication"},
    "notification": {"GET": "GetBucketNotificationConfiguration",
                     "PUT": "PutBucketNotificationConfiguration"},
    "logging": {"GET": "GetBucketLogging", "PUT": "PutBucketLogging"},
    "requestPayment": {"GET": "GetBucketRequestPayment",
                       "PUT": "PutBucketRequestPayment"},
    "object-lock": {"GET": "GetObjectLockConfiguration",
                    "PUT": "PutObjectLockConfiguration"},
    "ownershipControls": {"GET": "GetBucketOwnershipControls",
                          "PUT": "PutBucketOwnershipControls",
                          "DELETE": "DeleteBucketOwnershipControls"},
    "accelerate": {"GET": "GetBucketAccelerateConfiguration",
                   "PUT": "PutBucketAccelerateConfiguration"},
    "analytics": {"GET": "GetBucketAnalyticsConfiguration",
                  "PUT": "PutBucketAnalyticsConfiguration",
                  "DELETE": "DeleteBucketAnalyticsConfiguration"},
    "metrics": {"GET": "GetBucketMetricsConfiguration",
                "PUT": "PutBucketMetricsConfiguration",
                "DELETE": "DeleteBucketMetricsConfiguration"},
    "inventory": {"GET": "GetBucketInventoryConfiguration",
                  "PUT": "PutBucketInventoryConfiguration",
                  "DELETE": "DeleteBucketInventoryConfiguration"},
    "intelligent-tiering": {"GET": "GetBucketIntelligentTieringConfiguration",
                            "PUT": "PutBucketIntelligentTieringConfiguration",
                            "DELETE": "DeleteBucketIntelligentTieringConfiguration"},
    # Without these, a PUT would be taken for CreateBucket.
    "publicAccessBlock": {"GET": "GetPublicAccessBlock", "PUT": "PutPublicAccessBlock",
                          "DELETE": "DeletePublicAccessBlock"},
    "policyStatus": {"GET": "GetBucketPolicyStatus"},
    "session": {"GET": "CreateSession"},
    "delete": {"POST": "DeleteObjects"},
    # Newer AWS sub-resources: without them a DELETE would be DeleteBucket,
    # a PUT CreateBucket, a GET a listing.
    "abac": {"GET": "GetBucketAbac", "PUT": "PutBucketAbac"},
    "default-storage-class": {"GET": "GetBucketDefaultStorageClass",
                              "PUT": "PutBucketDefaultStorageClass"},
    "metadataTable": {"GET": "GetBucketMetadataTableConfiguration",
                      "POST": "CreateBucketMetadataTableConfiguration",
                      "DELETE": "DeleteBucketMetadataTableConfiguration"},
    "metadataConfiguration": {"GET": "GetBucketMetadataConfiguration",
                              "POST": "CreateBucketMetadataConfiguration",
                              "DELETE": "DeleteBucketMetadataConfiguration"},
    "metadataAnnotationTable": {"PUT": "UpdateBucketMetadataAnnotationTableConfiguration"},
    "metadataInventoryTable": {"PUT": "UpdateBucketMetadataInventoryTableConfiguration"},
    "metadataJournalTable": {"PUT": "UpdateBucketMetadataJournalTableConfiguration"},
}

_OBJECT_SUBRESOURCES = {
    "acl": {"GET": "GetObjectAcl", "PUT": "PutObjectAcl"},
    "tagging": {"GET": "GetObjectTagging", "PUT": "PutObjectTagging",
                "DELETE": "DeleteObjectTagging"},
    "retention": {"GET": "GetObjectRetention", "PUT": "PutObjectRetention"},
    "legal-hold": {"GET": "GetObjectLegalHold", "PUT": "PutObjectLegalHold"},
    "torrent": {"GET": "GetObjectTorrent"},
    "restore": {"POST": "RestoreObject"},
    "select": {"POST": "SelectObjectContent"},
    "attributes": {"GET": "GetObjectAttributes"},
    "uploads": {"POST": "CreateMultipartUpload"},
    # Without these, a PUT would overwrite the object with the request's
    # body, a DELETE delete it.
    "annotation": {"GET": "GetObjectAnnotation", "PUT": "PutObjectAnnotation",
                   "DELETE": "DeleteObjectAnnotation"},
    "renameObject": {"PUT": "RenameObject"},
    "encryption": {"PUT": "UpdateObjectEncryption"},
    "part": {"GET": "GetPart"},
}


@dataclass(frozen=True)
class Endpoint:
    """One S3 operation, with the bucket and key it addresses."""

    name: str
    bucket: str | None = None
    key: str | None = None
    query: dict = field(default_factory=dict)

    @property
    def implemented(self) -> bool:
        return self.name in IMPLEMENTED


def split_target(raw_uri: bytes) -> tuple[bytes, str]:
    """Split a raw request target into (raw path, raw query string)."""
    path, _, query = raw_uri.partition(b"?")
    return path, query.decode("latin-1")


# AWS's words for a target that is not UTF-8 once percent-decoded.
INVALID_URI_MESSAGE = "Couldn't parse the specified URI."


def parse_query(raw_query: str) -> dict:
    """Query parameters, first value of each, values percent-decoded.

    :raises errors.InvalidURI: a name or value not UTF-8 once decoded.
    """
    if not raw_query:
        return {}
    params = {}
    try:
        pairs = parse_qsl(raw_query, keep_blank_values=True, encoding="utf-8",
                          errors="strict")
    except UnicodeDecodeError:
        raise errors.InvalidURI(INVALID_URI_MESSAGE) from None
    for name, value in pairs:
        params.setdefault(name, value)
    return params


def decode_path(raw: bytes) -> str:
    """``raw`` (part of a request path) percent-decoded as UTF-8.

    A key is UTF-8 text: bytes that do not decode name no key (as on AWS,
    which answers 400 rather than a 404 for a key that cannot exist).

    :raises errors.InvalidURI: not UTF-8 once decoded.
    """
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidURI(INVALID_URI_MESSAGE) from None


def bucket_of_host(host: str | None, root_domain: str | None) -> str | None:
    """The bucket a virtual-host style ``host`` (a port allowed) names under
    ``root_domain`` (with or without its leading dot), or ``None``."""
    if not root_domain or not host:
        return None
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    hostname = hostname.lower()
    domain = root_domain.lower().lstrip(".")
    if hostname.endswith("." + domain):
        return hostname[: -len(domain) - 1] or None
    return None


def locate(raw_path: bytes, host: str | None, root_domain: str | None):
    """Bucket name and key of a request (either may be ``None``)."""
    bucket = bucket_of_host(host, root_domain)
    if bucket is not None:
        key = decode_path(raw_path[1:]) if len(raw_path) > 1 else None
        return bucket, key or None
    path = raw_path[1:] if raw_path.startswith(b"/") else raw_path
    if not path:
        return None, None
    bucket_raw, slash, key_raw = path.partition(b"/")
    bucket = decode_path(bucket_raw)
    if not slash or not key_raw:
        return bucket, None
    return bucket, decode_path(key_raw)


def with_copy_source(endpoint: Endpoint, copy_source: bytes | None) -> Endpoint:
    """PutObject / UploadPart with ``x-amz-copy-source`` are CopyObject /
    UploadPartCopy (the only operations told apart by a header)."""
    if copy_source is None:
        return endpoint
    renamed = {"PutObject": "CopyObject", "UploadPart": "UploadPartCopy"}.get(endpoint.name)
    return endpoint if renamed is None else replace(endpoint, name=renamed)


def parse_endpoint(method: str, bucket: str | None, key: str | None, query: dict) -> Endpoint:
    """The S3 operation a request asks for.

    :raises errors.MethodNotAllowed: for a method S3 does not know here.
    """
    if method == "OPTIONS":
        return Endpoint("Options", bucket, key, query)
    if bucket is None:
        if method in ("GET", "HEAD"):
            return Endpoint("ListBuckets", query=query)
        raise errors.MethodNotAllowed(f"method {method} not allowed on the service")
    if key is None:
        return Endpoint(_bucket_endpoint(method, query), bucket, None, query)
    return Endpoint(_object_endpoint(method, query), bucket, key, query)


def _subresource(table, method, query):
    for keyword, by_method in table.items():
        if keyword in query:
            name = by_method.get(method)
            if name is None:
                raise errors.MethodNotAllowed(
                    f"method {method} not allowed with ?{keyword}")
            return name
    return None


def _bucket_endpoint(method: str, query: dict) -> str:
    name = _subresource(_BUCKET_SUBRESOURCES, method, query)
    if name is not None:
        return name
    if method == "GET":
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    if method == "HEAD":
        return "HeadBucket"
    if method == "PUT":
        return "CreateBucket"
    if method == "DELETE":
        return "DeleteBucket"
    if method == "POST":
        return "PostObject"
    raise errors.MethodNotAllowed(f"method {method} not allowed on a bucket")


def _object_endpoint(method: str, query: dict) -> str:
    name = _subresource(_OBJECT_SUBRESOURCES, method, query)
    if name is not None:
        return name
    upload_id = "uploadId" in query
    if method == "GET":
        return "ListParts" if upload_id else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "PUT":
        if upload_id and "partNumber" in query:
            return "UploadPart"  # UploadPartCopy is told apart by its header
        return "PutObject"  # CopyObject likewise
    if method == "DELETE":
        return "AbortMultipartUpload" if upload_id else "DeleteObject"
    if method == "POST":
        if upload_id:
            return "CompleteMultipartUpload"
        raise errors.MethodNotAllowed("POST on an object needs ?uploads or ?uploadId")
    raise errors.MethodNotAllowed(f"method {method} not allowed on an object")
