"""Quorum calls: ask several nodes, answer as soon as enough of them did.

``try_call_many`` calls every node at once and fires with the first
``quorum`` successful replies; the other calls go on in the background
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


def _describe(errors: dict) -> str:
    return "; ".join(f"{node.hex()[:16]}: {error}" for node, error in errors.items())


def try_call_many(call, nodes, path: str, message, quorum: int) -> defer.Deferred:
    """Deferred[list of (node, Reply)] once ``quorum`` nodes answered.

    :raises QuorumError: (errback) when too many failed to reach the quorum.
    """
    nodes = list(dict.fromkeys(nodes))
    if quorum > len(nodes):
        return defer.fail(QuorumError(
            f"{path}: a quorum of {quorum} needs more than the {len(nodes)} nodes given"))
    result = defer.Deferred()
    successes, errors = [], {}

    def succeeded(reply, node):
        if result.called:
            return
        successes.append((node, reply))
        if len(successes) >= quorum:
            result.callback(list(successes))

    def failed(failure, node):
        errors[node] = failure.getErrorMessage() or failure.type.__name__
        if not result.called and len(nodes) - len(errors) < quorum:
            result.errback(QuorumError(
                f"{path}: {len(successes)} of {quorum} needed answers; {_describe(errors)}"))

    for node in nodes:
        d = defer.maybeDeferred(call, node, path, message)
        d.addCallbacks(succeeded, failed, callbackArgs=(node,), errbackArgs=(node,))
    if quorum == 0 and not result.called:
        result.callback([])
    return result


def try_write_many_sets(call, sets, path: str, message, quorum: int) -> defer.Deferred:
    """Deferred[None] once every set has ``quorum`` acknowledgements.

    Each node is called once, whatever number of sets it belongs to.
    """
    sets = [list(dict.fromkeys(s)) for s in sets]
    for s in sets:
        if quorum > len(s):
            return defer.fail(QuorumError(
                f"{path}: a quorum of {quorum} needs more than the {len(s)} nodes of a set"))
    result = defer.Deferred()
    acked, errors = set(), {}
    nodes = list(dict.fromkeys(n for s in sets for n in s))

    def settled():
        if result.called:
            return
        if all(sum(1 for n in s if n in acked) >= quorum for s in sets):
            result.callback(None)
        elif any(len(s) - sum(1 for n in s if n in errors) < quorum for s in sets):
            result.errback(QuorumError(
                f"{path}: a write set cannot reach {quorum} acknowledgements; "
                f"{_describe(errors)}"))

    def succeeded(_reply, node):
        acked.add(node)
        settled()

    def failed(failure, node):
        errors[node] = failure.getErrorMessage() or failure.type.__name__
        settled()

    for node in nodes:
        d = defer.maybeDeferred(call, node, path, message)
        d.addCallbacks(succeeded, failed, callbackArgs=(node,), errbackArgs=(node,))
    if not nodes and not result.called:
        result.callback(None)
    return result
