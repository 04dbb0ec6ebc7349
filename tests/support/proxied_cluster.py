"""A cluster of real nodes whose RPC links go through link proxies (scripts).

Synchronous (subprocesses and polling), for the benchmark and fault scripts
(``scripts/bench-geo``, ``scripts/chaos``). Node ``i`` binds its RPC port
``rpc[i]`` and advertises ``public[i]``, where a
:mod:`tests.support.link_proxy` process forwards to it with a one-way delay;
signals drive faults: ``kill``/``restart`` the node, ``pause``/``resume``
it (SIGSTOP/SIGCONT), ``cut``/``heal`` its link (the proxy closes every
connection to the node and refuses new ones), ``skew`` restarts it with its
clock off by some seconds (libfaketime, Debian package ``faketime``) and
``unskew`` with the right time; ``spares`` more nodes run without a role,
which ``add_role``/``remove_role`` put into and take out of the layout.
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

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

# Where this process found the tests package: the children get it on their
# path, and nothing else (under scripts/test, a directory holding only a link
# to tests/: the children run the installed package, as the suite does).
TESTS_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)


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
    def __init__(self, count=3, delay=0.0, base=None, spares=0):
        self.count = count  # nodes with a role from the start
        self.total = count + spares
        self.delay = delay
        self.base = base or tempfile.mkdtemp(prefix="garage-proxied-")
        self.secret, self.token = os.urandom(32).hex(), os.urandom(16).hex()
        total = self.total
        self.rpc = [free_port() for _ in range(total)]
        self.public = [free_port() for _ in range(total)]
        self.s3_ports = [free_port() for _ in range(total)]
        self.nodes, self.proxies, self.ids = [None] * total, [None] * total, [None] * total
        self.configs = []
        self.env = dict(os.environ, PYTHONPATH=TESTS_PARENT)
        self.layout_version = 0

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

    def start_node(self, i, clock_offset: float = 0.0) -> None:
        directory = os.path.dirname(self.configs[i])
        node_json = os.path.join(directory, "meta", "node.json")
        if os.path.exists(node_json):
            os.unlink(node_json)
        log = open(os.path.join(directory, "node.log"), "a")
        env = None
        if clock_offset:
            if not os.path.exists(FAKETIME_LIB):
                raise RuntimeError(f"clock skew needs {FAKETIME_LIB} (apt-get install faketime)")
            env = dict(os.environ, LD_PRELOAD=FAKETIME_LIB, FAKETIME=f"{clock_offset:+.0f}",
                       FAKETIME_DONT_FAKE_MONOTONIC="1")
        self.nodes[i] = subprocess.Popen(
            [tool("twistd"), "-n", "--pidfile", "", "garage", "-c", self.configs[i]],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: os.path.exists(node_json), f"node {i} to start")
        with open(node_json) as f:
            self.ids[i] = json.load(f)["node_id"]

    def start(self) -> "ProxiedCluster":
        for i in range(self.total):
            self.proxies[i] = subprocess.Popen(
                [sys.executable, "-m", "tests.support.link_proxy", "--listen",
                 str(self.public[i]), "--target", f"127.0.0.1:{self.rpc[i]}",
                 "--delay", str(self.delay)], env=self.env)
            self.configs.append(self._config(i))
            self.start_node(i)
        self.wait_all_up()
        for i in range(self.count):
            self.garage(0, "layout", "assign", "-z", f"zone{i}", "-c", "10G", self.ids[i])
        self._apply_layout()
        return self

    def _apply_layout(self) -> None:
        self.layout_version += 1
        version = self.layout_version
        self.garage(0, "layout", "apply", "--version", str(version))
        for i in range(self.total):
            wait_for(lambda i=i: f"Current cluster layout version: {version}"
                     in self.garage(i, "layout", "show"), "the layout everywhere")

    def add_role(self, i) -> None:
        """Give node ``i`` a role (its own zone) and apply the new layout."""
        self.garage(0, "layout", "assign", "-z", f"zone{i}", "-c", "10G", self.ids[i])
        self._apply_layout()

    def remove_role(self, i) -> None:
        """Take node ``i`` out of the layout and apply the new layout."""
        self.garage(0, "layout", "remove", self.ids[i])
        self._apply_layout()

    def wait_all_up(self, nodes=None) -> None:
        nodes = range(self.total) if nodes is None else nodes
        wait_for(lambda: all(self.garage(i, "status").count(" up") >= self.total
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

    def skew(self, i, seconds: float) -> None:
        """Restart node ``i`` (SIGTERM) with its clock ``seconds`` off."""
        self.nodes[i].terminate()
        self.nodes[i].wait(30)
        self.start_node(i, clock_offset=seconds)

    def unskew(self, i) -> None:
        self.skew(i, 0.0)

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
        if not os.environ.get("GARAGE_KEEP_CLUSTER"):
            shutil.rmtree(self.base, ignore_errors=True)
