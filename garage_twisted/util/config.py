"""The node's configuration: a Garage-style TOML file in frozen dataclasses.

Key names are Garage's (``metadata_dir``, ``rpc_secret``, ``[s3_api]``...).
Secrets may come inline, from a file (``*_file``, which must not be readable
by others unless ``allow_world_readable_secrets = true``), or from the
environment (``GARAGE_RPC_SECRET``, ``GARAGE_ADMIN_TOKEN``,
``GARAGE_METRICS_TOKEN``, ``GARAGE_SSE_S3_SECRET``,
``GARAGE_SSE_S3_OLD_SECRETS``). Every user mistake raises :class:`ConfigError`
with one readable line; nothing here prints a traceback.
"""

import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Mapping

from twisted.logger import Logger

from garage_twisted.util.duration import parse_duration
from garage_twisted.util.errors import ConfigError

log = Logger()

DEFAULT_BLOCK_SIZE = 1 << 20
# Garage's default block_ram_buffer_max.
DEFAULT_BLOCK_RAM_BUFFER_MAX = 256 << 20
# Garage refuses a shorter metadata_auto_snapshot_interval.
MIN_AUTO_SNAPSHOT_INTERVAL = 600
CONSISTENCY_MODES = ("consistent", "degraded", "dangerous")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?)[bB]?\s*$")
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
KNOWN_TOP_LEVEL = {
    "metadata_dir", "data_dir", "metadata_fsync", "data_fsync", "db_engine",
    "replication_factor", "replication_mode", "consistency_mode", "rpc_bind_addr",
    "rpc_public_addr", "rpc_secret", "rpc_secret_file", "bootstrap_peers",
    "block_size", "compression_level", "allow_world_readable_secrets",
    "s3_api", "s3_web", "admin", "k2v_api", "metadata_auto_snapshot_interval",
    "block_ram_buffer_max", "lmdb_map_size", "disable_scrub", "use_local_tz",
    "rpc_bind_outgoing", "rpc_ping_timeout_msec", "rpc_timeout_msec",
    "metadata_snapshots_dir", "consul_discovery", "kubernetes_discovery",
    "tombstone_gc_delay_secs",
}


