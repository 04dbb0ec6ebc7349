"""What this node does not build, refused before any work is done.

An S3 request asks for features through headers, query parameters and a few
XML elements. When one asks for something this node lacks, the whole
request is refused, never half done: once a bucket was created without the
Object Lock it asked for, an object asked as GLACIER was stored as
STANDARD, tags were dropped, and a ``versionId`` read or deleted the current
object (tags and versions are built now). A feature AWS offers and this node lacks answers 501
NotImplemented, naming it; a value AWS itself rejects gets AWS's error (an
unknown storage class: 400 InvalidStorageClass).

Every decision is in the tables of this module: :data:`REFUSED` (headers and
form fields, with the values that ask for nothing unbuilt),
:data:`STORAGE_CLASSES`, :data:`REFUSED_QUERY`, and the body elements of DeleteObjects and CreateBucket. What is deliberately
accepted and ignored, with why, is in :data:`IGNORED`, so that every
request field AWS defines for the operations this node serves is decided
here once. Operations this node does not serve at all (``?replication``...) are not listed: the router
names them and the dispatcher answers 501 (:data:`.router.IMPLEMENTED`).

Where it runs: :func:`check_request` in the dispatcher, once the request is
authenticated and before its bucket is read or its body touched;
:func:`check_form` on a browser POST's fields before the file is read;
:func:`check_delete_entry` and :func:`check_bucket_configuration` on the
bodies of DeleteObjects and CreateBucket, which their handlers parse before
writing anything. All are pure functions of the request's fields.
"""

from dataclasses import dataclass

from garage_twisted.api.s3 import errors

# Operations that create an object version from the request's headers.
OBJECT_WRITES = frozenset({"PutObject", "CopyObject", "CreateMultipartUpload", "PostObject"})
# Operations whose body an x-amz-checksum-* header covers.
CHECKSUMMED = frozenset({"PutObject", "UploadPart", "CompleteMultipartUpload"})


@dataclass(frozen=True)
class Refused:
    """A header (or form field) asking for ``feature`` on ``operations``.

    ``harmless`` lists the values (compared upper-cased, stripped) that ask
    for nothing this node lacks, e.g. a legal hold ``OFF``. When ``only``
    is given, just those values (compared the same way) are refused: the
    header is built for others, whose handler checks them.
    """

    name: str
    feature: str
    operations: frozenset
    harmless: frozenset = frozenset()
    only: frozenset | None = None

    def refuses(self, value: str) -> bool:
        wanted = value.strip().upper()
        if self.only is not None:
            return wanted in self.only
        return wanted not in self.harmless


_LOCK = "Object Lock"
_KMS = "server-side encryption with KMS keys (SSE-KMS)"

REFUSED = (
    Refused("x-amz-object-lock-event-hold", _LOCK + " event holds", OBJECT_WRITES,
            frozenset({"OFF"})),
    Refused("x-amz-object-lock-event-hold-duration-days", _LOCK + " event holds",
            OBJECT_WRITES),
    Refused("x-amz-object-lock-event-hold-duration-years", _LOCK + " event holds",
            OBJECT_WRITES),
    # SSE-C and SSE-S3 (AES256) are built (encryption.py, sse_s3.py); keys
    # in a KMS are not: the object would sit in clear, or under a key the
    # client did not ask for.
    Refused("x-amz-server-side-encryption",
            _KMS + " (SSE-S3, x-amz-server-side-encryption: AES256, and SSE-C are "
            "implemented)", OBJECT_WRITES, only=frozenset({"AWS:KMS", "AWS:KMS:DSSE"})),
    Refused("x-amz-server-side-encryption-aws-kms-key-id", _KMS, OBJECT_WRITES),
    Refused("x-amz-server-side-encryption-context", _KMS, OBJECT_WRITES),
    Refused("x-amz-server-side-encryption-bucket-key-enabled", "S3 Bucket Keys (SSE-KMS)",
            OBJECT_WRITES, frozenset({"FALSE"})),
    Refused("x-amz-write-offset-bytes", "appends to an object", frozenset({"PutObject"})),
    # Conditional deletes and aborts: ignored, they would delete unconditionally.
    Refused("if-match", "conditional deletes", frozenset({"DeleteObject"})),
    Refused("x-amz-if-match-last-modified-time", "conditional deletes",
            frozenset({"DeleteObject"})),
    Refused("x-amz-if-match-size", "conditional deletes", frozenset({"DeleteObject"})),
    Refused("x-amz-if-match-initiated-time", "conditional aborts of multipart uploads",
            frozenset({"AbortMultipartUpload"})),
    Refused("x-amz-mfa", "MFA delete", frozenset({"DeleteObject", "DeleteObjects",
                                                  "PutBucketVersioning"})),
    Refused("x-amz-mp-object-size", "the object size check of CompleteMultipartUpload",
            frozenset({"CompleteMultipartUpload"})),
    Refused("x-amz-bucket-namespace", "account-regional bucket namespaces",
            frozenset({"CreateBucket"}), frozenset({"GLOBAL"})),
) + tuple(
    # Checksum algorithms AWS defines beyond those of checksum.py: ignored,
    # the body would be stored unchecked.
    Refused(f"x-amz-checksum-{algorithm}", f"{algorithm.upper()} checksums", CHECKSUMMED)
    for algorithm in ("sha512", "md5", "xxhash64", "xxhash3", "xxhash128")
)

