"""Real ``twistd garage`` processes for system tests.

A node is started with ``twistd -n`` and is ready when it logs its
``ready:`` line (written after node.json, once every listener is bound):
a readiness signal read from its output, never a sleep.
"""

import json
import os
import secrets
import sys

from twisted.internet import defer, protocol, reactor
from twisted.internet.error import ProcessDone, ProcessTerminated

VENV_BIN = os.path.dirname(sys.executable)


def tool(name: str) -> str:
    return os.path.join(VENV_BIN, name)


def write_config(base: str, block_size: int = 1 << 20, rpc_secret: str | None = None) -> str:
    os.makedirs(base, exist_ok=True)
    rpc_secret = rpc_secret or secrets.token_hex(32)
    path = os.path.join(base, "garage.toml")
    with open(path, "w") as f:
        f.write(f"""
metadata_dir = "{base}/meta"
data_dir = "{base}/data"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:0"
rpc_secret = "{rpc_secret}"
block_size = {block_size}

[s3_api]
api_bind_addr = "127.0.0.1:0"
s3_region = "garage"

[admin]
api_bind_addr = "127.0.0.1:0"
admin_token = "{secrets.token_urlsafe(16)}"
""")
    return path


# Sets RLIMIT_NOFILE, then becomes the command that follows.
_WITH_NOFILE = ("import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, "
                "(int(sys.argv[1]), int(sys.argv[2]))); os.execv(sys.argv[3], sys.argv[3:])")


class NodeProcess(protocol.ProcessProtocol):
    """One ``twistd -n garage`` child process."""

    def __init__(self, config: str):
        self.config = config
        self.output = []
        self.ready = defer.Deferred()
        self.ended = defer.Deferred()
        self.exit_code = None

    @classmethod
    def spawn(cls, config: str, *options: str,
              open_files: tuple[int, int] | None = None) -> "NodeProcess":
        """Start ``twistd -n garage -c config *options``, with RLIMIT_NOFILE
        ``open_files`` (soft, hard) if given."""
        node = cls(config)
        env = dict(os.environ)
        argv = [tool("twistd"), "-n", "--pidfile", "", "garage", "-c", config, *options]
        if open_files is not None:
            argv = [sys.executable, "-c", _WITH_NOFILE, *map(str, open_files), *argv]
        reactor.spawnProcess(node, argv[0], argv, env=env)
        return node

    def outReceived(self, data):
        self.output.append(data)
        if not self.ready.called and b" ready: " in b"".join(self.output[-3:]):
            self.ready.callback(self)

    errReceived = outReceived

    def processEnded(self, reason):
        if isinstance(reason.value, (ProcessDone, ProcessTerminated)):
            self.exit_code = reason.value.exitCode
            self.signal = getattr(reason.value, "signal", None)
        if not self.ready.called:
            self.ready.errback(RuntimeError(
                "node exited before ready:\n" + b"".join(self.output).decode(errors="replace")))
        self.ended.callback(self.exit_code)

    def info(self) -> dict:
        meta = self.config.rsplit("/", 1)[0] + "/meta/node.json"
        with open(meta) as f:
            return json.load(f)

    def kill(self, signal="KILL") -> defer.Deferred:
        if not self.ended.called:
            self.transport.signalProcess(signal)
        return self.ended


async def run(*args, env=None, check=True):
    """Run a command without blocking the reactor; returns (out, err, code)."""
    from twisted.internet.utils import getProcessOutputAndValue

    out, err, code = await getProcessOutputAndValue(args[0], args[1:],
                                                    env=env or dict(os.environ))
    if check and code != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({code}): {err.decode()} {out.decode()}")
    return out.decode(), err.decode(), code


async def setup_key_and_bucket(config: str, bucket: str):
    """Layout, key with create-bucket right, and a bucket, through the CLI."""
    garage = tool("garage")
    node_id = (await run(garage, "-c", config, "node", "id", "-q"))[0].split("@")[0]
    await run(garage, "-c", config, "layout", "assign", "-z", "dc1", "-c", "1G", node_id)
    await run(garage, "-c", config, "layout", "apply", "--version", "1")
    out = (await run(garage, "-c", config, "key", "create", "system-test"))[0]
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    key_id, secret = fields["Key ID"], fields["Secret key"]
    await run(garage, "-c", config, "key", "allow", "--create-bucket", key_id)
    await run(garage, "-c", config, "bucket", "create", bucket)
    await run(garage, "-c", config, "bucket", "allow", "--read", "--write", "--owner",
              bucket, "--key", key_id)
    return key_id, secret
