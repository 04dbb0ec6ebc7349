"""Multipart uploads: Create, UploadPart, Complete, Abort, ListParts,
ListMultipartUploads.

The upload id is the hex uuid of the upload's object version, *uploading*
(invisible) while it runs; a PutObject completed meanwhile does not drop it
(``model/object.py``). Parts are versions of their own, recorded in the
``mpu`` table. Completion builds a new version from the chosen parts'
blocks (no data is copied) under a new uuid, takes block references for it,
publishes it above every version completed before (so the write that
completes last wins), then aborts the upload's version and deletes the
upload, recording what it completed into (a retried completion gets the
same answer); the deletion releases the parts' own references.
"""

import hashlib
import re

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.api.s3 import (
    acl, errors, listing, preconditions, sse_s3, tagging, version_fields,
)
from garage_twisted.api.s3.versioning import set_version_header
from garage_twisted.api.s3.body import PayloadReader, iter_blocks, read_small_body
from garage_twisted.api.s3 import checksum_of_parts
from garage_twisted.api.s3.body_digests import BodyChecks
from garage_twisted.api.s3.checksum_algorithms import (
    ChecksumAlgorithm, algorithm_named, algorithm_of_header,
)
from garage_twisted.api.s3.context import RequestContext, int_argument, respond
from garage_twisted.api.s3.encryption import CustomerKey, key_for_write, plain_block_size
from garage_twisted.api.s3.metadata import extract_object_headers
from garage_twisted.api.s3.put import (
    RENEW_ATTEMPTS, check_quotas, new_uuid, next_timestamp, object_etag, publish_inline,
    publish_rows, save_stream,
)
from garage_twisted.api.s3.xml import document, element, iso8601, safe_fromstring
from garage_twisted.model.mpu import MpuPart, MultipartUpload
from garage_twisted.model.object import (
    DATA_INLINE, FILTER_IS_UPLOADING, STATE_ABORTED, STATE_COMPLETE, STATE_UPLOADING, Object,
    ObjectVersion, ObjectVersionData, ObjectVersionMeta,
)
from garage_twisted.model.version import Version
from garage_twisted.util.crdt import Lww
from garage_twisted.util.time import now_msec

log = Logger()

MAX_PART_NUMBER = 10000
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_COMPLETE_BODY = 1 << 20
# Where an SSE-C upload keeps its key's MD5 until it completes.
SSE_MD5_HEADER = "x-garage-sse-c-key-md5"
# Where an SSE-S3 upload keeps its data key, wrapped (sse_s3.py), from its
# creation (every part is encrypted with it) until completion moves it to
# the object's metadata.
SSE_S3_HEADER = "x-garage-sse-s3-key"
# Where an upload keeps its x-amz-checksum-algorithm and -type.
CHECKSUM_ALGORITHM_HEADER = "x-garage-checksum-algorithm"
CHECKSUM_TYPE_HEADER = "x-garage-checksum-type"
# Where an upload keeps the tags its object will have (x-amz-tagging form).
TAGGING_HEADER = "x-garage-tagging"
# The canned ACL asked for at creation (x-amz-acl), kept until completion.
ACL_HEADER = "x-garage-acl"
# The upload's own headers, none of which the object keeps.
_UPLOAD_ONLY_HEADERS = frozenset({SSE_MD5_HEADER, SSE_S3_HEADER, CHECKSUM_ALGORITHM_HEADER,
                                  CHECKSUM_TYPE_HEADER, TAGGING_HEADER, ACL_HEADER}) | \
    version_fields.UPLOAD_HEADERS
_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


def object_headers(version) -> tuple:
    """The headers an uploading version will give its object: its own,
    without the upload's bookkeeping ones."""
    return tuple(h for h in version.upload_headers if h[0] not in _UPLOAD_ONLY_HEADERS)


def _upload_id(ctx: RequestContext) -> bytes:
    raw = ctx.endpoint.query.get("uploadId", "")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", raw):
        raise errors.NoSuchUpload("The specified multipart upload does not exist.",
                                  extra={"UploadId": raw})
    return bytes.fromhex(raw)


