"""garage-twisted: Garage, the geo-distributed S3-compatible object store, on Twisted.

Layers (imports point downward only): util <- db <- net <- rpc <- table <-
block <- model <- api <- service <- cli.
"""

__all__: list[str] = []
