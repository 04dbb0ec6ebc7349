"""The CLI's connection to a node: its admin API, over HTTP with treq.

The CLI never opens a running node's database (LevelDB allows one process):
every command is an admin API call. The address and token come from the
node's configuration file (and its ``node.json`` for the bound port), or
from ``--admin-url`` / ``--admin-token``.
"""

import json
import os
from urllib.parse import urlencode

from twisted.internet.error import (
    ConnectError, ConnectionLost, ConnectionRefusedError, DNSLookupError, TimeoutError)
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from garage_twisted.util.config import load_config
from garage_twisted.util.errors import GarageError


class CliError(GarageError):
    """A failure to report to the user as one line."""

    code = "CliError"


def load_cli_config(args):
    """The node's configuration: ``-c``, else ``$GARAGE_CONFIG_FILE``, else
    ``/etc/garage.toml``. :raises ConfigError:"""
    path = args.config or os.environ.get("GARAGE_CONFIG_FILE") or "/etc/garage.toml"
    return load_config(path)


def admin_url_from_config(config) -> str:
    """Where a node's admin API listens, as a URL for a local client."""
    port = None
    try:
        with open(os.path.join(config.metadata_dir, "node.json")) as f:
            port = json.load(f).get("admin_port")
    except (OSError, ValueError):
        pass
    admin = config.admin
    if admin is None or admin.api_bind_addr is None:
        raise CliError("the configuration has no [admin] api_bind_addr: the CLI talks to "
                       "the node through its admin API")
    address = admin.api_bind_addr
    if address.unix_path is not None:
        raise CliError("an admin API on a UNIX socket is not supported by this CLI; "
                       "use --admin-url")
    host = address.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port or address.port}"


class AdminClient:
    """Calls ``/v2/<Operation>`` endpoints.

    :param http: a treq-like object (``treq`` with a pool, or ``StubTreq``).
    :param base_url: e.g. ``http://127.0.0.1:3903``.
    :param token: the admin bearer token.
    """

    def __init__(self, http, base_url: str, token: str | None):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.token = token

    async def call(self, name: str, query: dict | None = None, body=None, method=None):
        """Call an operation; returns its decoded JSON (or ``None``).

        :raises CliError: unreachable node, or the API's error message.
        """
        url = f"{self.base_url}/v2/{name}"
        if query:
            url += "?" + urlencode(query)
        headers = {b"authorization": [f"Bearer {self.token or ''}".encode()]}
        method = method or ("GET" if body is None else "POST")
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers[b"content-type"] = [b"application/json"]
        try:
            response = await self.http.request(method, url, headers=headers, data=data)
            content = await self.http.content(response)
        except (ConnectionRefusedError, ConnectError, DNSLookupError) as e:
            raise CliError(f"cannot reach the node's admin API at {self.base_url} "
                           f"({e.__class__.__name__}): is the node running?") from None
        except (ResponseFailed, ResponseNeverReceived, ConnectionLost, TimeoutError) as e:
            raise CliError(f"the node's admin API at {self.base_url} closed the connection "
                           f"before answering {name} ({e.__class__.__name__})") from None
        if response.code != 200:
            try:
                message = json.loads(content)["message"]
            except (ValueError, KeyError, TypeError):
                message = content.decode("utf-8", "replace")
            # One line, whatever the API sent.
            message = " ".join(str(message).split())[:500]
            raise CliError(message or f"the admin API answered {name} with HTTP "
                                      f"{response.code}")
        if not content.strip():
            return None
        try:
            return json.loads(content)
        except ValueError:
            raise CliError(f"the admin API answered {name} with something not JSON: "
                           f"{content[:80]!r}") from None
