"""ListObjectVersions: every version of every key, by key, newest first.

A version's id is its uuid in hex if it is a version of its own (written
under Enabled versioning), else ``null`` (``model/object.py``). A bucket that
never had versioning holds one version per key, its object, listed with
``VersionId`` ``null`` and ``IsLatest``, as AWS lists such a bucket; the
delete markers such a bucket's deletes leave are internal and not listed
(versions of their own, and null markers of a bucket whose versioning was
ever set, are). Records of deleted versions are never listed, but they keep
the place of a ``version-id-marker`` naming a version deleted between two
pages.

Paging follows AWS: ``key-marker`` alone resumes after every version of
that key; with ``version-id-marker`` (which needs ``key-marker``), after
that version of the key. A truncated page names where it ended in
``NextKeyMarker`` and, when it ended on a version, ``NextVersionIdMarker``.
"""

from garage_twisted.api.s3 import errors, listing
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.versioning import check_version_id
from garage_twisted.api.s3.xml import document, element, iso8601
from garage_twisted.model.object import (
    DATA_DELETE_MARKER, FILTER_HAS_VERSIONS, NULL_VERSION_ID, version_id_of,
)

def _listed_versions(show_null_markers: bool):
    """``entries(obj)`` for :func:`listing.walk`: ``(version, is_latest)``
    of the key's listed versions, newest first."""
    def entries(obj) -> list:
        complete = [v for v in reversed(obj.versions) if v.is_complete]
        listed = []
        for index, version in enumerate(complete):
            if version.data.kind == DATA_DELETE_MARKER and not version.versioned \
                    and not show_null_markers:
                continue
            listed.append((version, index == 0))
        return listed
    return entries


def _after(version_id_marker: str, entries):
    """``resume(obj)``: the listed versions of the marker key older than
    the version ``version_id_marker`` (found among every version the entry
    holds, deletion records included)."""
    def resume(obj) -> list:
        if version_id_marker == NULL_VERSION_ID:
            place = [v for v in obj.versions if v.holds_null_line]
        else:
            place = [v for v in obj.versions
                     if v.versioned and v.uuid.hex() == version_id_marker]
        if not place:
            # Unknown here: nothing of this key is known to come after it.
            return []
        position = place[-1].cmp_key()
        return [(v, latest) for v, latest in entries(obj) if v.cmp_key() < position]
    return resume


async def list_object_versions(ctx: RequestContext) -> bytes:
    query = ctx.endpoint.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter") or None
    max_keys = listing.max_keys_of(query)
    enc = listing.encoder(query)
    key_marker = query.get("key-marker") or None
    version_id_marker = query.get("version-id-marker") or None
    if version_id_marker is not None:
        if key_marker is None:
            raise errors.InvalidArgument("A version-id marker cannot be specified without a "
                                         "key marker.")
        check_version_id(version_id_marker, "version-id-marker")
    params = ctx.bucket.params if ctx.bucket is not None else None
    show_null_markers = params is not None and params.versioning_state is not None
    entries = _listed_versions(show_null_markers)
    resume = None if version_id_marker is None else _after(version_id_marker, entries)
    result = await listing.walk(ctx, prefix, delimiter, max_keys, key_marker,
                                entry_filter=FILTER_HAS_VERSIONS, entries=entries,
                                resume=resume)
    parts = [element("Name", ctx.endpoint.bucket), element("Prefix", enc(prefix)),
             element("KeyMarker", enc(key_marker or "")),
             element("VersionIdMarker", version_id_marker or ""),
             element("MaxKeys", max_keys)]
    if delimiter:
        parts.append(element("Delimiter", enc(delimiter)))
    if "encoding-type" in query:
        parts.append(element("EncodingType", "url"))
    parts.append(element("IsTruncated", "true" if result.truncated else "false"))
    if result.truncated:
        parts.append(element("NextKeyMarker", enc(result.last_returned)))
        if result.last_entry is not None:
            parts.append(element("NextVersionIdMarker", version_id_of(result.last_entry[0])))
    owner = listing.owner_xml(ctx)
    for key, (version, latest) in result.contents:
        common = (element("Key", enc(key)) + element("VersionId", version_id_of(version))
                  + element("IsLatest", "true" if latest else "false")
                  + element("LastModified", iso8601(version.timestamp)))
        if version.data.kind == DATA_DELETE_MARKER:
            parts.append("<DeleteMarker>" + common + owner + "</DeleteMarker>")
            continue
        meta = version.data.meta
        parts.append("<Version>" + common + element("ETag", f'"{meta.etag}"')
                     + element("Size", meta.size) + element("StorageClass", "STANDARD")
                     + owner + "</Version>")
    parts += ["<CommonPrefixes>" + element("Prefix", enc(p)) + "</CommonPrefixes>"
              for p in result.common_prefixes]
    return respond(ctx.request, document("ListVersionsResult", parts))