async def _load_upload(ctx: RequestContext):
    """The upload and its object version, checked to be live and ours."""
    upload_id = _upload_id(ctx)
    model = ctx.api.model
    mpu = await model.mpu_table.get(upload_id, b"")
    obj = await model.object_table.get(ctx.bucket_id, ctx.endpoint.key.encode())
    version = None
    if obj is not None:
        version = next((v for v in obj.versions if v.uuid == upload_id), None)
    if (mpu is None or mpu.deleted.value or mpu.bucket_id != ctx.bucket_id
            or mpu.key != ctx.endpoint.key or version is None
            or version.state != STATE_UPLOADING or not version.multipart):
        raise errors.NoSuchUpload("The specified multipart upload does not exist.",
                                  extra={"UploadId": upload_id.hex()})
    return mpu, version


def _requested_checksum(ctx: RequestContext):
    """``(algorithm, type)`` a CreateMultipartUpload asks for, or None.

    :raises errors.InvalidRequest: an unknown algorithm, or a type that does
        not go with it.
    """
    name = ctx.header(b"x-amz-checksum-algorithm")
    requested_type = ctx.header(b"x-amz-checksum-type")
    if name is None:
        if requested_type is not None:
            raise errors.InvalidRequest("x-amz-checksum-type needs x-amz-checksum-algorithm")
        return None
    algorithm = algorithm_named(name)
    if algorithm is None:
        raise errors.InvalidRequest(f"unsupported checksum algorithm {name!r}")
    kind = checksum_of_parts.checksum_type(algorithm, requested_type)
    if kind is None:
        raise errors.InvalidRequest(f"The {requested_type} checksum type cannot be used "
                                    f"with the {algorithm.name} checksum algorithm.")
    return algorithm, kind


def upload_checksum(version) -> tuple | None:
    """``(algorithm, type)`` of an uploading version's checksum, or None."""
    headers = dict(version.upload_headers)
    name = headers.get(CHECKSUM_ALGORITHM_HEADER)
    if name is None:
        return None
    return ChecksumAlgorithm(name), headers[CHECKSUM_TYPE_HEADER]


def _set_checksum_headers(ctx: RequestContext, checksum) -> None:
    if checksum is not None:
        ctx.request.setHeader(b"x-amz-checksum-algorithm", checksum[0].name.encode())
        ctx.request.setHeader(b"x-amz-checksum-type", checksum[1].encode())


async def create_multipart_upload(ctx: RequestContext) -> bytes:
    key = ctx.endpoint.key
    if len(key.encode()) > 1024:
        raise errors.KeyTooLongError("object keys are at most 1024 bytes")
    headers = extract_object_headers(ctx.request)
    tags = tagging.from_header(ctx.header(b"x-amz-tagging"))
    if tags:
        headers = tuple(sorted(headers + ((TAGGING_HEADER, tagging.to_header(tags)),)))
    lock = version_fields.upload_headers(ctx)
    if lock:
        headers = tuple(sorted(headers + lock))
    canned = acl.object_acl_fields(ctx).get("acl")
    if canned is not None:
        headers = tuple(sorted(headers + ((ACL_HEADER, canned.value),)))
    sse = key_for_write(ctx)
    if isinstance(sse, CustomerKey):
        # Every part must come with this key; the MD5 waits in the upload's
        # headers until completion moves it to the object's metadata.
        headers = tuple(sorted(headers + ((SSE_MD5_HEADER, sse.key_md5),)))
    elif sse is not None:
        headers = tuple(sorted(headers + ((SSE_S3_HEADER, sse.meta_value),)))
    checksum = _requested_checksum(ctx)
    if checksum is not None:
        headers = tuple(sorted(headers + ((CHECKSUM_ALGORITHM_HEADER, checksum[0].value),
                                          (CHECKSUM_TYPE_HEADER, checksum[1]))))
    upload_id = new_uuid()
    timestamp = await next_timestamp(ctx, key)
    model = ctx.api.model
    await model.mpu_table.insert(MultipartUpload.new(upload_id, timestamp, ctx.bucket_id, key))
    version = ObjectVersion(upload_id, timestamp, STATE_UPLOADING, multipart=True,
                            upload_headers=headers)
    await model.object_table.insert(Object(ctx.bucket_id, key, (version,)))
    body = document("InitiateMultipartUploadResult", [
        element("Bucket", ctx.endpoint.bucket), element("Key", key),
        element("UploadId", upload_id.hex())])
    _set_checksum_headers(ctx, checksum)
    _set_sse_headers(ctx, sse)
    return respond(ctx.request, body)


