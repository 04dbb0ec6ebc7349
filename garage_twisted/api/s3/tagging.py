"""Tag sets of objects and buckets: parsed, checked against AWS's rules,
written back.

A tag set is a tuple of ``(key, value)`` pairs sorted by key (so that two
equal sets are equal values in the tables). It comes as XML
(``<Tagging><TagSet><Tag><Key/><Value/></Tag>...``: PutObjectTagging,
PutBucketTagging, a browser POST's ``tagging`` field) or as the URL-encoded
``x-amz-tagging`` header (``k1=v1&k2=v2``: PutObject, CreateMultipartUpload,
CopyObject with ``x-amz-tagging-directive: REPLACE``).

AWS's rules, each an ``InvalidTag`` (400): at most 10 tags on an object and
50 on a bucket; keys of 1 to 128 and values of 0 to 256 Unicode characters,
made of letters, digits, spaces and ``+ - = . _ : / @``; no key twice; no
key starting with ``aws:``.

Where tags live: an object version's creation tags in its
:class:`~garage_twisted.model.object.ObjectVersionMeta` (``tags``), later
changes in its ``tags`` register (last writer wins), a bucket's in its
``tags_config`` register.
"""

from urllib.parse import parse_qsl, urlencode

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.body import read_small_body
from garage_twisted.api.s3.bucket_config import BucketConfigOps
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.get import load_version
from garage_twisted.api.s3.versioning import set_version_header, set_version_register
from garage_twisted.api.s3.xml import children, document, element, local_name, parse_document

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
MAX_TAGGING_BODY = 64 * 1024
_ALLOWED_SIGNS = frozenset("+-=._:/@ ")


def _allowed(text: str) -> bool:
    return all(c.isalnum() or c in _ALLOWED_SIGNS for c in text)


def checked(pairs, limit: int = MAX_OBJECT_TAGS) -> tuple:
    """``pairs`` as a tag set (sorted by key), checked.

    :raises errors.InvalidTag: a rule of the module docstring broken.
    """
    pairs = list(pairs)
    if len(pairs) > limit:
        what = "Object" if limit == MAX_OBJECT_TAGS else "Bucket"
        raise errors.InvalidTag(f"{what} tags cannot be greater than {limit}")
    seen = set()
    for key, value in pairs:
        if len(key) > MAX_KEY_LENGTH:
            raise errors.InvalidTag(f"The TagKey you have provided is too long, max "
                                    f"{MAX_KEY_LENGTH}", extra={"TagKey": key[:200]})
        if len(value) > MAX_VALUE_LENGTH:
            raise errors.InvalidTag(f"The TagValue you have provided is too long, max "
                                    f"{MAX_VALUE_LENGTH}", extra={"TagKey": key[:200]})
        if not key or not _allowed(key):
            raise errors.InvalidTag("The TagKey you have provided is invalid",
                                    extra={"TagKey": key[:200]})
        if not _allowed(value):
            raise errors.InvalidTag("The TagValue you have provided is invalid",
                                    extra={"TagKey": key[:200]})
        if key.lower().startswith("aws:"):
            raise errors.InvalidTag("Your TagKey cannot be prefixed with aws:",
                                    extra={"TagKey": key[:200]})
        if key in seen:
            raise errors.InvalidTag("Cannot provide multiple Tags with the same key",
                                    extra={"TagKey": key[:200]})
        seen.add(key)
    return tuple(sorted(pairs))


def from_header(value: str | None) -> tuple | None:
    """The tag set of an ``x-amz-tagging`` header (None without one)."""
    if value is None:
        return None
    try:
        pairs = parse_qsl(value, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidArgument("The header 'x-amz-tagging' shall be encoded as UTF-8 "
                                     "then URLEncoded URL query parameters without tag "
                                     "name duplicates.") from None
    return checked(pairs)


def from_xml(body: bytes, limit: int = MAX_OBJECT_TAGS) -> tuple:
    """The tag set of a ``<Tagging>`` document."""
    root = parse_document(body, "Tagging")
    parts = children(root)
    if "TagSet" not in parts:
        raise errors.MalformedXML("a Tagging document needs a TagSet")
    pairs = []
    for tag in parts["TagSet"]:
        if local_name(tag.tag) != "Tag":
            raise errors.MalformedXML("a TagSet holds Tag elements")
        fields = children(tag)
        if "Key" not in fields:
            raise errors.MalformedXML("each Tag needs a Key")
        pairs.append((fields["Key"].text or "", fields["Value"].text or ""
                      if "Value" in fields else ""))
    return checked(pairs, limit)


def to_xml(tags: tuple) -> bytes:
    """The ``<Tagging>`` document of a tag set."""
    inner = "".join("<Tag>" + element("Key", key) + element("Value", value) + "</Tag>"
                    for key, value in tags)
    return document("Tagging", ["<TagSet>" + inner + "</TagSet>"])


def to_header(tags: tuple) -> str:
    """A tag set as an ``x-amz-tagging`` value (kept in an upload's headers)."""
    return urlencode(tags)


async def get_object_tagging(ctx: RequestContext) -> bytes:
    version = await load_version(ctx)
    set_version_header(ctx, version)
    return respond(ctx.request, to_xml(version.tag_set))


async def put_object_tagging(ctx: RequestContext) -> bytes:
    tags = from_xml(await read_small_body(ctx, MAX_TAGGING_BODY))
    await _set_object_tags(ctx, tags)
    return respond(ctx.request)


async def delete_object_tagging(ctx: RequestContext) -> bytes:
    await _set_object_tags(ctx, ())
    return respond(ctx.request, status=204)


async def _set_object_tags(ctx: RequestContext, tags: tuple) -> None:
    """Set the tags of the version addressed (the latest by default)."""
    await set_version_register(ctx, await load_version(ctx), "tags", tags)


# PUT/GET/DELETE of the bucket's tags_config.
_BUCKET_OPS = BucketConfigOps("tags_config", lambda body: from_xml(body, MAX_BUCKET_TAGS),
                              to_xml, MAX_TAGGING_BODY, errors.NoSuchTagSet,
                              "The TagSet does not exist")
put_bucket_tagging = _BUCKET_OPS.put
get_bucket_tagging = _BUCKET_OPS.get
delete_bucket_tagging = _BUCKET_OPS.delete
