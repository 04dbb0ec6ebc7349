"""Invitations: one line that lets a new machine reach and authenticate to a cluster.

Format: ``garage-invite:v1:<rpc_secret, 64 hex>:<node id>@<host>:<port>``.
It carries the cluster's secret, so it must be passed like a password (the
same way Garage users pass ``rpc_secret`` between their machines); anyone
holding it can join the cluster.
"""

import re
from dataclasses import dataclass

from garage_twisted.net.keys import NodeKeyError, PeerAddress, parse_peer_address

PREFIX = "garage-invite:v1:"


class InvitationError(NodeKeyError):
    code = "InvitationError"


@dataclass(frozen=True)
class Invitation:
    rpc_secret_hex: str
    peer: PeerAddress

    def __str__(self) -> str:
        return f"{PREFIX}{self.rpc_secret_hex.lower()}:{self.peer}"


def parse_invitation(line: str) -> Invitation:
    """:raises InvitationError: saying what is wrong with ``line``."""
    line = line.strip()
    if not line.startswith(PREFIX):
        raise InvitationError(f"an invitation starts with {PREFIX!r} "
                              "(get one with `garage node invite` on a cluster member)")
    secret, sep, peer = line[len(PREFIX):].partition(":")
    if not sep or not re.fullmatch(r"[0-9a-fA-F]{64}", secret):
        raise InvitationError("the invitation's secret is not 64 hexadecimal characters")
    try:
        address = parse_peer_address(peer)
    except NodeKeyError as e:
        raise InvitationError(f"the invitation's node address is invalid: {e}") from None
    return Invitation(secret.lower(), address)