def _set_sse_headers(ctx: RequestContext, sse) -> None:
    for name, value in sse.response_headers() if sse is not None else ():
        ctx.request.setHeader(name, value)


def _part_number(ctx: RequestContext) -> int:
    raw = ctx.endpoint.query.get("partNumber", "")
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PART_NUMBER:
        raise errors.InvalidArgument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive")
    return number


def upload_key(ctx: RequestContext, version):
    """The key the parts of this upload are encrypted with: the SSE-C key
    a part must come with (checked), the upload's SSE-S3 data key, or None."""
    headers = dict(version.upload_headers)
    stored = headers.get(SSE_MD5_HEADER)
    given = CustomerKey.from_headers(ctx.header)
    if SSE_S3_HEADER in headers:
        if given is not None:
            raise errors.InvalidRequest("This upload was created with SSE-S3: its parts "
                                        "take no SSE-C parameters")
        return sse_s3.keyring_of(ctx).unwrap(headers[SSE_S3_HEADER])
    if stored is None:
        if given is not None:
            raise errors.InvalidRequest("This upload was not created with SSE-C parameters")
        return None
    if given is None or given.key_md5 != stored:
        raise errors.InvalidRequest("The parts of this upload need the SSE-C key it was "
                                    "created with")
    return given


async def record_part(ctx: RequestContext, payload, checks=None) -> tuple:
    """Store ``payload`` (``read() -> bytes``, ``b""`` at the end) as the
    part ``partNumber`` of the upload; ``(etag, timestamp, checksum)``, the
    last ``(algorithm, base64 value)`` when the upload has a checksum
    algorithm (every part is checksummed with it), else None.

    The part is announced (without ETag) before its blocks are written, so
    an abort meanwhile releases them; a failure deletes the part's version.
    """
    number = _part_number(ctx)
    mpu, version = await _load_upload(ctx)
    sse = upload_key(ctx, version)
    wanted = upload_checksum(version)
    checks = checks if checks is not None else BodyChecks()
    if wanted is not None:
        checks.require(wanted[0])
    model = ctx.api.model
    part_uuid = new_uuid()
    timestamp = now_msec(ctx.api.clock)
    await model.mpu_table.insert(
        mpu.with_part(number, timestamp, MpuPart(part_uuid)))
    try:
        size, _ = await save_stream(ctx, part_uuid, ctx.endpoint.key, number,
                                    iter_blocks(payload,
                                                plain_block_size(ctx.api.block_size, sse)),
                                    checks, sse)
        checks.verify(getattr(payload, "trailers", {}))
    except BaseException:
        await model.version_table.insert(
            Version.new(part_uuid, ctx.bucket_id, ctx.endpoint.key, deleted=True))
        raise
    etag = object_etag(checks, sse)
    part_checksum = None if wanted is None else checks.checksum_value
    finished = MpuPart(part_uuid, etag, size, part_checksum)
    timestamp = await _record_finished(ctx, mpu, number, finished)
    # As AWS, the answer names the encryption the part was written with.
    _set_sse_headers(ctx, sse)
    return etag, timestamp, None if wanted is None else (wanted[0], part_checksum)


