"""What an idle node keeps out of its memory (issue 28).

Each module named here costs the node or its block I/O process memory for
nothing until some rare request needs it (docs/benchmarks.rst, "Idle
footprint"). These tests start a real node in a fresh interpreter, built as
``twistd garage`` builds it (``service/tap.py``'s ``makeService``), and read
its ``sys.modules`` once it is up; and import the block I/O process's
module as that process does. An import that creeps back in at start fails
here, not in a benchmark months later.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

from twisted.trial.unittest import TestCase

import garage_twisted

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(garage_twisted.__file__)))

# Imported only when a request needs them.
LAZY_IN_NODE = (
    "OpenSSL",            # Twisted's TLS: the node speaks none (service/tap.py)
    "service_identity",
    "cryptography",       # Noise with peers, SSE (util/aead.py)
    "prometheus_client",  # the first scrape (util/exposition.py)
    "klein",              # the admin API's first request (api/admin/routes.py)
    "werkzeug",
    "argon2",             # the first admin token made or checked (model/admin_token.py)
    "defusedxml",         # the first S3 request body to parse (api/s3/xml.py)
)
LAZY_IN_IO_CHILD = ("twisted", "nacl", "hashlib", "dataclasses", "cryptography")

NODE_SCRIPT = textwrap.dedent("""
    import json, sys
    from garage_twisted.service import tap

    options = tap.Options()
    options.parseOptions(["-c", sys.argv[1]])
    node = tap.makeService(options)
    from twisted.internet import reactor

    def started():
        node.startService()
        loaded = sorted(name for name in sys.argv[2:] if sys.modules.get(name) is not None)
        print(json.dumps(loaded), flush=True)
        node.stopService().addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(started)
    reactor.run()
""")


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [PACKAGE_ROOT] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))


class IdleFootprintTests(TestCase):
    def test_a_started_node_has_not_imported_what_requests_may_need(self):
        """A node just started (one alone, with an admin listener) has
        imported none of the modules only some requests need."""
        base = tempfile.mkdtemp(prefix="garage-footprint-")
        self.addCleanup(shutil.rmtree, base, True)
        config = os.path.join(base, "garage.toml")
        with open(config, "w") as f:
            f.write(textwrap.dedent(f"""
                metadata_dir = "{base}/meta"
                data_dir = "{base}/data"
                replication_factor = 1
                rpc_bind_addr = "127.0.0.1:0"
                rpc_secret = "{os.urandom(32).hex()}"
                [s3_api]
                api_bind_addr = "127.0.0.1:0"
                s3_region = "garage"
                [admin]
                api_bind_addr = "127.0.0.1:0"
                admin_token = "{os.urandom(16).hex()}"
            """))
        done = subprocess.run([sys.executable, "-c", NODE_SCRIPT, config, *LAZY_IN_NODE],
                              env=_env(), cwd=base, capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        loaded = json.loads(done.stdout.strip().splitlines()[-1])
        self.assertEqual(loaded, [])

    def test_the_block_io_process_imports_only_what_it_uses(self):
        """The block I/O process's module brings in neither Twisted nor
        libsodium, hashlib (OpenSSL's libcrypto) or dataclasses."""
        script = ("import json, sys\n"
                  "import garage_twisted.block.io_child\n"
                  "print(json.dumps(sorted(n for n in sys.argv[1:] if n in sys.modules)))\n")
        done = subprocess.run([sys.executable, "-P", "-c", script, *LAZY_IN_IO_CHILD],
                              env=_env(), capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(json.loads(done.stdout), [])
