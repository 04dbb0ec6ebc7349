"""A streaming ``multipart/form-data`` reader for browser POST uploads.

The form's fields arrive before the ``file`` field (S3 requires it to be
the last one that counts), so :class:`FormReader` reads parts one after the
other: small fields whole (at most ``MAX_FIELD`` bytes each, ``MAX_FIELDS``
of them), and the file as a stream (``read()`` pieces, ``b""`` at the end of
the part), never held in memory whole. A piece never contains bytes of the
next delimiter: the reader keeps back the last ``len(delimiter)`` bytes
until it knows they are data.
"""

import re

from garage_twisted.api.s3 import errors

MAX_FIELD = 64 * 1024
MAX_FIELDS = 100
MAX_PART_HEADERS = 16 * 1024
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r';\s*([a-zA-Z*]+)="((?:[^"\\]|\\.)*)"|;\s*([a-zA-Z*]+)=([^;\s]+)')


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise errors.InvalidRequest("a POST upload must be multipart/form-data")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise errors.InvalidRequest("multipart/form-data without a boundary")
    boundary = match.group(1) or match.group(2)
    if not 1 <= len(boundary) <= 200:
        raise errors.InvalidRequest("invalid multipart boundary")
    return boundary.encode("latin-1")


class FormPart:
    """One part's name, file name and content type (from its headers)."""

    def __init__(self, headers: dict):
        self.headers = headers
        self.name = None
        self.filename = None
        disposition = headers.get("content-disposition", "")
        for match in _DISPOSITION_PARAM.finditer(disposition):
            key = (match.group(1) or match.group(3) or "").lower()
            value = match.group(2) if match.group(1) else match.group(4)
            if key == "name":
                self.name = value
            elif key == "filename":
                self.filename = value
        self.content_type = headers.get("content-type")


class FormReader:
    """Parts of a form body, read from ``raw`` (``read() -> Deferred[bytes]``).

    Usage: ``part = await next_part()`` (``None`` at the end), then
    ``await read()`` until ``b""`` (or ``await read_all(limit)``).
    """

    def __init__(self, raw, boundary: bytes):
        self.raw = raw
        self.delimiter = b"\r\n--" + boundary
        # The body starts with "--boundary": a virtual CRLF makes the first
        # delimiter look like the others.
        self.buf = b"\r\n"
        self.eof = False
        self.in_part = False
        # Whether the last delimiter read is consumed and the next part's
        # headers (or the closing "--") come next.
        self.at_part_start = False
        self.finished = False

    async def _fill(self) -> bool:
        if self.eof:
            return False
        data = await self.raw.read()
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def _skip_to_delimiter(self) -> None:
        while True:
            at = self.buf.find(self.delimiter)
            if at >= 0:
                self.buf = self.buf[at + len(self.delimiter):]
                self.at_part_start = True
                return
            self.buf = self.buf[-len(self.delimiter):]
            if not await self._fill():
                raise errors.MalformedPOSTRequest("the form ended without its boundary")

    async def next_part(self) -> FormPart | None:
        """The next part's headers (the previous part's rest is skipped)."""
        if self.finished:
            return None
        if self.in_part:
            while await self.read():
                pass
        if not self.at_part_start:
            await self._skip_to_delimiter()
        while len(self.buf) < 2:
            if not await self._fill():
                raise errors.MalformedPOSTRequest("the form ended unexpectedly")
        if self.buf.startswith(b"--"):
            self.finished = True
            return None
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > MAX_PART_HEADERS:
                raise errors.MalformedPOSTRequest("form part headers too large")
            if not await self._fill():
                raise errors.MalformedPOSTRequest("the form ended in a part's headers")
        head, self.buf = self.buf[:end], self.buf[end + 4:]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n")[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        self.in_part = True
        self.at_part_start = False
        return FormPart(headers)

    async def read(self) -> bytes:
        """The next bytes of the current part; ``b""`` at its end."""
        if not self.in_part:
            return b""
        keep = len(self.delimiter)
        while True:
            at = self.buf.find(self.delimiter)
            if at >= 0:
                data, self.buf = self.buf[:at], self.buf[at + keep:]
                self.in_part = False
                self.at_part_start = True
                return data
            if len(self.buf) > keep:
                data, self.buf = self.buf[:-keep], self.buf[-keep:]
                return data
            if not await self._fill():
                raise errors.MalformedPOSTRequest("the form ended inside a part")

    async def read_all(self, limit: int) -> bytes:
        pieces, size = [], 0
        while True:
            data = await self.read()
            if not data:
                return b"".join(pieces)
            size += len(data)
            if size > limit:
                raise errors.MalformedPOSTRequest(f"a form field is larger than {limit} bytes")
            pieces.append(data)