async def _record_finished(ctx: RequestContext, mpu, number: int, part: MpuPart) -> int:
    """Record a finished attempt of part ``number`` so that it is the part:
    the attempt that finishes last wins (as AWS), not the one that started
    last. It goes under ``(number, now)``; the write answers what the write
    quorum holds, and if another attempt of the part finished at or above
    that timestamp (or holds that slot), it is written again above them.
    Returns the timestamp it is recorded under.

    :raises errors.SlowDown: attempts of the part keep finishing above.
    """
    model = ctx.api.model
    empty = MultipartUpload.new(mpu.upload_id, mpu.timestamp, ctx.bucket_id,
                                ctx.endpoint.key)
    timestamp = now_msec(ctx.api.clock)
    for _ in range(RENEW_ATTEMPTS):
        seen = await model.mpu_table.insert_and_read(empty.with_part(number, timestamp, part))
        if seen.deleted.value:
            # Completed or aborted meanwhile: the part's version may have
            # missed the deletion's cascade; released here.
            await model.version_table.insert(
                Version.new(part.version, ctx.bucket_id, ctx.endpoint.key, deleted=True))
            raise errors.NoSuchUpload("The specified multipart upload does not exist.",
                                      extra={"UploadId": mpu.upload_id.hex()})
        above = [t for (n, t), other in seen.parts.items()
                 if n == number and t >= timestamp and other.version != part.version
                 and (other.etag is not None or t == timestamp)]
        if not above and seen.parts.get((number, timestamp)) == part:
            return timestamp
        timestamp = max([now_msec(ctx.api.clock), timestamp] + above) + 1
    raise errors.SlowDown("This part is being uploaded too fast; retry.")


async def upload_part(ctx: RequestContext) -> bytes:
    checks = BodyChecks.from_request(ctx)
    etag, _, _ = await record_part(ctx, PayloadReader(ctx), checks)
    ctx.request.setHeader(b"etag", f'"{etag}"'.encode())
    for name, value in checks.response_headers():
        ctx.request.setHeader(name, value)
    return respond(ctx.request)


def _parse_complete(body: bytes) -> list:
    try:
        root = safe_fromstring(body)
    except Exception:
        raise errors.MalformedXML("The XML you provided was not well-formed") from None
    parts = []
    for part in root:
        if part.tag.rsplit("}", 1)[-1] != "Part":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in part}
        try:
            number = int(fields["PartNumber"])
        except (KeyError, ValueError):
            raise errors.MalformedXML("each Part needs a PartNumber") from None
        match = _ETAG.match(fields.get("ETag", ""))
        if match is None:
            raise errors.InvalidPart("One or more of the specified parts could not be found.")
        checksums = {alg: fields[alg.xml_element] for alg in ChecksumAlgorithm
                     if alg.xml_element in fields}
        parts.append((number, match.group(1).lower(), checksums))
    if not parts:
        raise errors.MalformedXML("CompleteMultipartUpload needs at least one Part")
    return parts


async def _check_complete_conditions(ctx: RequestContext) -> None:
    """``If-None-Match: *`` / ``If-Match`` on completion, checked against the
    object when the request arrives (not raced like PutObject's claims: the
    upload itself was not exclusive)."""
    if_none_match = ctx.header(b"if-none-match")
    if_match = ctx.header(b"if-match")
    if if_none_match is None and if_match is None:
        return
    obj = await ctx.api.model.object_table.get(ctx.bucket_id, ctx.endpoint.key.encode())
    current = None if obj is None else obj.last_data_version()
    if if_none_match is not None and if_none_match.strip() != "*":
        raise errors.NotImplemented("If-None-Match on CompleteMultipartUpload only supports *")
    if if_none_match is not None and current is not None:
        raise errors.PreconditionFailed("At least one of the pre-conditions you specified "
                                        "did not hold")
    if if_match is not None:
        if current is None:
            raise errors.NoSuchKey("The specified key does not exist.",
                                   extra={"Key": ctx.endpoint.key})
        if not preconditions.etag_matches(if_match, current.data.meta.etag):
            raise errors.PreconditionFailed("At least one of the pre-conditions you "
                                            "specified did not hold")


def _composite_etag(wanted) -> str:
    """The ETag of an object made of these ``(number, part etag, _)``."""
    md5s = b"".join(bytes.fromhex(etag) for _, etag, _ in wanted)
    return f"{hashlib.md5(md5s).hexdigest()}-{len(wanted)}"