@dataclass(frozen=True)
class BindAddress:
    """Where a listener binds: TCP host and port, or a UNIX socket path."""

    host: str | None
    port: int | None
    unix_path: str | None = None

    def endpoint_description(self) -> str:
        """A Twisted server endpoint string for this address."""
        if self.unix_path is not None:
            return "unix:" + self.unix_path.replace(":", "\\:")
        interface = (self.host or "").replace(":", "\\:")
        return f"tcp:port={self.port}:interface={interface}"

    def __str__(self) -> str:
        if self.unix_path is not None:
            return self.unix_path
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(value: str, what: str, allow_unix: bool = False) -> BindAddress:
    """Parse ``host:port``, ``[v6]:port`` or (if allowed) ``/unix/path``."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be a string like \"127.0.0.1:3900\"")
    if value.startswith("/"):
        if not allow_unix:
            raise ConfigError(f"{what} cannot be a UNIX socket path")
        return BindAddress(None, None, value)
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep:
            raise ConfigError(f"{what}: {value!r} is not of the form [ipv6]:port")
    else:
        host, sep, port = value.rpartition(":")
        if not sep or not host:
            raise ConfigError(f"{what}: {value!r} is not of the form host:port")
    try:
        port_number = int(port)
    except ValueError:
        raise ConfigError(f"{what}: {port!r} is not a port number") from None
    if not 0 <= port_number <= 65535:
        raise ConfigError(f"{what}: port {port_number} is out of range")
    return BindAddress(host, port_number)


def parse_size(value, what: str = "size") -> int:
    """Bytes of ``1048576``, ``"1M"``, ``"1MiB"``, ``"10G"`` (powers of 1024
    with ``i``, of 1000 without, as Garage's CLI; a bare ``M`` is 1024**2 for
    ``block_size`` compatibility with Garage's examples)."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a size")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a number of bytes or a string like \"1M\"")
    match = _SIZE.match(value)
    if not match:
        raise ConfigError(f"{what}: cannot read {value!r} as a size")
    number, unit, binary = match.groups()
    unit = unit.lower()
    base = 1024 if (binary or value.strip()[-1:] not in "bB") else 1000
    return int(float(number) * base ** _UNITS[unit])


@dataclass(frozen=True)
class DataDir:
    path: str
    capacity: int | None = None
    read_only: bool = False


@dataclass(frozen=True)
class S3ApiConfig:
    api_bind_addr: BindAddress | None
    s3_region: str = "garage"
    root_domain: str | None = None
    # SigV2 signatures accepted (api/s3/sigv2.py); false refuses them 400.
    allow_sigv2: bool = True
    # SSE-S3 (api/s3/sse_s3.py): the secret the master key derives from
    # (None: SSE-S3 off), and earlier ones that still unwrap old objects.
    sse_s3_secret: bytes | None = field(default=None, repr=False)
    sse_s3_old_secrets: tuple = field(default=(), repr=False)


@dataclass(frozen=True)
class S3WebConfig:
    bind_addr: BindAddress
    root_domain: str
    add_host_to_metrics: bool = False


@dataclass(frozen=True)
class AdminConfig:
    api_bind_addr: BindAddress | None
    admin_token: str | None = None
    metrics_token: str | None = None
    # Garage's: /metrics needs metrics_token or an admin token whose scope
    # allows ``Metrics``, even when no metrics_token is set.
    metrics_require_token: bool = False


@dataclass(frozen=True)
class Config:
    metadata_dir: str
    data_dirs: tuple
    replication_factor: int
    rpc_bind_addr: BindAddress
    rpc_secret: bytes
    consistency_mode: str = "consistent"
    rpc_public_addr: str | None = None
    bootstrap_peers: tuple = ()
    metadata_fsync: bool = False
    data_fsync: bool = False
    block_size: int = DEFAULT_BLOCK_SIZE
    # Block data a node holds while sending blocks to their nodes, the
    # copies that go on after the write quorum included.
    block_ram_buffer_max: int = DEFAULT_BLOCK_RAM_BUFFER_MAX
    compression_level: int | None = 1
    db_engine: str = "leveldb"
    # How long a deletion record (tombstone) is kept before the nodes agree
    # to forget it: longer than any node may stay away and come back.
    tombstone_gc_delay_secs: int = 24 * 3600
    disable_scrub: bool = False
    # Where ``garage meta snapshot`` writes its copies (Garage's default:
    # ``<metadata_dir>/snapshots``).
    metadata_snapshots_dir: str | None = None
    # Seconds between the automatic metadata snapshots (Garage's
    # ``metadata_auto_snapshot_interval``, a duration string), or None.
    metadata_auto_snapshot_interval: float | None = None
    s3_api: S3ApiConfig = field(default_factory=lambda: S3ApiConfig(None))
    s3_web: S3WebConfig | None = None
    admin: AdminConfig | None = None

    @property
    def data_dir(self) -> str:
        return self.data_dirs[0].path

    @property
    def snapshots_dir(self) -> str:
        return self.metadata_snapshots_dir or os.path.join(self.metadata_dir, "snapshots")


def _section(raw: dict, name: str) -> dict:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _typed(raw: dict, key: str, kind, what: str | None = None, default=None):
    value = raw.get(key, default)
    if value is None:
        return None
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        names = {str: "a string", int: "an integer", bool: "true or false",
                 list: "a list"}
        raise ConfigError(f"{what or key} must be {names.get(kind, kind.__name__)}")
    return value


class _Secrets:
    def __init__(self, raw: dict, base_dir: str, environ: Mapping[str, str]):
        self.allow_world_readable = bool(raw.get("allow_world_readable_secrets", False))
        self.base_dir = base_dir
        self.environ = environ

    def read(self, table: dict, key: str, env: str, what: str) -> str | None:
        inline = _typed(table, key, str, what)
        path = _typed(table, key + "_file", str, what + "_file")
        from_env = self.environ.get(env)
        sources = [s for s in (inline, path, from_env) if s is not None]
        if len(sources) > 1:
            raise ConfigError(f"{what}: set only one of {key}, {key}_file and ${env}")
        if path is not None:
            path = os.path.join(self.base_dir, path)
            try:
                mode = os.stat(path).st_mode
                if mode & 0o077 and not self.allow_world_readable:
                    raise ConfigError(
                        f"{what}_file {path} is readable by other users (chmod 600 it, "
                        "or set allow_world_readable_secrets = true)")
                with open(path) as f:
                    return f.read().strip()
            except OSError as e:
                raise ConfigError(f"cannot read {what}_file {path}: {e.strerror}") from None
        return inline if inline is not None else from_env


JOINED_SECRET_FILE = "cluster_secret"


def _joined_secret(metadata_dir: str) -> str | None:
    """The secret a node stored when it joined a cluster with an invitation."""
    path = os.path.join(metadata_dir, JOINED_SECRET_FILE)
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None


def parse_config(text: str, base_dir: str = ".",
                 environ: Mapping[str, str] | None = None,
                 join_secret: str | None = None) -> Config:
    """Parse a configuration file's text.

    Without an ``rpc_secret`` (inline, file or environment), the secret comes
    from ``join_secret`` (an invitation being used), else from
    ``<metadata_dir>/cluster_secret``, which a node that joined with an
    invitation keeps.

    :param base_dir: directory relative paths of secret files start from.
    :raises ConfigError: with one readable line.
    """
    environ = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}") from None
    for key in raw:
        if key not in KNOWN_TOP_LEVEL:
            log.warn("unknown configuration key {key} ignored", key=key)

    def required(key, kind):
        if key not in raw:
            raise ConfigError(f"missing required key {key}")
        return _typed(raw, key, kind)

    metadata_dir = required("metadata_dir", str)
    data_dirs = _data_dirs(raw.get("data_dir"))
    replication_factor = raw.get("replication_factor")
    if replication_factor is None and "replication_mode" in raw:
        replication_factor = {"none": 1, "1": 1, "2": 2, "3": 3}.get(
            str(raw["replication_mode"]))
    if replication_factor is None:
        raise ConfigError("missing required key replication_factor")
    if isinstance(replication_factor, bool) or not isinstance(replication_factor, int) \
            or replication_factor < 1:
        raise ConfigError("replication_factor must be a positive integer")
    consistency = _typed(raw, "consistency_mode", str, default="consistent")
    if consistency not in CONSISTENCY_MODES:
        raise ConfigError(f"consistency_mode must be one of {', '.join(CONSISTENCY_MODES)}")
    db_engine = _typed(raw, "db_engine", str, default="leveldb")
    if db_engine != "leveldb":
        raise ConfigError(f"db_engine {db_engine!r} is not supported: garage-twisted "
                          "stores metadata in LevelDB (db_engine = \"leveldb\")")
    rpc_bind_addr = parse_address(required("rpc_bind_addr", str), "rpc_bind_addr")
    secrets = _Secrets(raw, base_dir, environ)
    rpc_secret_hex = secrets.read(raw, "rpc_secret", "GARAGE_RPC_SECRET", "rpc_secret")
    if join_secret is not None and rpc_secret_hex is not None \
            and rpc_secret_hex.lower() != join_secret.lower():
        raise ConfigError("the configured rpc_secret is not the secret of the cluster "
                          "in the invitation: remove rpc_secret to join that cluster")
    if rpc_secret_hex is None:
        rpc_secret_hex = join_secret
    if rpc_secret_hex is None:
        rpc_secret_hex = _joined_secret(os.path.join(base_dir, metadata_dir))
    if rpc_secret_hex is None:
        raise ConfigError("missing rpc_secret (or rpc_secret_file, or $GARAGE_RPC_SECRET, "
                          "or join a cluster with `twistd garage --join <invitation>`)")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", rpc_secret_hex):
        raise ConfigError("rpc_secret must be 64 hexadecimal characters "
                          "(generate one with: openssl rand -hex 32)")
    peers = _typed(raw, "bootstrap_peers", list, default=[])
    if not all(isinstance(p, str) for p in peers):
        raise ConfigError("bootstrap_peers must be a list of \"<node id>@host:port\" strings")
    compression = raw.get("compression_level", 1)
    if compression == "none":
        compression = None
    elif isinstance(compression, bool) or not isinstance(compression, int) \
            or not -99 <= compression <= 22:
        raise ConfigError("compression_level must be an integer from -99 to 22, or \"none\"")
    gc_delay = _typed(raw, "tombstone_gc_delay_secs", int, default=24 * 3600)
    if isinstance(gc_delay, bool) or gc_delay < 0:
        raise ConfigError("tombstone_gc_delay_secs must be a number of seconds (>= 0)")
    block_size = parse_size(raw.get("block_size", DEFAULT_BLOCK_SIZE), "block_size")
    snapshot_interval = _snapshot_interval(raw.get("metadata_auto_snapshot_interval"))
    if block_size < 4096:
        raise ConfigError("block_size must be at least 4096 bytes")
    ram_buffer_max = parse_size(raw.get("block_ram_buffer_max", DEFAULT_BLOCK_RAM_BUFFER_MAX),
                                "block_ram_buffer_max")
    if ram_buffer_max < 1:
        raise ConfigError("block_ram_buffer_max must be at least 1 byte")
    return Config(
        metadata_dir=os.path.join(base_dir, metadata_dir),
        data_dirs=tuple(DataDir(os.path.join(base_dir, d.path), d.capacity, d.read_only)
                        for d in data_dirs),
        replication_factor=replication_factor,
        consistency_mode=consistency,
        rpc_bind_addr=rpc_bind_addr,
        rpc_public_addr=_typed(raw, "rpc_public_addr", str),
        rpc_secret=bytes.fromhex(rpc_secret_hex),
        bootstrap_peers=tuple(peers),
        metadata_fsync=bool(_typed(raw, "metadata_fsync", bool, default=False)),
        data_fsync=bool(_typed(raw, "data_fsync", bool, default=False)),
        block_size=block_size,
        block_ram_buffer_max=ram_buffer_max,
        compression_level=compression,
        db_engine=db_engine,
        tombstone_gc_delay_secs=gc_delay,
        disable_scrub=bool(_typed(raw, "disable_scrub", bool, default=False)),
        metadata_snapshots_dir=None if raw.get("metadata_snapshots_dir") is None else
        os.path.join(base_dir, _typed(raw, "metadata_snapshots_dir", str)),
        metadata_auto_snapshot_interval=snapshot_interval,
        s3_api=_s3_api(_section(raw, "s3_api"), secrets, rpc_secret_hex,
                       [os.path.join(base_dir, metadata_dir)]
                       + [os.path.join(base_dir, d.path) for d in data_dirs]),
        s3_web=_s3_web(raw),
        admin=_admin(raw, secrets),
    )


