"""What the layers above the network may use of it: :class:`IPeerNetwork`.

Two implementations: :class:`garage_twisted.net.network.Network` (Noise over
TCP) and the in-memory ``tests.support.fake_network.FakeNetwork``; one
conformance test (``tests/unit/net/test_peer_network_interface.py``) runs
the same behaviours against both.

Dialling, listening, closing and metrics (``connect``, ``server_factory``,
``close_all``, ``metrics``) are the real transport's own: only the node's
service and :mod:`garage_twisted.net.peering` use them, on a ``Network``.
"""

from zope.interface import Attribute, Interface

from garage_twisted.net.mux import PRIO_NORMAL


class IPeerNetwork(Interface):
    """One node's connections to its peers, and its named RPC endpoints."""

    node_id = Attribute(
        "This node's 32-byte id: a call to it is served here without the network "
        "(tables, the block replicator and gc compare nodes to it).")

    connections = Attribute(
        "A mapping whose keys are the ids of the peers connected now (sync, layout "
        "gossip and the block replicator ask ``node in connections`` or iterate it); "
        "its values are the implementation's own.")

    on_connected = Attribute(
        "A list of ``callback(node_id)``, each called when a peer becomes connected "
        "(the node wakes its table syncers; peering records the peer up).")

    on_disconnected = Attribute(
        "A list of ``callback(node_id)``, each called when a connected peer is lost "
        "(peering records the peer down).")

    def register(path, handler):
        """Serve ``path`` (``"garage/ping"``, ``"table/object/update"``...)
        with ``handler(IncomingCall) -> Reply | message | Deferred``.

        :raises ValueError: ``path`` is already registered.
        """

    def call(node_id, path, message=None, priority=PRIO_NORMAL, stream=None, timeout=None):
        """Call ``path`` on ``node_id`` (this node included).

        :returns: a Deferred firing with a ``Reply``; failing with
            ``PeerDisconnected`` (not connected, or lost during the call),
            ``CallTimeout`` (no answer within ``timeout`` seconds) or
            ``RemoteError`` (the handler's ``RpcError``, ``NoSuchEndpoint``,
            or ``InternalError`` for anything else it raised).
        """