def _complete_result(ctx: RequestContext, etag: str, checksum=None) -> bytes:
    """The answer; ``checksum`` is the object's stored one, if any."""
    host = ctx.header(b"host") or "localhost"
    parts = [
        element("Location", f"http://{host}/{ctx.endpoint.bucket}/{ctx.endpoint.key}"),
        element("Bucket", ctx.endpoint.bucket), element("Key", ctx.endpoint.key),
        element("ETag", f'"{etag}"')]
    if checksum is not None:
        name, value, kind = checksum
        parts += [element(algorithm_of_header(name).xml_element, value),
                  element("ChecksumType", kind)]
    return respond(ctx.request, document("CompleteMultipartUploadResult", parts))


def _bad_digest(what: str):
    return errors.BadDigest(f"The {what} you specified did not match the calculated "
                            "checksum.")


async def _object_checksum(ctx: RequestContext, checksum, wanted, parts) -> tuple:
    """The completed object's ``(header, value, type)`` from its parts'
    checksums, checked against what the request gives.

    :param checksum: the upload's ``(algorithm, type)``.
    :param wanted: the request's ``(number, etag, checksums)``.
    :param parts: the matching stored ``MpuPart``.
    :raises errors.BadDigest: a part's checksum given in the request, or
        the object's, does not match.
    """
    algorithm, kind = checksum
    for (number, _, given), part in zip(wanted, parts):
        if part.checksum is None:
            # Not written by this code (every part of such an upload is
            # checksummed): the object's checksum cannot be made.
            raise errors.InvalidPart(f"Part {number} has no {algorithm.name} checksum",
                                     extra={"PartNumber": number})
        value = given.get(algorithm)
        if value is not None and value != part.checksum:
            raise _bad_digest(f"{algorithm.name} checksum of part {number}")
    if kind == checksum_of_parts.COMPOSITE:
        value = checksum_of_parts.composite(algorithm, [p.checksum for p in parts])
    else:
        # One multiplication chain per part: off the reactor for 10,000 parts.
        value = await ctx.api.run_in_thread(
            checksum_of_parts.full_object, algorithm, [(p.checksum, p.size) for p in parts])
    expected = ctx.header(algorithm.header)
    if expected is not None and checksum_of_parts.decode(expected) != \
            checksum_of_parts.decode(value):
        raise _bad_digest(algorithm.name)
    return algorithm.header, value, kind


async def _completed_version(ctx: RequestContext):
    """The object's version this upload completed into, if it did and it
    is still there."""
    upload_id = _upload_id(ctx)
    model = ctx.api.model
    mpu = await model.mpu_table.get(upload_id, b"")
    # Uploads completed before completed_as existed completed in place.
    target = upload_id if mpu is None or mpu.completed_as is None else mpu.completed_as
    obj = await model.object_table.get(ctx.bucket_id, ctx.endpoint.key.encode())
    if obj is None:
        return None
    return next((v for v in obj.versions
                 if v.uuid == target and v.state == STATE_COMPLETE), None)


