"""Conditional writes: PutObject with ``If-None-Match: *`` or ``If-Match``.

``If-None-Match: *`` (create only if absent) must let exactly one of several
concurrent writers win, on one node or several. Garage's tables have no
locks nor consensus; the writers settle it through the object entry itself:

1. a writer fails at once (412) if the key has a visible object;
2. it writes a *claim*: an uploading version marked exclusive, and reads
   the object back (both at quorum, so of two writers at least one sees
   the other's claim: a read quorum meets every write quorum);
3. it wins if it sees no other live claim and no object, then uploads and
   completes its claim. Seeing another claim, the writer with the larger
   (timestamp, id) withdraws (aborts its claim) and waits for the others to
   finish: an object appears (412) or all withdraw (it tries again); the
   smaller one reads again after a short pause, and wins once the larger
   has withdrawn. Since a writer wins only while seeing no other claim, two
   writers never both win; the pauses make one of them win.

A claim older than ``CLAIM_TTL`` is ignored (its writer crashed). So the
guarantee is: with ``consistency_mode = "consistent"`` and uploads shorter
than ``CLAIM_TTL``, at most one concurrent ``If-None-Match: *`` writer
succeeds, the others get 412 (and a writer waits at most ``WAIT_LIMIT``
before answering 409 ConditionalRequestConflict). ``If-Match: "etag"``
is checked when the upload starts and again just before it completes (a
write that replaced the object meanwhile makes it 412); two concurrent
``If-Match`` writers may both succeed, the later one winning, as two plain
PUTs would.
"""

import random
import secrets

from twisted.internet import task

from garage_twisted.api.s3 import errors, preconditions
from garage_twisted.model.object import STATE_ABORTED, STATE_UPLOADING, Object, ObjectVersion
from garage_twisted.util.time import now_msec

EXCLUSIVE = "x-garage-if-none-match"
CLAIM_TTL_MS = 15 * 60 * 1000
WAIT_LIMIT = 30.0
PAUSE = (0.02, 0.1)


def _is_live_claim(version, now_ms: int) -> bool:
    return version.is_uploading and any(h[0] == EXCLUSIVE for h in version.upload_headers) \
        and now_ms - version.timestamp < CLAIM_TTL_MS


def _precondition_failed():
    return errors.PreconditionFailed("At least one of the pre-conditions you specified did "
                                     "not hold")


async def _pause(ctx) -> None:
    await task.deferLater(ctx.api.clock, random.uniform(*PAUSE), lambda: None)


async def claim_for_put(ctx, key: str):
    """The claim a conditional PutObject writes into, or ``None`` (plain PUT).

    :raises errors.PreconditionFailed: the condition does not hold.
    """
    if_none_match = ctx.header(b"if-none-match")
    if_match = ctx.header(b"if-match")
    if if_none_match is None and if_match is None:
        return None
    table = ctx.api.model.object_table
    if if_match is not None:
        obj = await table.get(ctx.bucket_id, key.encode())
        current = None if obj is None else obj.last_data_version()
        if current is None:
            raise errors.NoSuchKey("The specified key does not exist.", extra={"Key": key})
        if not preconditions.etag_matches(if_match, current.data.meta.etag):
            raise _precondition_failed()
        ctx.if_match_version = current.uuid
        return None
    if if_none_match.strip() != "*":
        raise errors.NotImplemented("If-None-Match on PUT only supports *")
    started = ctx.api.clock.seconds()
    while True:
        obj = await table.get(ctx.bucket_id, key.encode())
        if obj is not None and obj.last_data_version() is not None:
            raise _precondition_failed()
        now = now_msec(ctx.api.clock)
        timestamp = max(now, (obj.max_timestamp() + 1) if obj is not None else 0)
        claim = ObjectVersion(secrets.token_bytes(32), timestamp, STATE_UPLOADING,
                              upload_headers=((EXCLUSIVE, "*"),),
                              versioned=ctx.versioned_writes)
        await table.insert(Object(ctx.bucket_id, key, (claim,)))
        while True:
            obj = await table.get(ctx.bucket_id, key.encode())
            if obj is not None and obj.last_data_version() is not None:
                await release(ctx, key, claim)
                raise _precondition_failed()
            now = now_msec(ctx.api.clock)
            others = [v for v in (obj.versions if obj is not None else ())
                      if v.uuid != claim.uuid and _is_live_claim(v, now)]
            if not others:
                return claim
            if ctx.api.clock.seconds() - started > WAIT_LIMIT:
                await release(ctx, key, claim)
                raise errors.ConditionalRequestConflict(
                    "A conflicting conditional operation is currently in progress against "
                    "this resource. Try again.")
            if claim.cmp_key() < min(v.cmp_key() for v in others):
                await _pause(ctx)  # the others withdraw: look again
                continue
            # Withdraw, and wait for the others to finish or withdraw too.
            await release(ctx, key, claim)
            while True:
                await _pause(ctx)
                obj = await table.get(ctx.bucket_id, key.encode())
                if obj is not None and obj.last_data_version() is not None:
                    raise _precondition_failed()
                now = now_msec(ctx.api.clock)
                if not any(_is_live_claim(v, now) for v in (obj.versions if obj else ())):
                    break
                if ctx.api.clock.seconds() - started > WAIT_LIMIT:
                    raise errors.ConditionalRequestConflict(
                        "A conflicting conditional operation is currently in progress "
                        "against this resource. Try again.")
            break  # everyone withdrew: claim again


async def check_before_complete(ctx, key: str) -> None:
    """``If-Match``: the object matched must still be the current one."""
    expected = getattr(ctx, "if_match_version", None)
    if expected is None:
        return
    obj = await ctx.api.model.object_table.get(ctx.bucket_id, key.encode())
    current = None if obj is None else obj.last_data_version()
    if current is None or current.uuid != expected:
        raise _precondition_failed()


async def release(ctx, key: str, claim) -> None:
    """Abort a claim (its writer lost or failed)."""
    await ctx.api.model.object_table.insert(Object(
        ctx.bucket_id, key, (ObjectVersion(claim.uuid, claim.timestamp, STATE_ABORTED,
                                           versioned=claim.versioned),)))
