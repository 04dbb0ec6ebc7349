"""Connections counted against a total cap and a per-client cap.

Used by the HTTP listeners (open client connections) and the RPC listener
(pending handshakes). A client is its address as a network sees it, not as
the socket spells it:

- ``::ffff:a.b.c.d`` (an IPv4 client on a dual-stack socket) is ``a.b.c.d``:
  one machine does not get two shares by connecting both ways;
- an IPv6 address is its /64: one end network gets one share, as a /64 is
  what a single home or host is given, so a client cannot take the node's
  connections by cycling through the 2^64 addresses it owns.

Anything else (a Unix socket, an unparsable string) is its own client.
"""

import ipaddress


def client_key(address: str) -> str:
    """The client ``address`` counts as (see the module docstring)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def address_key(address: str) -> str:
    """``address`` as one host: ``::ffff:a.b.c.d`` is ``a.b.c.d``, an IPv6
    address itself (peers of one /64 are distinct machines)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class AddressBudget:
    """Open items counted against ``total`` and ``per_client``.

    :param total: at most this many at once.
    :param per_client: at most this many from one client.
    :param key: what client an address counts as (:func:`client_key`, an
        IPv6 /64 for HTTP clients; :func:`address_key` for the RPC port,
        where nodes of one network must not share a share).
    """

    def __init__(self, total: int, per_client: int, key=None):
        self.total = total
        self.per_client = per_client
        self._key = key or client_key
        self.open = 0
        self.refused = 0
        self._by_client: dict[str, int] = {}

    def admit(self, address: str) -> bool:
        """Count one more from ``address``; ``False`` (nothing counted) if
        it would pass a cap."""
        key = self._key(address)
        held = self._by_client.get(key, 0)
        if self.open >= self.total or held >= self.per_client:
            self.refused += 1
            return False
        self.open += 1
        self._by_client[key] = held + 1
        return True

    def release(self, address: str) -> None:
        """One from ``address`` ended (it was admitted)."""
        key = self._key(address)
        self.open -= 1
        held = self._by_client.pop(key) - 1
        if held:
            self._by_client[key] = held

    def held_by(self, address: str) -> int:
        """How many ``address``'s client holds."""
        return self._by_client.get(self._key(address), 0)