async def complete_multipart_upload(ctx: RequestContext) -> bytes:
    # Its x-amz-checksum-* header is the object's checksum, not the body's.
    body = await read_small_body(ctx, MAX_COMPLETE_BODY, checksum_headers=False)
    try:
        # The upload first: a missing one is 404 whatever the body says.
        mpu, version = await _load_upload(ctx)
    except errors.NoSuchUpload:
        # A retried completion (its answer was lost) gets the same answer,
        # as S3 gives, if it names the same parts.
        done = await _completed_version(ctx)
        if done is None:
            raise
        wanted = _parse_complete(body)
        if _composite_etag(wanted) != done.data.meta.etag:
            raise
        meta = done.data.meta
        set_version_header(ctx, done)
        _set_sse_s3_header(ctx, meta)
        return _complete_result(ctx, meta.etag, meta.checksum if "-" in meta.etag and
                                meta.checksum is not None else None)
    wanted = _parse_complete(body)
    if any(b[0] <= a[0] for a, b in zip(wanted, wanted[1:])):
        raise errors.InvalidPartOrder("The list of parts was not in ascending order.")
    await _check_complete_conditions(ctx)
    latest = mpu.latest_parts()
    model = ctx.api.model
    final = Version.new(mpu.upload_id, ctx.bucket_id, ctx.endpoint.key)
    total = 0
    chosen = []
    for index, (number, etag, _) in enumerate(wanted):
        found = latest.get(number)
        if found is None or found[1].etag != etag:
            raise errors.InvalidPart("One or more of the specified parts could not be found.",
                                     extra={"PartNumber": number})
        part = found[1]
        if part.size < MIN_PART_SIZE and index < len(wanted) - 1:
            raise errors.EntityTooSmall(
                "Your proposed upload is smaller than the minimum allowed object size.")
        part_version = await model.version_table.get(part.version, b"")
        if part_version is None or part_version.deleted.value:
            raise errors.InvalidPart("One or more of the specified parts could not be found.")
        for (_, offset), block in part_version.sorted_blocks():
            final = final.with_block(number, offset, block)
        total += part.size
        chosen.append(part)
    checksum = upload_checksum(version)
    if checksum is None:
        # A checksum of the object that nothing here can check is refused
        # rather than ignored (as Garage).
        asserted = [alg.header for alg in ChecksumAlgorithm if ctx.header(alg.header)]
        if asserted:
            raise errors.InvalidRequest(f"{asserted[0]} cannot be checked: the upload was "
                                        "created without x-amz-checksum-algorithm")
    else:
        checksum = await _object_checksum(ctx, checksum, wanted, chosen)
        for (number, _, _), part in zip(wanted, chosen):
            if part.checksum is not None:
                final = final.with_part_checksum(number, part.checksum)
    await check_quotas(ctx, ctx.endpoint.key, total)
    etag = _composite_etag(wanted)
    upload_headers = dict(version.upload_headers)
    encryption = upload_headers.get(SSE_MD5_HEADER) or upload_headers.get(SSE_S3_HEADER)
    tags = tagging.from_header(upload_headers.get(TAGGING_HEADER)) or ()
    ctx.write_fields = version_fields.version_fields(
        ctx, *version_fields.from_upload_headers(upload_headers))
    if ACL_HEADER in upload_headers:
        ctx.write_fields["acl"] = Lww(now_msec(ctx.api.clock), upload_headers[ACL_HEADER])
    meta = ObjectVersionMeta(object_headers(version), total, etag, checksum, encryption, tags)
    published = await _complete_into_new_version(ctx, mpu, version, final, meta)
    set_version_header(ctx, published)
    _set_sse_s3_header(ctx, meta)
    return _complete_result(ctx, etag, checksum)


def _set_sse_s3_header(ctx: RequestContext, meta) -> None:
    """``x-amz-server-side-encryption: AES256`` on the completion of an
    SSE-S3 object (its data key is not needed to say so)."""
    if sse_s3.is_managed(meta.encryption):
        ctx.request.setHeader(*sse_s3.RESPONSE_HEADER)


async def _complete_into_new_version(ctx: RequestContext, mpu, version, rows: Version,
                                     meta: ObjectVersionMeta) -> ObjectVersion:
    """Publish the object made of ``rows`` (the chosen parts' blocks) as a
    new version above every version completed before (the write that
    completes last wins, ``put.publish``), then end the upload: its own
    version is aborted and its row records what it became.

    The upload's own version is not completed in place: it was created
    when the upload began, and a PutObject completed since would stay
    above it. A failure leaves the upload as it was (the client may retry).
    """
    model = ctx.api.model
    key = ctx.endpoint.key
    blocks = rows.sorted_blocks()
    if not blocks:
        published = await publish_inline(
            ctx, key, ObjectVersionData(DATA_INLINE, meta, inline=b""))
    else:
        published = await publish_rows(ctx, key, rows, meta, blocks[0][1].hash)
    # The object holds its blocks now: the upload's parts may go.
    await defer.gatherResults([
        model.object_table.insert(Object(ctx.bucket_id, key, (
            ObjectVersion(mpu.upload_id, version.timestamp, STATE_ABORTED),))),
        model.mpu_table.insert(MultipartUpload.new(
            mpu.upload_id, mpu.timestamp, ctx.bucket_id, key, deleted=True,
            completed_as=published.uuid)),
    ], consumeErrors=True).addErrback(lambda failure: failure.value.subFailure)
    return published


