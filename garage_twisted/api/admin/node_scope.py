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

Invariants: a node runs for a peer only the operations of
:data:`LOCAL_OPERATIONS` (the peer is authenticated by the cluster secret,
as every RPC, and the admin token was checked by the node the operator
asked); their bodies and answers are JSON values, which CBOR carries as is.
"""

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.api.admin import blocks, errors, maintenance, node_ops, workers
from garage_twisted.net.mux import PRIO_NORMAL, RpcError
from garage_twisted.util.errors import GarageError

PATH = "admin/node_local"
# How long a node may take to answer; snapshots and repairs only start
# their work, so every operation fits.
TIMEOUT = 60.0

# operation name -> (HTTP method, ``async f(api, body) -> JSON value``)
LOCAL_OPERATIONS = {
    "GetNodeInfo": ("GET", node_ops.node_info),
    "GetNodeStatistics": ("GET", node_ops.node_statistics),
    "CreateMetadataSnapshot": ("POST", maintenance.create_metadata_snapshot),
    "LaunchRepairOperation": ("POST", maintenance.launch_repair_operation),
    "ListWorkers": ("POST", workers.list_workers),
    "GetWorkerInfo": ("POST", workers.get_worker_info),
    "GetWorkerVariable": ("POST", workers.get_worker_variable),
    "SetWorkerVariable": ("POST", workers.set_worker_variable),
    "ListBlockErrors": ("GET", node_ops.list_block_errors),
    "GetBlockInfo": ("POST", blocks.get_block_info),
    "RetryBlockResync": ("POST", node_ops.retry_block_resync),
    "PurgeBlocks": ("POST", blocks.purge_blocks),
}
# Asked of each other only, never routed to HTTP.
INTERNAL_OPERATIONS = {
    "NodeDiskSpace": ("GET", node_ops.disk_space),
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
            network.register(PATH, lambda call: defer.ensureDeferred(self._serve(call)))

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
        _, operation = _operation(name)
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
                error = errors.to_admin_error(result.value)
                answer["error"][node.hex()] = f"{error.code} ({error.status}): {error.message}"
            elif node == own:
                self.log.failure("admin operation {name} failed", result, name=name)
                answer["error"][node.hex()] = f"InternalError (500): {result.getErrorMessage()}"
            else:
                answer["error"][node.hex()] = _remote_message(result.value)
        return answer

    async def _ask(self, node: bytes, name: str, body):
        if self.network is None:
            raise GarageError("this node has no peer network")
        reply = await self.network.call(node, PATH, [name, body], priority=PRIO_NORMAL,
                                        timeout=self.timeout)
        return reply.message

    async def _serve(self, call):
        try:
            name, body = call.message
            _, operation = _operation(name)
        except (TypeError, ValueError, KeyError):
            raise RpcError("BadRequest", "unknown node operation") from None
        try:
            return await operation(self.api, body)
        except GarageError as e:
            error = errors.to_admin_error(e)
            raise RpcError(error.code, f"{error.code} ({error.status}): {error.message}") \
                from None


def _operation(name: str):
    """``(method, function)`` of a node operation. :raises KeyError:"""
    found = LOCAL_OPERATIONS.get(name) or INTERNAL_OPERATIONS.get(name)
    if found is None:
        raise KeyError(name)
    return found


def _remote_message(error: Exception) -> str:
    """What Garage says of a node that answered an error or none."""
    if isinstance(error, RpcError):
        return error.message
    return str(error) or type(error).__name__
