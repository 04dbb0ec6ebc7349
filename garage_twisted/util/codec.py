"""Versioned canonical CBOR: the one encoding of stored and exchanged values.

Every stored value is ``marker + cbor``: ``marker`` is a short ASCII string that
names the type and its schema version (``b"GT.object.v1"``), and ``cbor`` is
canonical CBOR (RFC 8949 section 4.2.1 core deterministic encoding, as cbor2
produces with ``canonical=True``), so equal values always encode to equal bytes
and hashes of encodings can be compared across nodes (Merkle trees rely on it).

Invariant: the bytes produced for a given value never change across releases
of this project for a given marker; ``tests/unit/util/test_codec.py`` holds
golden bytes. A schema change gets a new marker and a migration in
``decode``.
"""

import cbor2

from garage_twisted.util.errors import CorruptData


def dumps(value) -> bytes:
    """Canonical CBOR encoding of plain data (no marker).

    :param value: ``None``, ``bool``, ``int``, ``bytes``, ``str``, ``list``,
        ``tuple`` or ``dict`` of those.
    :returns: ``bytes``.
    """
    return cbor2.dumps(value, canonical=True)


def loads(data: bytes):
    """Decode CBOR produced by :func:`dumps`.

    :raises CorruptData: if ``data`` is not valid CBOR.
    """
    try:
        return cbor2.loads(data)
    except Exception as e:  # cbor2 raises several unrelated types
        raise CorruptData(f"invalid CBOR: {e}") from e


def encode_versioned(marker: bytes, value) -> bytes:
    """Return ``marker + dumps(value)``.

    :param marker: the type-and-version marker of ``value``'s schema.
    """
    return marker + cbor2.dumps(value, canonical=True)


def decode_versioned(marker: bytes, data: bytes):
    """Decode bytes made by :func:`encode_versioned` with ``marker``.

    :raises CorruptData: if the marker differs or the CBOR is invalid.
    """
    if not data.startswith(marker):
        raise CorruptData(
            f"expected marker {marker!r}, found {bytes(data[: len(marker)])!r}"
        )
    return loads(data[len(marker):])