async def abort_multipart_upload(ctx: RequestContext) -> bytes:
    mpu, version = await _load_upload(ctx)
    model = ctx.api.model
    aborted = ObjectVersion(mpu.upload_id, version.timestamp, STATE_ABORTED)
    await model.object_table.insert(Object(ctx.bucket_id, ctx.endpoint.key, (aborted,)))
    await model.mpu_table.insert(MultipartUpload.new(
        mpu.upload_id, mpu.timestamp, ctx.bucket_id, ctx.endpoint.key, deleted=True))
    return respond(ctx.request, status=204)


async def list_parts(ctx: RequestContext) -> bytes:
    mpu, version = await _load_upload(ctx)
    checksum = upload_checksum(version)
    query = ctx.endpoint.query
    max_parts = int_argument(query.get("max-parts"), "max-parts", 1000, 1000)
    marker = int_argument(query.get("part-number-marker"), "part-number-marker", 0,
                          MAX_PART_NUMBER)
    latest = sorted((n, t, p) for n, (t, p) in mpu.latest_parts().items() if n > marker)
    shown = latest[:max_parts]
    truncated = len(latest) > max_parts
    parts = [
        element("Bucket", ctx.endpoint.bucket), element("Key", ctx.endpoint.key),
        element("UploadId", mpu.upload_id.hex()),
        element("PartNumberMarker", marker),
        element("StorageClass", "STANDARD"), element("MaxParts", max_parts),
        element("IsTruncated", "true" if truncated else "false"),
    ]
    if shown:
        parts.append(element("NextPartNumberMarker", shown[-1][0]))
    if checksum is not None:
        parts += [element("ChecksumAlgorithm", checksum[0].name),
                  element("ChecksumType", checksum[1])]
    for number, timestamp, part in shown:
        part_checksum = "" if part.checksum is None or checksum is None else \
            element(checksum[0].xml_element, part.checksum)
        parts.append("<Part>" + element("PartNumber", number)
                     + element("LastModified", iso8601(timestamp))
                     + element("ETag", f'"{part.etag}"') + element("Size", part.size)
                     + part_checksum + "</Part>")
    return respond(ctx.request, document("ListPartsResult", parts))


def _pending_uploads(obj) -> list:
    """An object's pending multipart uploads, by initiation time (the
    versions' ``(timestamp, uuid)`` order: the timestamp is the upload's
    creation)."""
    return [v for v in obj.versions if v.is_pending_multipart]


def _uploads_after(upload_id_marker: str, marker) -> callable:
    """The uploads of the marker key that follow the upload named by
    ``upload-id-marker``, in initiation order (the listing's own; upload
    ids are random). ``marker`` is its ``(timestamp, uuid)`` as its
    ``mpu`` row tells, else it is looked for among the key's versions;
    for an id found nowhere, every upload of the key follows."""
    wanted = upload_id_marker.lower()

    def resume(obj) -> list:
        uploads = _pending_uploads(obj)
        position = marker if marker is not None else min(
            (v.cmp_key() for v in obj.versions if v.uuid.hex() == wanted), default=None)
        if position is None:
            return uploads
        return [v for v in uploads if v.cmp_key() > position]
    return resume


async def _marker_position(ctx: RequestContext, upload_id_marker: str):
    """``(timestamp, uuid)`` of the upload ``upload_id_marker``, pending or
    over (its ``mpu`` row keeps its initiation time), or None."""
    if not re.fullmatch(r"[0-9a-fA-F]{64}", upload_id_marker):
        return None
    upload_id = bytes.fromhex(upload_id_marker)
    mpu = await ctx.api.model.mpu_table.get(upload_id, b"")
    return None if mpu is None else (mpu.timestamp, upload_id)


