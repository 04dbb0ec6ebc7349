"""twistd dropin: ``twistd garage`` runs a garage-twisted node."""

from twisted.application.service import ServiceMaker

garage = ServiceMaker(
    "garage-twisted",
    "garage_twisted.service.tap",
    "A node of a garage-twisted cluster (S3-compatible, geo-distributed).",
    "garage",
)