def _snapshot_interval(value) -> float | None:
    """``metadata_auto_snapshot_interval`` in seconds: as Garage, a duration
    string of at least ``MIN_AUTO_SNAPSHOT_INTERVAL`` (a copy of the whole
    database is no thing to take every minute)."""
    if value is None:
        return None
    seconds = parse_duration(value, "metadata_auto_snapshot_interval")
    if seconds < MIN_AUTO_SNAPSHOT_INTERVAL:
        raise ConfigError("metadata_auto_snapshot_interval too small or negative (at least "
                          f"{MIN_AUTO_SNAPSHOT_INTERVAL // 60} minutes)")
    return seconds


def _data_dirs(value) -> list:
    if value is None:
        raise ConfigError("missing required key data_dir")
    if isinstance(value, str):
        return [DataDir(value)]
    if not isinstance(value, list) or not value:
        raise ConfigError("data_dir must be a path or a list of {path, capacity} tables")
    dirs = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise ConfigError("each data_dir entry needs a path")
        read_only = bool(item.get("read_only", False))
        capacity = None if read_only else parse_size(item.get("capacity"), "data_dir capacity") \
            if item.get("capacity") is not None else None
        dirs.append(DataDir(item["path"], capacity, read_only))
    return dirs


def _s3_api(table: dict, secrets: _Secrets, rpc_secret_hex: str,
            protected_dirs: list) -> S3ApiConfig:
    bind = table.get("api_bind_addr")
    current, old = _sse_s3_secrets(table, secrets, rpc_secret_hex, protected_dirs)
    return S3ApiConfig(
        None if bind is None else parse_address(bind, "s3_api.api_bind_addr", True),
        _typed(table, "s3_region", str, "s3_api.s3_region", "garage"),
        _typed(table, "root_domain", str, "s3_api.root_domain"),
        allow_sigv2=_typed(table, "allow_sigv2", bool, "s3_api.allow_sigv2", True),
        sse_s3_secret=current,
        sse_s3_old_secrets=old,
    )


