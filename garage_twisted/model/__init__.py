"""S3 semantics as tables: buckets, aliases, keys, objects, versions, block refs, uploads.
"""

__all__: list[str] = []
