"""Node-scoped admin operations, asked of any node through any node.

Garage's node operations (``GetNodeInfo``, ``GetNodeStatistics``,
``ListWorkers``, ``ListBlockErrors``, ...) take ``?node=``: ``self``, ``*``
(every node of the layout's active versions and every other node up now),
or a node id or a prefix of one that matches exactly one node. The node that
takes the HTTP request runs the operation itself for itself and asks each
other node over RPC (``admin/node_local``, message ``[operation, body]``),
then answers Garage's ``{"success": {node id: answer}, "error": {node id:
message}}``: a node that is down or fails is in ``error``, the others still
answer. Only a ``node`` that matches no node, or several, fails the request
as a whole (400), as in Garage.

A request body is checked by the node asked, before any node runs the
operation: a malformed one is that request's 400, as in Garage, not an
error per node. A node that stops waiting for another (the RPC times out)
does not cancel the operation there: a snapshot or a purge runs to its end.

Invariants: a node runs for a peer only the operations of
:data:`LOCAL_OPERATIONS` and :data:`INTERNAL_OPERATIONS` (the peer is
authenticated by the cluster secret, as every RPC, and the admin token was
checked by the node the operator asked); their bodies and answers are JSON
values, which CBOR carries as is.
"""

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from garage_twisted.api.admin import blocks, errors, node_ops, repairs, workers
from garage_twisted.net.errors import RpcError
from garage_twisted.net.mux import PRIO_NORMAL
from garage_twisted.util.errors import GarageError

PATH = "admin/node_local"
# How long a node waits for another's answer.
TIMEOUT = 60.0
# ... for the operations whose work is done before they answer, and grows
# with the node's data (a metadata snapshot, a purge of many blocks).
LONG_TIMEOUT = 600.0
LONG_OPERATIONS = {"CreateMetadataSnapshot", "PurgeBlocks"}

# operation name -> (HTTP method, ``async f(api, body) -> JSON value``,
# ``check(body)`` raising BadRequest for a malformed body, or None)
LOCAL_OPERATIONS = {
    "GetNodeInfo": ("GET", node_ops.node_info, None),
    "GetNodeStatistics": ("GET", node_ops.node_statistics, None),
    "GetNodeMetrics": ("GET", node_ops.node_metrics, None),
    "CreateMetadataSnapshot": ("POST", repairs.create_metadata_snapshot, None),
    "LaunchRepairOperation": ("POST", repairs.launch_repair_operation,
                              repairs.check_repair_type),
    "ListWorkers": ("POST", workers.list_workers, None),
    "GetWorkerInfo": ("POST", workers.get_worker_info, workers.check_worker_id),
    "GetWorkerVariable": ("POST", workers.get_worker_variable, workers.check_get_variable),
    "SetWorkerVariable": ("POST", workers.set_worker_variable, workers.check_set_variable),
    "ListBlockErrors": ("GET", node_ops.list_block_errors, None),
    "GetBlockInfo": ("POST", blocks.get_block_info, blocks.check_block_info),
    "RetryBlockResync": ("POST", node_ops.retry_block_resync, node_ops.check_retry),
    "PurgeBlocks": ("POST", blocks.purge_blocks, blocks.check_purge),
}
# Asked of each other only, never routed to HTTP.
INTERNAL_OPERATIONS = {
    "NodeDiskSpace": ("GET", node_ops.disk_space, None),
}


