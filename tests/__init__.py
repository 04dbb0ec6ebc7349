"""Tests."""

# Hypothesis: the machines that run the suite are shared and noisy; a slow
# first draw (cold caches) must not fail a property test. Deadlines likewise.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "garage", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("garage")