_SSE_S3_SECRET_HINT = "64 hexadecimal characters (generate one with: openssl rand -hex 32)"


def _sse_s3_secrets(table: dict, secrets: _Secrets, rpc_secret_hex: str,
                    protected_dirs: list) -> tuple:
    """``(current secret or None, (old secrets...))`` of SSE-S3.

    A secret is 32 random bytes in hex, as ``rpc_secret``, and must differ
    from it (a node that joined with an invitation keeps ``rpc_secret`` in
    ``metadata_dir``). A secret file inside ``metadata_dir`` or a
    ``data_dir`` is refused: the key would sit on the disks it protects.
    Old secrets: a TOML list, or one string of secrets separated by
    spaces, commas or newlines (their file, ``$GARAGE_SSE_S3_OLD_SECRETS``).
    """
    for key in ("sse_s3_secret_file", "sse_s3_old_secrets_file"):
        path = _typed(table, key, str, "s3_api." + key)
        if path is None:
            continue
        real = os.path.realpath(os.path.join(secrets.base_dir, path))
        for directory in protected_dirs:
            if os.path.commonpath([real, os.path.realpath(directory)]) == \
                    os.path.realpath(directory):
                raise ConfigError(f"s3_api.{key} {path} is inside {directory}: keep the "
                                  "SSE-S3 secret off the disks it protects")
    current = secrets.read(table, "sse_s3_secret", "GARAGE_SSE_S3_SECRET",
                           "s3_api.sse_s3_secret")
    inline_old = table.get("sse_s3_old_secrets")
    if isinstance(inline_old, list):
        if not all(isinstance(s, str) for s in inline_old):
            raise ConfigError("s3_api.sse_s3_old_secrets must be a list of strings")
        if "sse_s3_old_secrets_file" in table or \
                secrets.environ.get("GARAGE_SSE_S3_OLD_SECRETS") is not None:
            raise ConfigError("s3_api.sse_s3_old_secrets: set only one of "
                              "sse_s3_old_secrets, sse_s3_old_secrets_file and "
                              "$GARAGE_SSE_S3_OLD_SECRETS")
        old = list(inline_old)
    else:
        text = secrets.read(table, "sse_s3_old_secrets", "GARAGE_SSE_S3_OLD_SECRETS",
                            "s3_api.sse_s3_old_secrets")
        old = [] if text is None else re.split(r"[\s,]+", text.strip())
        old = [s for s in old if s]
    if current is None and old:
        raise ConfigError("s3_api.sse_s3_old_secrets needs a current sse_s3_secret")
    for value, what in [(current, "sse_s3_secret")] + \
            [(s, "sse_s3_old_secrets") for s in old]:
        if value is None:
            continue
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ConfigError(f"s3_api.{what}: each secret must be {_SSE_S3_SECRET_HINT}")
        if value.lower() == rpc_secret_hex.lower():
            raise ConfigError(f"s3_api.{what} must not be rpc_secret (which a node may "
                              "keep in metadata_dir)")
    return (None if current is None else bytes.fromhex(current),
            tuple(bytes.fromhex(s) for s in old if s.lower() != (current or "").lower()))