class NodeScope:
    """Runs node-scoped operations here and on the nodes ``?node=`` names.

    :param api: this node's ``AdminApi`` (what the operations read).
    :param network: the node's ``Network``, or ``None`` (this node only);
        ``admin/node_local`` is registered on it.
    """

    log = Logger()

    def __init__(self, api, network=None, timeout: float = TIMEOUT):
        self.api = api
        self.network = network
        self.timeout = timeout
        if network is not None:
            network.register(PATH, self._serve)

    def candidates(self) -> list:
        """Every node ``?node=`` may name: the layout's nodes, then the
        other nodes up now."""
        system = self.api.system
        found = []
        for version in self.api.layout.active_versions():
            found += [n for n in sorted(version.roles) if n not in found]
        found += [n for n in sorted(system.connected_nodes()) if n not in found]
        return found

    def matching_nodes(self, spec: str) -> list:
        """The node ids ``spec`` names, as Garage's ``find_matching_nodes``.

        :raises errors.BadRequest: no node matches, or a prefix matches several.
        """
        own = self.api.system.node_id
        if spec == "self":
            return [own]
        if spec == "*":
            nodes = self.candidates()
            return nodes if own in nodes else [own] + nodes
        matches = [n for n in self.candidates() if n.hex().startswith(spec.lower())]
        if not spec or not matches:
            raise errors.BadRequest(f"No nodes matching {spec}")
        if len(matches) > 1:
            raise errors.BadRequest(f"Multiple nodes matching {spec}: "
                                    f"{', '.join(n.hex() for n in matches)}")
        return matches

    async def run(self, name: str, spec: str, body) -> dict:
        """Garage's multi-node answer of operation ``name`` on the nodes of ``spec``."""
        _, operation, check = _operation(name)
        if check is not None:
            check(body)
        nodes = self.matching_nodes(spec)
        own = self.api.system.node_id
        calls = [defer.ensureDeferred(operation(self.api, body) if node == own
                                      else self._ask(node, name, body)) for node in nodes]
        results = await defer.DeferredList(calls, consumeErrors=True)
        answer = {"success": {}, "error": {}}
        for node, (ok, result) in zip(nodes, results):
            if ok:
                answer["success"][node.hex()] = result
            elif node == own and result.check(GarageError):
                # Even for this node alone, an error is an entry of the
                # answer, not the request's status, as in Garage.
                answer["error"][node.hex()] = _error_message(result.value)
            elif node == own:
                self.log.failure("admin operation {name} failed", result, name=name)
                answer["error"][node.hex()] = f"InternalError (500): {result.getErrorMessage()}"
            else:
                answer["error"][node.hex()] = _remote_message(result.value)
        return answer

    async def _ask(self, node: bytes, name: str, body):
        if self.network is None:
            raise GarageError("this node has no peer network")
        timeout = LONG_TIMEOUT if name in LONG_OPERATIONS else self.timeout
        reply = await self.network.call(node, PATH, [name, body], priority=PRIO_NORMAL,
                                        timeout=timeout)
        return reply.message

    def _serve(self, call) -> defer.Deferred:
        try:
            name, body = call.message
            _, operation, _ = _operation(name)
        except (TypeError, ValueError, KeyError):
            return defer.fail(RpcError("BadRequest", "unknown node operation"))
        work = defer.ensureDeferred(self._run_for_peer(operation, body))
        # The caller's cancel (its timeout) ends its wait, not the work.
        answer = defer.Deferred()

        def forward(result):
            if not answer.called:
                answer.callback(result)
            elif isinstance(result, Failure):
                self.log.failure("node operation {name} for a peer failed after it "
                                 "stopped waiting", result, name=name)
        work.addBoth(forward)
        return answer

    async def _run_for_peer(self, operation, body):
        try:
            return await operation(self.api, body)
        except GarageError as e:
            raise RpcError(errors.to_admin_error(e).code, _error_message(e)) from None


def _error_message(error: GarageError) -> str:
    """An error entry of a node-scoped answer: ``code (status): message``."""
    admin_error = errors.to_admin_error(error)
    return f"{admin_error.code} ({admin_error.status}): {admin_error.message}"


def _operation(name: str):
    """``(method, function, check)`` of a node operation. :raises KeyError:"""
    found = LOCAL_OPERATIONS.get(name) or INTERNAL_OPERATIONS.get(name)
    if found is None:
        raise KeyError(name)
    return found


def _remote_message(error: Exception) -> str:
    """What Garage says of a node that answered an error or none."""
    if isinstance(error, RpcError):
        return error.message
    return str(error) or type(error).__name__