async def _without_leftovers(ctx: RequestContext, contents, overtaken: set) -> list:
    """``contents`` without the uploads that are over though their version
    came back as pending (``model/object.py``: a replica that missed the
    abort); each is aborted again. Only uploads below a complete version
    can be such leftovers: only those are looked up."""
    suspects = [(key, v) for key, v in contents if v.uuid in overtaken]
    if not suspects:
        return contents
    model = ctx.api.model
    rows = await defer.gatherResults([model.mpu_table.get(v.uuid, b"") for _, v in suspects])
    over = {v.uuid for (_, v), mpu in zip(suspects, rows) if mpu is None or mpu.deleted.value}
    # Aborted again only when its row says it is over: a row the read did
    # not find (a layout change) may belong to a live upload, hidden here
    # but left alone.
    ended = {v.uuid for (_, v), mpu in zip(suspects, rows)
             if mpu is not None and mpu.deleted.value}
    for key, version in suspects:
        if version.uuid in ended:
            log.info("aborting again upload {upload} of {key}, over but listed",
                     upload=version.uuid.hex(), key=key)
            model.object_table.insert(Object(ctx.bucket_id, key, (
                ObjectVersion(version.uuid, version.timestamp, STATE_ABORTED),))).addErrback(
                lambda failure: log.warn("abort failed: {error}",
                                         error=failure.getErrorMessage()))
    return [(key, v) for key, v in contents if v.uuid not in over]


async def list_multipart_uploads(ctx: RequestContext) -> bytes:
    """ListMultipartUploads: pending uploads sorted by key, then initiation.

    ``key-marker`` alone resumes after every upload of that key; with
    ``upload-id-marker`` (ignored without ``key-marker``, as AWS), after that
    upload of the key. A page that ends on an upload names it in
    NextKeyMarker and NextUploadIdMarker; one that ends on a common prefix
    names only the prefix, after which the next page skips every key under
    it (listing.walk).
    """
    query = ctx.endpoint.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter") or None
    max_uploads = int_argument(query.get("max-uploads"), "max-uploads", 1000, 1000)
    enc = listing.encoder(query)
    key_marker = query.get("key-marker")
    upload_id_marker = query.get("upload-id-marker")
    overtaken = set()  # pending uploads below a complete version

    def suspected(obj, found) -> list:
        newest = max((v.cmp_key() for v in obj.versions if v.is_complete), default=None)
        overtaken.update(v.uuid for v in found if newest is not None and v.cmp_key() < newest)
        return found

    def uploads(obj) -> list:
        return suspected(obj, _pending_uploads(obj))

    resume = None
    if key_marker is not None and upload_id_marker:
        after = _uploads_after(upload_id_marker,
                               await _marker_position(ctx, upload_id_marker))

        def resumed(obj) -> list:
            return suspected(obj, after(obj))
        resume = resumed

    result = await listing.walk(ctx, prefix, delimiter, max_uploads, key_marker,
                                entry_filter=FILTER_IS_UPLOADING, entries=uploads,
                                resume=resume)
    contents = await _without_leftovers(ctx, result.contents, overtaken)
    parts = [element("Bucket", ctx.endpoint.bucket),
             element("KeyMarker", enc(key_marker or "")),
             element("UploadIdMarker", upload_id_marker or "")]
    if result.truncated:
        parts.append(element("NextKeyMarker", enc(result.last_returned)))
        if result.last_entry is not None:
            parts.append(element("NextUploadIdMarker", result.last_entry.uuid.hex()))
    parts.append(element("Prefix", enc(prefix)))
    if delimiter:
        parts.append(element("Delimiter", enc(delimiter)))
    parts.append(element("MaxUploads", max_uploads))
    if "encoding-type" in query:
        parts.append(element("EncodingType", "url"))
    parts.append(element("IsTruncated", "true" if result.truncated else "false"))
    people = listing.owner_xml(ctx, "Initiator") + listing.owner_xml(ctx)
    for key, version in contents:
        parts.append("<Upload>" + element("Key", enc(key))
                     + element("UploadId", version.uuid.hex())
                     + people + element("StorageClass", "STANDARD")
                     + element("Initiated", iso8601(version.timestamp)) + "</Upload>")
    parts += ["<CommonPrefixes>" + element("Prefix", enc(p)) + "</CommonPrefixes>"
              for p in result.common_prefixes]
    return respond(ctx.request, document("ListMultipartUploadsResult", parts))
