"""GetObjectAttributes: an object's ETag, checksum, parts, storage class and
size, as the ``x-amz-object-attributes`` header lists them, without its data.

Parts are reported for multipart objects (their ETag ends in ``-N``): their
count always; number, size and checksum of each only when the upload had a
checksum algorithm (AWS lists no ``Part`` otherwise, in general purpose
buckets), read from the version's entry, paged by ``x-amz-max-parts`` and
``x-amz-part-number-marker``. An SSE-C object needs its key (the
``x-amz-server-side-encryption-customer-*`` headers), as HEAD does; sizes
are those of the plain bytes.
"""

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.checksum_algorithms import algorithm_of_header
from garage_twisted.api.s3.context import RequestContext, int_argument, respond
from garage_twisted.api.s3.encryption import key_for_read
from garage_twisted.api.s3.get import load_version, readable_version
from garage_twisted.api.s3.xml import document, element, http_date

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000


def _wanted(ctx: RequestContext) -> set:
    raw = ctx.header(b"x-amz-object-attributes")
    wanted = {a.strip() for a in (raw or "").split(",") if a.strip()}
    if not wanted:
        raise errors.InvalidArgument("x-amz-object-attributes must name at least one of "
                                     + ", ".join(ATTRIBUTES))
    unknown = wanted.difference(ATTRIBUTES)
    if unknown:
        raise errors.InvalidArgument(f"Invalid attribute name specified: {sorted(unknown)[0]}")
    return wanted


def _checksum_xml(meta, checksum_element: str) -> str:
    return ("<Checksum>" + element(checksum_element, meta.checksum[1])
            + element("ChecksumType", meta.checksum_type) + "</Checksum>")


def _parts_xml(ctx: RequestContext, record, checksum_element) -> str:
    sizes = record.part_sizes()
    if checksum_element is None:
        return "<ObjectParts>" + element("PartsCount", len(sizes)) + "</ObjectParts>"
    max_parts = int_argument(ctx.header(b"x-amz-max-parts"), "x-amz-max-parts",
                             MAX_PARTS, MAX_PARTS)
    marker = int_argument(ctx.header(b"x-amz-part-number-marker"),
                          "x-amz-part-number-marker", 0, 10000)
    after = [n for n in sizes if n > marker]
    shown = after[:max_parts]
    truncated = len(after) > len(shown)
    inner = [element("PartsCount", len(sizes)), element("PartNumberMarker", marker),
             element("MaxParts", max_parts),
             element("IsTruncated", "true" if truncated else "false")]
    if shown:
        inner.append(element("NextPartNumberMarker", shown[-1]))
    for n in shown:
        value = record.part_checksums.get(n)
        part_checksum = "" if value is None or checksum_element is None else \
            element(checksum_element, value)
        inner.append("<Part>" + part_checksum + element("PartNumber", n)
                     + element("Size", sizes[n]) + "</Part>")
    return "<ObjectParts>" + "".join(inner) + "</ObjectParts>"


async def get_object_attributes(ctx: RequestContext) -> bytes:
    wanted = _wanted(ctx)
    version = await load_version(ctx)
    record = None
    if "ObjectParts" in wanted and "-" in version.data.meta.etag:
        # The parts are in the version's rows: if a newer write replaced
        # the version meanwhile (its rows deleted), the answer is the newer
        # one's, never a NoSuchKey for a key that holds an object.
        version, record = await readable_version(ctx, version)
    meta = version.data.meta
    key_for_read(ctx, meta)
    checksum_element = None if meta.checksum is None else \
        algorithm_of_header(meta.checksum[0]).xml_element
    parts = []
    if "ETag" in wanted:
        parts.append(element("ETag", meta.etag))
    if "Checksum" in wanted and checksum_element is not None:
        parts.append(_checksum_xml(meta, checksum_element))
    if record is not None and "-" in meta.etag:
        parts.append(_parts_xml(ctx, record, checksum_element))
    if "StorageClass" in wanted:
        parts.append(element("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        parts.append(element("ObjectSize", meta.size))
    ctx.request.setHeader(b"last-modified", http_date(version.timestamp).encode())
    return respond(ctx.request, document("GetObjectAttributesResponse", parts))
