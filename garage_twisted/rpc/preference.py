"""Which replica to ask first: this node, then its zone, then the nearest.

Reads ask only as many nodes as their quorum needs (then more on failure),
and blocks are read from one node at a time, so the order decides the
latency: this node answers without the network, a node of the same zone is
usually on the same LAN, and among the others the lowest measured ping
round trip wins (nodes never measured come last). Ties keep the given order,
so the choice is stable.

:class:`PreferredOrders` remembers the orders it computed: every read asks
for the order of one of a few hundred node sets (one per partition), while
the order changes only with the layout's roles or a new ping round trip
(one every few seconds per peer); a new round trip (``rtt_generation``)
forgets them all. Callers get a list of their own.
"""


def preferred_order(nodes, local_node_id: bytes, roles, rtt_of=None) -> list:
    """``nodes`` sorted by preference.

    :param roles: node id -> role (with ``zone``) of the layout version used.
    :param rtt_of: ``rtt_of(node id) -> seconds or None``, or ``None``.
    """
    mine = roles.get(local_node_id)
    my_zone = None if mine is None else mine.zone

    def key(node):
        role = roles.get(node)
        rtt = rtt_of(node) if rtt_of is not None else None
        return (node != local_node_id,
                role is None or role.zone != my_zone,
                rtt is None,
                rtt or 0.0)

    return sorted(dict.fromkeys(nodes), key=key)


class PreferredOrders:
    """:func:`preferred_order` for this node, remembered (module docstring).

    :param rtt_of: as in :func:`preferred_order`.
    :param rtt_generation: ``() -> int`` that changes whenever any answer of
        ``rtt_of`` may have.
    """

    MAX_REMEMBERED = 4096

    def __init__(self, local_node_id: bytes, rtt_of, rtt_generation):
        self.local_node_id = local_node_id
        self.rtt_of = rtt_of
        self.rtt_generation = rtt_generation
        self._generation = None
        self._orders = {}

    def __call__(self, nodes, roles) -> list:
        generation = self.rtt_generation()
        if generation != self._generation or len(self._orders) >= self.MAX_REMEMBERED:
            self._orders.clear()
            self._generation = generation
        key = (tuple(nodes), id(roles))
        known = self._orders.get(key)
        # The roles themselves are kept and compared: an id is reused once
        # an old layout version's roles are freed.
        if known is None or known[0] is not roles:
            known = self._orders[key] = (
                roles, preferred_order(nodes, self.local_node_id, roles, self.rtt_of))
        return list(known[1])


def read_order(local_node_id: bytes, rtt_of=None, rtt_generation=None):
    """``(nodes, roles) -> list`` in preferred order: remembered
    (:class:`PreferredOrders`) when ``rtt_generation`` tells the RTTs'
    changes, else computed every time."""
    if rtt_generation is not None:
        return PreferredOrders(local_node_id, rtt_of, rtt_generation)
    return lambda nodes, roles: preferred_order(nodes, local_node_id, roles, rtt_of)
