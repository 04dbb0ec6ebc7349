"""The admin API: Garage's v2 JSON endpoints, health and metrics.
"""

__all__: list[str] = []
