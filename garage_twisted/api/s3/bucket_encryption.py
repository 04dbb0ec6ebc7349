"""Put/Get/DeleteBucketEncryption: a bucket's default encryption (SSE-S3).

The rule is kept in the bucket's ``encryption_config`` register as
``{"algorithm": "AES256", "bucket_key": bool or None}``. With one set, a new
object written without any encryption header (PutObject, POST, CopyObject's
destination, CreateMultipartUpload) is encrypted with SSE-S3
(:func:`.encryption.key_for_write`); one sent with SSE-C keeps its
customer key. Objects written before the rule stay as they are.

As AWS: one ``<Rule>``; ``AES256`` only here (``aws:kms`` and
``aws:kms:dsse`` answer 501, SSE-KMS not being built); a
``KMSMasterKeyID`` with ``AES256`` is 400 InvalidArgument;
``BucketKeyEnabled`` (S3 Bucket Keys are an SSE-KMS cost saving) is
accepted, kept and echoed, and changes nothing. Without a rule, GET answers
404 ServerSideEncryptionConfigurationNotFoundError. A node without an
SSE-S3 secret refuses PUT with 501: it could write no object the rule asks
for.
"""

from garage_twisted.api.s3 import errors, sse_s3
from garage_twisted.api.s3.bucket_config import BucketConfigOps
from garage_twisted.api.s3.xml import children, document, element, local_name, parse_document

MAX_BODY = 16 * 1024
FIELD = "encryption_config"
_KMS_ALGORITHMS = {"aws:kms", "aws:kms:dsse"}


def parse_encryption(body: bytes) -> dict:
    """The rule of a ``<ServerSideEncryptionConfiguration>`` document.

    :raises errors.MalformedXML: not such a document, or not one valid rule.
    :raises errors.NotImplemented: an SSE-KMS rule.
    :raises errors.InvalidArgument: a KMS key id for AES256.
    """
    root = parse_document(body, "ServerSideEncryptionConfiguration")
    rules = [node for node in root if local_name(node.tag) == "Rule"]
    if len(rules) != 1 or len(root) != 1:
        raise errors.MalformedXML("ServerSideEncryptionConfiguration takes exactly one Rule")
    rule = children(rules[0])
    unknown = set(rule) - {"ApplyServerSideEncryptionByDefault", "BucketKeyEnabled"}
    if unknown:
        raise errors.MalformedXML(f"unexpected <{sorted(unknown)[0]}> in Rule")
    default = rule.get("ApplyServerSideEncryptionByDefault")
    fields = {} if default is None else children(default)
    algorithm = (fields["SSEAlgorithm"].text or "").strip() if "SSEAlgorithm" in fields \
        else None
    if algorithm is None:
        raise errors.MalformedXML("the Rule needs ApplyServerSideEncryptionByDefault with "
                                  "an SSEAlgorithm")
    if algorithm in _KMS_ALGORITHMS:
        raise errors.NotImplemented(
            "An element you provided implies functionality that is not implemented: "
            f"server-side encryption with KMS keys (SSE-KMS: <SSEAlgorithm>{algorithm}"
            "</SSEAlgorithm>); AES256 (SSE-S3) is implemented")
    if algorithm != sse_s3.ALGORITHM:
        raise errors.MalformedXML("The XML you provided was not well-formed or did not "
                                  "validate against our published schema")
    if "KMSMasterKeyID" in fields:
        raise errors.InvalidArgument("a KMSMasterKeyID is not applicable if the default sse "
                                     "algorithm is not aws:kms or aws:kms:dsse")
    if set(fields) - {"SSEAlgorithm", "KMSMasterKeyID"}:
        raise errors.MalformedXML("unexpected element in ApplyServerSideEncryptionByDefault")
    bucket_key = None
    if "BucketKeyEnabled" in rule:
        text = (rule["BucketKeyEnabled"].text or "").strip().lower()
        if text not in ("true", "false"):
            raise errors.MalformedXML("BucketKeyEnabled must be true or false")
        bucket_key = text == "true"
    return {"algorithm": algorithm, "bucket_key": bucket_key}


def encryption_xml(config: dict) -> bytes:
    rule = ("<ApplyServerSideEncryptionByDefault>"
            + element("SSEAlgorithm", config["algorithm"])
            + "</ApplyServerSideEncryptionByDefault>")
    if config.get("bucket_key") is not None:
        rule += element("BucketKeyEnabled", "true" if config["bucket_key"] else "false")
    return document("ServerSideEncryptionConfiguration", ["<Rule>" + rule + "</Rule>"])


_OPS = BucketConfigOps(FIELD, parse_encryption, encryption_xml, MAX_BODY,
                       errors.ServerSideEncryptionConfigurationNotFoundError,
                       "The server side encryption configuration was not found")


async def put_bucket_encryption(ctx) -> bytes:
    sse_s3.keyring_of(ctx)
    return await _OPS.put(ctx)


get_bucket_encryption = _OPS.get
delete_bucket_encryption = _OPS.delete
