"""The static website endpoint (``[s3_web]``)."""
