"""A cluster of real nodes whose RPC links go through link proxies (scripts).

Synchronous (subprocesses and polling), for the benchmark and fault scripts
(``scripts/bench-geo``, ``scripts/chaos``). Node ``i`` binds its RPC port
``rpc[i]`` and advertises ``public[i]``, where a
:mod:`tests.support.link_proxy` process forwards to it with a one-way delay;
signals drive faults: ``kill``/``restart`` the node, ``pause``/``resume``
it (SIGSTOP/SIGCONT), ``cut``/``heal`` its link (the proxy closes every
connection to the node and refuses new ones).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


def tool(name):
    path = os.path.join(VENV_BIN, name)
    return path if os.path.exists(path) else shutil.which(name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what, timeout=90):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


class ProxiedCluster:
    def __init__(self, count=3, delay=0.0, base=None):
        self.count = count
        self.delay = delay
        self.base = base or tempfile.mkdtemp(prefix="garage-proxied-")
        self.secret, self.token = os.urandom(32).hex(), os.urandom(16).hex()
        self.rpc = [free_port() for _ in range(count)]
        self.public = [free_port() for _ in range(count)]
        self.s3_ports = [free_port() for _ in range(count)]
        self.nodes, self.proxies, self.ids = [None] * count, [None] * count, [None] * count
        self.configs = []
        self.env = dict(os.environ, PYTHONPATH=ROOT)

    def _config(self, i) -> str:
        directory = os.path.join(self.base, f"node{i}")
        os.makedirs(directory, exist_ok=True)
        bootstrap = "" if i == 0 else \
            f'bootstrap_peers = ["{self.ids[0]}@127.0.0.1:{self.public[0]}"]'
        path = os.path.join(directory, "garage.toml")
        with open(path, "w") as f:
            f.write(f"""metadata_dir = "{directory}/meta"
data_dir = "{directory}/data"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:{self.rpc[i]}"
rpc_public_addr = "127.0.0.1:{self.public[i]}"
rpc_secret = "{self.secret}"
{bootstrap}
[s3_api]
api_bind_addr = "127.0.0.1:{self.s3_ports[i]}"
s3_region = "garage"
[admin]
api_bind_addr = "127.0.0.1:0"
admin_token = "{self.token}"
""")
        return path

    def garage(self, i, *args) -> str:
        return subprocess.run([tool("garage"), "-c", self.configs[i], *args], check=True,
                              capture_output=True, text=True, timeout=60).stdout

    def start_node(self, i) -> None:
        directory = os.path.dirname(self.configs[i])
        node_json = os.path.join(directory, "meta", "node.json")
        if os.path.exists(node_json):
            os.unlink(node_json)
        log = open(os.path.join(directory, "node.log"), "a")
        self.nodes[i] = subprocess.Popen(
            [tool("twistd"), "-n", "--pidfile", "", "garage", "-c", self.configs[i]],
            stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(node_json), f"node {i} to start")
        with open(node_json) as f:
            self.ids[i] = json.load(f)["node_id"]

    def start(self) -> "ProxiedCluster":
        for i in range(self.count):
            self.proxies[i] = subprocess.Popen(
                [sys.executable, "-m", "tests.support.link_proxy", "--listen",
                 str(self.public[i]), "--target", f"127.0.0.1:{self.rpc[i]}",
                 "--delay", str(self.delay)], env=self.env)
            self.configs.append(self._config(i))
            self.start_node(i)
        self.wait_all_up()
        for i in range(self.count):
            self.garage(0, "layout", "assign", "-z", f"zone{i}", "-c", "10G", self.ids[i])
        self.garage(0, "layout", "apply", "--version", "1")
        for i in range(self.count):
            wait_for(lambda i=i: "Current cluster layout version: 1"
                     in self.garage(i, "layout", "show"), "the layout everywhere")
        return self

    def wait_all_up(self, nodes=None) -> None:
        nodes = range(self.count) if nodes is None else nodes
        wait_for(lambda: all(self.garage(i, "status").count(" up") >= self.count
                             for i in nodes), "every node connected")

    def key(self, name="test"):
        fields = dict(line.split(": ", 1) for line in
                      self.garage(0, "key", "create", name).splitlines() if ": " in line)
        self.garage(0, "key", "allow", "--create-bucket", fields["Key ID"])
        return fields["Key ID"], fields["Secret key"]

    def endpoint(self, i) -> str:
        return f"http://127.0.0.1:{self.s3_ports[i]}"

    # -- faults ------------------------------------------------------------

    def kill(self, i) -> None:
        self.nodes[i].kill()
        self.nodes[i].wait()

    def restart(self, i) -> None:
        self.start_node(i)

    def pause(self, i) -> None:
        self.nodes[i].send_signal(signal.SIGSTOP)

    def resume(self, i) -> None:
        self.nodes[i].send_signal(signal.SIGCONT)

    def cut(self, i) -> None:
        self.proxies[i].send_signal(signal.SIGUSR1)

    def heal(self, i) -> None:
        self.proxies[i].send_signal(signal.SIGUSR2)

    def stop(self) -> None:
        for proc in self.nodes + self.proxies:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
        for proc in self.nodes + self.proxies:
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.base, ignore_errors=True)
