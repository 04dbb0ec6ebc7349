"""Which replica to ask first: this node, then its zone, then the nearest.

Reads ask only as many nodes as their quorum needs (then more on failure),
and blocks are read from one node at a time, so the order decides the
latency: this node answers without the network, a node of the same zone is
usually on the same LAN, and among the others the lowest measured ping
round trip wins (nodes never measured come last). Ties keep the given order,
so the choice is stable.
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