def _s3_web(raw: dict):
    if "s3_web" not in raw:
        return None
    table = _section(raw, "s3_web")
    if "bind_addr" not in table or "root_domain" not in table:
        raise ConfigError("[s3_web] needs bind_addr and root_domain")
    return S3WebConfig(parse_address(table["bind_addr"], "s3_web.bind_addr", True),
                       _typed(table, "root_domain", str, "s3_web.root_domain"),
                       bool(table.get("add_host_to_metrics", False)))


def _admin(raw: dict, secrets: _Secrets):
    table = _section(raw, "admin")
    bind = table.get("api_bind_addr")
    return AdminConfig(
        None if bind is None else parse_address(bind, "admin.api_bind_addr", True),
        secrets.read(table, "admin_token", "GARAGE_ADMIN_TOKEN", "admin.admin_token"),
        secrets.read(table, "metrics_token", "GARAGE_METRICS_TOKEN", "admin.metrics_token"),
        bool(_typed(table, "metrics_require_token", bool, "admin.metrics_require_token",
                    default=False)),
    )


def load_config(path: str, environ: Mapping[str, str] | None = None,
                join_secret: str | None = None) -> Config:
    """Read and parse the configuration file at ``path``.

    :raises ConfigError: with one readable line.
    """
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read configuration file {path}: {e}") from None
    try:
        return parse_config(text, os.path.dirname(os.path.abspath(path)), environ,
                            join_secret=join_secret)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
