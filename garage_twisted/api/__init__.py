"""HTTP front ends (S3, admin) and the streaming HTTP plumbing they share.
"""

__all__: list[str] = []
