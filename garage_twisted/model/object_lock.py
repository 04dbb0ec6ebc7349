"""Object Lock: what protects a version from deletion, and until when.

A version under *retention* (``ObjectVersion.retention``: ``(mode,
until_ms)``) or *legal hold* (``ObjectVersion.legal_hold``: true) cannot be
deleted by id, and its retention cannot be shortened:

- a legal hold protects until it is removed (PutObjectLegalHold OFF);
- ``COMPLIANCE`` retention protects until its date, from everybody;
- ``GOVERNANCE`` retention protects until its date, except from a request
  with ``x-amz-bypass-governance-retention: true`` by a key with owner
  rights on the bucket.

Time: retention dates are compared with this node's clock, with a margin of
:data:`CLOCK_MARGIN_MS` (the clock skew SigV4 tolerates between a client
and a node): a version stays protected until its date plus the margin. So a
node whose clock runs up to 15 minutes ahead still protects every version
until its date; one further ahead than that releases versions early by the
difference beyond the margin (the operator's NTP is the only cure: no node
can prove another's time). A clock that runs late only keeps versions
longer. The default retention of a bucket counts from the writing node's
clock.
"""

MODE_GOVERNANCE = "GOVERNANCE"
MODE_COMPLIANCE = "COMPLIANCE"
MODES = (MODE_GOVERNANCE, MODE_COMPLIANCE)

CLOCK_MARGIN_MS = 15 * 60 * 1000
DAY_MS = 24 * 3600 * 1000
# AWS counts a year of default retention as 365 days.
YEAR_DAYS = 365


def retention_of(version) -> tuple | None:
    """``(mode, until_ms)`` of a complete version, or None."""
    register = version.retention
    return None if register is None else register.value


def has_legal_hold(version) -> bool:
    register = version.legal_hold
    return register is not None and bool(register.value)


def retained_until(version, now_ms: int) -> tuple | None:
    """The retention still in force at ``now_ms`` (margin included), or
    None."""
    retention = retention_of(version)
    if retention is None:
        return None
    mode, until = retention
    return retention if now_ms < until + CLOCK_MARGIN_MS else None


def deletion_refusal(version, now_ms: int, bypass_governance: bool) -> str | None:
    """Why ``version`` may not be deleted now, or None if it may.

    :param bypass_governance: the request carries a governance bypass the
        caller has checked (header and owner rights).
    """
    if has_legal_hold(version):
        return "the version is under a legal hold"
    retention = retained_until(version, now_ms)
    if retention is None:
        return None
    mode, _ = retention
    if mode == MODE_GOVERNANCE and bypass_governance:
        return None
    return f"the version is under {mode} retention"


def is_protected(version, now_ms: int) -> bool:
    """Whether anything at all keeps ``version`` (lifecycle: never removed)."""
    return has_legal_hold(version) or retained_until(version, now_ms) is not None


def default_retention(config, now_ms: int) -> tuple | None:
    """``(mode, until_ms)`` a bucket's default retention gives a version
    written at ``now_ms``; ``config`` is ``(mode, days, years)`` or None."""
    if config is None:
        return None
    mode, days, years = config
    total_days = days if days is not None else years * YEAR_DAYS
    return mode, now_ms + total_days * DAY_MS
