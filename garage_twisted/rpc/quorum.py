"""Quorum calls: ask several nodes, answer as soon as enough of them did.

``try_call_many`` calls every node at once (or, for reads, the preferred
``quorum`` nodes first, then more on failure or delay) and fires with the
first ``quorum`` successful replies; the other calls go on in the background
(their results are dropped, so a write still reaches every replica the
network can reach). It fails with :class:`QuorumError` as soon as the
quorum can no longer be reached, naming each node's error.

``try_write_many_sets`` is the write of a layout transition: the nodes of
several sets (one per active layout version) are called once each, and the
write succeeds when every set has ``quorum`` acknowledgements among its own
nodes.

``call(node_id, path, message)`` is the network's call (Deferred[Reply]);
passing it in keeps this module testable with any fake.
"""

from twisted.internet import defer

from garage_twisted.util.errors import QuorumError

# A read that has no quorum after this long also asks the next node.
HEDGE_AFTER = 0.5


def _describe(errors: dict) -> str:
    return "; ".join(f"{node.hex()[:16]}: {error}" for node, error in errors.items())


def try_call_many(call, nodes, path: str, message, quorum: int,
                  all_at_once: bool = True, clock=None,
                  hedge_after: float = HEDGE_AFTER) -> defer.Deferred:
    """Deferred[list of (node, Reply)] once ``quorum`` nodes answered.

    :param all_at_once: call every node now (writes: every replica gets
        it); ``False`` calls the first ``quorum`` nodes (give them most
        preferred first) and one more for each failure (reads: no work is
        asked of a node whose answer is not needed); with a ``clock``, also
        one more every ``hedge_after`` seconds without a quorum (a node
        that hangs costs a moment, not its whole timeout).
    :raises QuorumError: (errback) when too many failed to reach the quorum.
    """
    nodes = list(dict.fromkeys(nodes))
    if quorum > len(nodes):
        return defer.fail(QuorumError(
            f"{path}: a quorum of {quorum} needs more than the {len(nodes)} nodes given"))
    result = defer.Deferred()
    successes, errors = [], {}
    waiting = list(reversed(nodes))

    def start_next():
        node = waiting.pop()
        d = defer.maybeDeferred(call, node, path, message)
        d.addCallbacks(succeeded, failed, callbackArgs=(node,), errbackArgs=(node,))

    def succeeded(reply, node):
        if result.called:
            return
        successes.append((node, reply))
        if len(successes) >= quorum:
            result.callback(list(successes))

    def failed(failure, node):
        errors[node] = failure.getErrorMessage() or failure.type.__name__
        if result.called:
            return
        if len(nodes) - len(errors) < quorum:
            result.errback(QuorumError(
                f"{path}: {len(successes)} of {quorum} needed answers; {_describe(errors)}"))
        elif waiting:
            start_next()

    for _ in range(len(nodes) if all_at_once else quorum):
        if not waiting or (result.called and not all_at_once):
            # Calls that failed at once already started the next ones (or
            # made the quorum impossible: a read asks no more).
            break
        start_next()
    if quorum == 0 and not result.called:
        result.callback([])
    if waiting and clock is not None and not result.called:
        def hedge():
            if not result.called and waiting:
                start_next()
                if waiting:
                    timer[0] = clock.callLater(hedge_after, hedge)

        timer = [clock.callLater(hedge_after, hedge)]

        def cancel_timer(passthrough):
            if timer[0].active():
                timer[0].cancel()
            return passthrough

        result.addBoth(cancel_timer)
    return result


def try_write_many_sets(call, sets, path: str, message, quorum: int,
                        on_all_done=None) -> defer.Deferred:
    """Deferred[list of (node, Reply)] once every set has ``quorum``
    acknowledgements: the replies received by then.

    Each node is called once, whatever number of sets it belongs to.

    :param on_all_done: called with no argument once every call has ended
        (answered or failed), the background ones after the quorum
        included; also when the write fails before any call.
    """
    sets = [list(dict.fromkeys(s)) for s in sets]
    for s in sets:
        if quorum > len(s):
            if on_all_done is not None:
                on_all_done()
            return defer.fail(QuorumError(
                f"{path}: a quorum of {quorum} needs more than the {len(s)} nodes of a set"))
    result = defer.Deferred()
    acked, errors = {}, {}
    nodes = list(dict.fromkeys(n for s in sets for n in s))
    running = [len(nodes)]

    def settled():
        if result.called:
            return
        if all(sum(1 for n in s if n in acked) >= quorum for s in sets):
            result.callback(list(acked.items()))
        elif any(len(s) - sum(1 for n in s if n in errors) < quorum for s in sets):
            result.errback(QuorumError(
                f"{path}: a write set cannot reach {quorum} acknowledgements; "
                f"{_describe(errors)}"))

    def ended():
        running[0] -= 1
        if running[0] == 0 and on_all_done is not None:
            on_all_done()

    def succeeded(reply, node):
        acked[node] = reply
        settled()
        ended()

    def failed(failure, node):
        errors[node] = failure.getErrorMessage() or failure.type.__name__
        settled()
        ended()

    for node in nodes:
        d = defer.maybeDeferred(call, node, path, message)
        d.addCallbacks(succeeded, failed, callbackArgs=(node,), errbackArgs=(node,))
    if not nodes:
        if not result.called:
            result.callback([])
        if on_all_done is not None:
            on_all_done()
    return result
