"""Foundations with no project imports: errors, CRDTs, canonical CBOR,
configuration, background workers, time, the I/O thread pool.
"""

__all__: list[str] = []
