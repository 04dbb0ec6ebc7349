"""Digests a PUT body must match: SHA-256, Content-MD5, x-amz-checksum-*.

:class:`BodyChecks` is fed the payload block by block (in the I/O thread for
large bodies, one block at a time, never concurrently) and checked once at
the end, against headers and, for aws-chunked bodies, trailers. It also
computes the MD5 that is the object's ETag.
"""

import base64
import binascii
import hashlib

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.checksum_algorithms import (
    ChecksumAlgorithm, algorithm_named, encode, new_hasher,
)
from garage_twisted.api.s3.sigv4 import PayloadMode


class BodyChecks:
    def __init__(self, sha256_hex=None, content_md5=None, checksum_algorithm=None,
                 checksum_expected=None, checksum_in_trailer=False):
        self._md5 = hashlib.md5()
        self._sha256 = hashlib.sha256() if sha256_hex else None
        self._sha256_expected = sha256_hex
        self._content_md5 = content_md5
        self.checksum_algorithm = checksum_algorithm
        self._checksum = new_hasher(checksum_algorithm) if checksum_algorithm else None
        self._checksum_expected = checksum_expected
        self._checksum_in_trailer = checksum_in_trailer
        self.checksum_value = None

    @classmethod
    def from_request(cls, ctx, checksum_headers: bool = True) -> "BodyChecks":
        """The checks a request's headers and signature ask for.

        :param checksum_headers: whether ``x-amz-checksum-*`` headers are the
            body's (not for CompleteMultipartUpload, where they are the
            object's).

        :raises errors.InvalidDigest: malformed Content-MD5.
        :raises errors.InvalidRequest: conflicting or unknown checksum headers.
        """
        auth = ctx.auth
        sha256_hex = None
        if auth is not None and auth.payload_mode == PayloadMode.SHA256:
            sha256_hex = auth.content_sha256
        content_md5 = ctx.header(b"content-md5")
        if content_md5 is not None:
            try:
                content_md5 = base64.b64decode(content_md5.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise errors.InvalidDigest("The Content-MD5 you specified was invalid.") from None
            if len(content_md5) != 16:
                raise errors.InvalidDigest("The Content-MD5 you specified was invalid.")
        algorithm = expected = None
        in_trailer = False
        for alg in ChecksumAlgorithm if checksum_headers else ():
            value = ctx.header(alg.header)
            if value is not None:
                if algorithm is not None:
                    raise errors.InvalidRequest("Expecting a single x-amz-checksum- header")
                algorithm, expected = alg, value.strip()
        trailer = ctx.header(b"x-amz-trailer")
        if trailer is not None:
            name = trailer.strip().lower()
            if not name.startswith("x-amz-checksum-"):
                raise errors.InvalidRequest(f"unsupported trailer {trailer!r}")
            trailer_alg = algorithm_named(name[len("x-amz-checksum-"):])
            if trailer_alg is None:
                raise errors.InvalidRequest(f"unsupported trailer {trailer!r}")
            if algorithm is not None and algorithm != trailer_alg:
                raise errors.InvalidRequest("Expecting a single x-amz-checksum- header")
            algorithm, in_trailer = trailer_alg, True
        declared = ctx.header(b"x-amz-sdk-checksum-algorithm") if checksum_headers else None
        if algorithm is None and declared is not None:
            algorithm = algorithm_named(declared)
            if algorithm is None:
                raise errors.InvalidRequest(f"unsupported checksum algorithm {declared!r}")
        return cls(sha256_hex, content_md5, algorithm, expected, in_trailer)

    def require(self, algorithm: ChecksumAlgorithm) -> None:
        """Compute ``algorithm`` (a multipart upload's) whether or not the
        request asked; call before the first :meth:`update`.

        :raises errors.InvalidRequest: the request checks another algorithm.
        """
        if self.checksum_algorithm is None:
            self.checksum_algorithm = algorithm
            self._checksum = new_hasher(algorithm)
        elif self.checksum_algorithm != algorithm:
            raise errors.InvalidRequest(
                f"Checksum Type mismatch occurred, expected checksum Type: "
                f"{algorithm.value}, actual checksum Type: {self.checksum_algorithm.value}")

    def update(self, data: bytes) -> None:
        """Feed the next piece of payload (call from one thread at a time)."""
        self._md5.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)
        if self._checksum is not None:
            self._checksum.update(data)

    def etag(self) -> str:
        return self._md5.hexdigest()

    def verify(self, trailers: dict) -> None:
        """Compare every digest with what the client announced.

        :raises errors.XAmzContentSHA256Mismatch, errors.BadDigest: on mismatch.
        """
        if self._sha256 is not None and self._sha256.hexdigest() != self._sha256_expected:
            raise errors.XAmzContentSHA256Mismatch(
                "The provided 'x-amz-content-sha256' header does not match what was computed.")
        if self._content_md5 is not None and self._md5.digest() != self._content_md5:
            raise errors.BadDigest("The Content-MD5 you specified did not match what we received.")
        if self._checksum is not None:
            self.checksum_value = encode(self._checksum.digest())
            expected = self._checksum_expected
            if self._checksum_in_trailer:
                expected = trailers.get(self.checksum_algorithm.header)
                if expected is None:
                    raise errors.InvalidRequest(
                        f"missing trailer {self.checksum_algorithm.header}")
            if expected is not None and expected != self.checksum_value:
                raise errors.BadDigest(
                    f"The {self.checksum_algorithm.value.upper()} you specified did not "
                    "match the calculated checksum.")

    def stored_checksum(self) -> tuple | None:
        """``(header name, value)`` to keep with the object, if one was asked."""
        if self.checksum_value is None:
            return None
        return (self.checksum_algorithm.header, self.checksum_value)

    def response_headers(self):
        if self.checksum_value is None:
            return []
        return [(self.checksum_algorithm.header.encode(), self.checksum_value.encode())]