# Query parameters asking for an unbuilt feature, by operation.
# (None today: ListMultipartUploads's delimiter, the last, is built.)
REFUSED_QUERY = {}

# The one storage class built, and those AWS knows (others: 400).
STORAGE_CLASS_BUILT = "STANDARD"
STORAGE_CLASSES = frozenset({
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE",
    "FSX_OPENZFS", "FSX_ONTAP",
})

# Accepted and ignored, with why (Garage ignores them all too). ACL headers
# (x-amz-acl, x-amz-grant-*) are built: api/s3/acl.py.
IGNORED = {
    "x-amz-confirm-remove-self-bucket-access": "a confirmation AWS asks of an account that "
                                               "would deny itself; here the admin API (garage "
                                               "bucket policy delete) always can undo it",
    "x-amz-object-ownership": "the keys with owner rights own every object (as "
                              "BucketOwnerEnforced, AWS's default); ACLs only add public "
                              "grants (acl.py)",
    "x-amz-expected-bucket-owner": "accounts do not exist here",
    "x-amz-source-expected-bucket-owner": "accounts do not exist here",
    "x-amz-request-payer": "nothing is charged",
    "x-amz-bucket-object-lock-token": "a token AWS asks for only when replication is "
                                      "configured, which it never is here",
    "x-amz-object-annotation-directive": "no object has annotations",
    "x-amz-optional-object-attributes": "RestoreStatus: no object is archived",
    "x-amz-transition-default-minimum-object-size": "transitions are refused in the "
                                                    "lifecycle body",
    "x-amz-checksum-algorithm": "on CopyObject: the copy keeps the source's checksum "
                                "(CreateMultipartUpload builds it)",
}


def _not_implemented(feature: str, name: str, value: str) -> errors.S3Error:
    return errors.NotImplemented(
        f"A header you provided implies functionality that is not implemented: {feature} "
        f"({name}: {value[:100]})", extra={"Header": name})


def _refused_by_operation():
    table = {}
    for rule in REFUSED:
        for operation in rule.operations:
            table.setdefault(operation, []).append(rule)
    return {operation: tuple(rules) for operation, rules in table.items()}


_BY_OPERATION = _refused_by_operation()


def check_storage_class(value: str | None, name: str = "x-amz-storage-class") -> None:
    """Refuse a storage class other than STANDARD.

    :raises errors.InvalidStorageClass: a class AWS does not know.
    :raises errors.NotImplemented: one it knows and this node lacks.
    """
    if value is None:
        return
    wanted = value.strip().upper()
    if wanted == STORAGE_CLASS_BUILT:
        return
    if wanted not in STORAGE_CLASSES:
        raise errors.InvalidStorageClass("The storage class you specified is not valid",
                                         extra={"StorageClassRequested": value[:100]})
    raise _not_implemented(f"the {wanted} storage class (every object is stored as "
                           f"{STORAGE_CLASS_BUILT})", name, value)


def check_headers(operation: str, header) -> None:
    """Refuse the headers (or form fields) of ``operation`` that ask for
    something unbuilt; ``header(lower-case name) -> str or None``.

    :raises errors.S3Error: see the module docstring.
    """
    for rule in _BY_OPERATION.get(operation, ()):
        value = header(rule.name)
        if value is not None and rule.refuses(value):
            raise _not_implemented(rule.feature, rule.name, value)
    if operation in OBJECT_WRITES:
        check_storage_class(header("x-amz-storage-class"))


def check_request(operation: str, query: dict, header) -> None:
    """Refuse a request asking for something unbuilt (module docstring).

    :param operation: the endpoint's name (``PutObject``...).
    :param query: the decoded query parameters.
    :param header: ``header(lower-case name) -> str or None``.
    :raises errors.S3Error: NotImplemented, or AWS's error for the value.
    """
    check_headers(operation, header)
    for (refused_operation, name), feature in REFUSED_QUERY.items():
        if refused_operation == operation and name in query:
            raise errors.NotImplemented(
                f"A parameter you provided implies functionality that is not implemented: "
                f"{feature} ({name}={query[name][:100]})")


def check_form(fields: dict) -> None:
    """Refuse a browser POST whose fields (lower-case names) ask for
    something unbuilt, before its file is read."""
    check_headers("PostObject", fields.get)


def check_delete_entry(fields: dict) -> None:
    """Refuse one ``<Object>`` of a DeleteObjects document (child element
    name -> text) naming a condition; the handler calls it on every entry
    before deleting any.

    :raises errors.NotImplemented: a conditional delete (``ETag``,
        ``LastModifiedTime``, ``Size``).
    """
    for name in ("ETag", "LastModifiedTime", "Size"):
        if name in fields:
            raise errors.NotImplemented(
                "An element you provided implies functionality that is not implemented: "
                f"conditional deletes (<{name}> in <Object>)")


# CreateBucketConfiguration elements other than LocationConstraint.
_BUCKET_CONFIGURATION = {
    "Location": "directory buckets",
    "Bucket": "directory buckets",
    "Tags": "bucket tagging",
}


def check_bucket_configuration(element_names) -> None:
    """Refuse a CreateBucketConfiguration naming an unbuilt feature, given
    the local names of its elements.

    :raises errors.NotImplemented: directory buckets, bucket tags.
    """
    for name in element_names:
        feature = _BUCKET_CONFIGURATION.get(name)
        if feature is not None:
            raise errors.NotImplemented(
                "An element you provided implies functionality that is not implemented: "
                f"{feature} (<{name}> in CreateBucketConfiguration)")
