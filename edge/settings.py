"""The agent's settings: one frozen, validated object, from code or from CLI options and PAAS_EDGE_* variables.

Construct it directly (`AgentSettings(device_id="pump-001", broker_url=url)`): the
derived defaults (state directory, seed, model) are filled in and every value is
checked, so an invalid object cannot exist. `from_options` adds the CLI rule: a
command-line option wins, else its environment variable, else the default.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contract.errors import ProtocolError
from contract.fields import ID_PATTERN
from contract.wire import MAX_BATCH_READINGS, Topic, TopicKind
from edge.budget import MIN_BUDGET_BYTES
from edge.errors import ConfigError
from edge.queue import FSYNC_MODES
from edge.sandbox import SandboxLimits
from edge.sensors.registry import parse_fault
from edge.sensors.spec import CUSTOM_KIND, SensorSpec

ENV_PREFIX = "PAAS_EDGE_"
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
DEFAULT_STATE_ROOT = Path("var/edge")
# Sentinels of the fields' own types, replaced in __post_init__ by the derived default.
DEFAULT_MODEL = Path("<default model for the asset kind>")
DERIVED_STATE_DIR = Path("<var/edge/device_id>")
DERIVED_SEED = -1
MAX_RATE_HZ = 1000.0


@dataclass(frozen=True)
class AgentSettings:
    """Everything an agent needs to run; invalid values raise `ConfigError` saying what to do."""

    device_id: str
    broker_url: str = DEFAULT_BROKER
    tenant: str = "demo"
    sensor: str = "sim:pump"
    fault: str | None = None
    rate_hz: float = 1.0
    model_path: Path | None = DEFAULT_MODEL  # None: telemetry only
    state_dir: Path = DERIVED_STATE_DIR
    seed: int = DERIVED_SEED
    batch_max: int = 100
    publish_interval_s: float = 1.0
    hop: int = 5
    heartbeat_s: float = 30.0
    usage_interval_s: float = 60.0  # seconds between usage reports (edge.metering); one more at a clean stop
    max_inflight: int = 20
    connect_timeout_s: float = 10.0
    persistent_session: bool = False
    keepalive_s: int = 30
    queue_max_mb: float = 256.0  # the outbox's disk budget (edge.budget: telemetry thinned beyond it)
    fsync: str = "normal"  # "normal" or "full": see edge.queue for the trade-off
    max_msgs_per_s: float = 100.0  # drain pace (edge.token_bucket): 100 batches of 100 = 10,000 readings/s
    asset_kind: str = ""  # reported kind: the sensor's ("" here), or for command:/sysfs: a device profile's name
    confirm_timeout_s: float = 60.0  # sent rows the cloud has not confirmed by then are sent again (edge.resend)
    replay_at_eof: str = "loop"  # a replay: sensor at the end of its file: "loop" again or "stop" the agent
    ca_file: Path | None = None  # mqtts://: the CA that signed the broker's certificate (None: the system's CAs)
    username: str = ""  # the provisioned broker user; STATE_DIR/credentials.json (a rotation's) wins over it
    password_file: Path | None = None
    signing_key_file: Path | None = None  # the cloud's manifest-signing public key (edge.updates.signing_key)
    signing_key_tofu: bool = False  # without a key file: trust the key fetched at the first update (development)
    model_probe_memory_mb: float = 512.0  # what loading and scoring a candidate model may take (edge.updates.probe)
    model_probe_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        _check_ids(self.tenant, self.device_id)
        spec = SensorSpec.parse(self.sensor)
        parse_fault(self.fault)
        parse_broker_url(self.broker_url)
        _check_security(self)
        _check_signing_key(self)
        _check_range("rate_hz", self.rate_hz, 0.0, MAX_RATE_HZ, "--rate")
        _check_range("publish_interval_s", self.publish_interval_s, 0.0, 3600.0, "--publish-interval")
        _check_range("heartbeat_s", self.heartbeat_s, 0.0, 86400.0, "--heartbeat")
        _check_range("usage_interval_s", self.usage_interval_s, 0.0, 86400.0, "--usage-interval")
        _check_range("connect_timeout_s", self.connect_timeout_s, 0.0, 3600.0, "--connect-timeout")
        _check_range("queue_max_mb", self.queue_max_mb, MIN_BUDGET_BYTES / 2**20 - 1e-9, 1e6, "--queue-max-mb")
        _check_range("max_msgs_per_s", self.max_msgs_per_s, 0.0, 1e5, "--max-msgs-per-s")
        _check_range("confirm_timeout_s", self.confirm_timeout_s, 0.0, 86400.0, "--confirm-timeout")
        _check_range("model_probe_memory_mb", self.model_probe_memory_mb, 256.0 - 1e-9, 1e6, "--model-probe-memory-mb")
        _check_range("model_probe_timeout_s", self.model_probe_timeout_s, 0.0, 86400.0, "--model-probe-timeout")
        _check_kind(self.asset_kind, spec)
        _check_choice("fsync", self.fsync, tuple(FSYNC_MODES), "--fsync")
        _check_choice("replay_at_eof", self.replay_at_eof, ("loop", "stop"), "--replay-at-eof")
        for name, value, top in (("batch_max", self.batch_max, MAX_BATCH_READINGS), ("hop", self.hop, 100_000),
                                 ("max_inflight", self.max_inflight, 1000), ("keepalive_s", self.keepalive_s, 3600)):
            if not 1 <= value <= top:
                raise ConfigError(f"{name} must be between 1 and {top}, got {value}")
        if self.state_dir == DERIVED_STATE_DIR:
            object.__setattr__(self, "state_dir", DEFAULT_STATE_ROOT / self.device_id)
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        if self.seed == DERIVED_SEED:
            object.__setattr__(self, "seed", seed_for(self.device_id))
        elif not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be between 0 and 2**32 - 1, got {self.seed}")
        object.__setattr__(self, "model_path", _resolve_model(self.model_path, spec.asset_kind))
        object.__setattr__(self, "asset_kind", self.asset_kind or spec.asset_kind)

    def probe_limits(self) -> SandboxLimits:
        """The sandbox a candidate model is probed in (CPU time: the wall-clock limit, at least a second)."""
        return SandboxLimits(int(self.model_probe_memory_mb * 2**20), max(1, math.ceil(self.model_probe_timeout_s)),
                             self.model_probe_timeout_s)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> AgentSettings:
        """Settings from CLI `options` (field name -> value, None when not given), then `env`, then defaults."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            cli_value = options.get(field.name)
            if cli_value is not None:
                values[field.name] = cli_value
                continue
            raw = env.get(ENV_PREFIX + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _from_env(field.name, raw)
        if "device_id" not in values:
            raise ConfigError(f"a device id is required: pass --device-id ID or set {ENV_PREFIX}DEVICE_ID")
        if values.get("model_path") is not None:
            values["model_path"] = _model_option(str(values["model_path"]))
        return cls(**values)


def parse_broker_url(url: str) -> tuple[str, int]:
    """`mqtt://host[:port]` or `mqtts://host[:port]` (TLS) -> (host, port); `ConfigError` for anything else."""
    parts = urlsplit(url)
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError:
        raise ConfigError(f"broker URL {url!r}: the port must be a number between 0 and 65535") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"broker URL {url!r} is not of the form mqtt://HOST:PORT or mqtts://HOST:PORT")
    return parts.hostname, port


def uses_tls(url: str) -> bool:
    return urlsplit(url).scheme == "mqtts"


def is_loopback(url: str) -> bool:
    """Whether the broker URL names this host (localhost, 127.0.0.0/8, ::1): nothing leaves the machine."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_security(s: AgentSettings) -> None:
    """TLS and credential options: files exist, and they go together with what they need."""
    for name in ("ca_file", "password_file"):
        value = getattr(s, name)
        if value is not None:
            object.__setattr__(s, name, Path(value))
    if s.ca_file is not None and not uses_tls(s.broker_url):
        raise ConfigError(f"--ca-file needs an mqtts:// broker URL, got {s.broker_url!r}")
    if s.ca_file is not None and not s.ca_file.is_file():
        raise ConfigError(f"CA file {s.ca_file} does not exist (the provisioning bundle's ca.pem)")
    if s.password_file is not None and not s.username:
        raise ConfigError("--password-file needs --username (PAAS_EDGE_USERNAME)")
    if s.password_file is not None and not uses_tls(s.broker_url) and not is_loopback(s.broker_url):
        raise ConfigError(
            f"refusing to send the broker password in clear text to {s.broker_url}: use the mqtts:// URL of the "
            "broker's TLS listener (PAAS_EDGE_BROKER_URL, as provisioning writes it); plain mqtt:// with a "
            "password is for a broker on this host only"
        )


def _check_signing_key(s: AgentSettings) -> None:
    """Over-the-air updates: a pinned signing key file must exist (edge.updates.signing_key reads it)."""
    if s.signing_key_file is None:
        return
    if s.signing_key_tofu:
        raise ConfigError("--signing-key-tofu is for a device without --signing-key-file; give one or the other")
    object.__setattr__(s, "signing_key_file", Path(s.signing_key_file))
    if not s.signing_key_file.is_file():
        raise ConfigError(f"signing key file {s.signing_key_file} does not exist (the cloud's model-signing key)")


def seed_for(device_id: str) -> int:
    """A stable seed from a device id (Python's hash() is salted per process, so not that)."""
    return int.from_bytes(hashlib.sha256(device_id.encode()).digest()[:4], "big")


def _check_kind(kind: str, spec: SensorSpec) -> None:
    """`--asset-kind` names a device profile for a source whose kind is not fixed (command:, sysfs:) only."""
    if not kind:
        return
    if spec.asset_kind != CUSTOM_KIND:
        raise ConfigError(f"--asset-kind applies to command: and sysfs: sensors; {spec} is a {spec.asset_kind}")
    if not ID_PATTERN.match(kind):
        raise ConfigError(f"--asset-kind {kind[:80]!r} must be 1-64 of A-Z a-z 0-9 _ . - (starting alphanumeric)")


def default_model_for(asset_kind: str) -> Path | None:
    """The repository's baseline model for an asset kind, if the `models` package is installed."""
    try:
        from models.paths import DEFAULT_MODELS  # in-repo; absent on a device that ships only edge/
    except ImportError:
        return None
    default = DEFAULT_MODELS.get(asset_kind)
    return None if default is None else Path(default)


def _resolve_model(path: Path | None, asset_kind: str) -> Path | None:
    if path is None:
        return None
    if path == DEFAULT_MODEL:
        default = default_model_for(asset_kind)
        # No trained artifact yet is not an error: the agent runs telemetry only and says so.
        return default if default is not None and default.is_file() else None
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist: pass --model PATH to an .onnx artifact, or --model none")
    return path


def _model_option(text: str) -> Path | None:
    if text.strip().lower() in ("none", "off"):
        return None
    return DEFAULT_MODEL if text.strip().lower() == "default" else Path(text)


def _check_ids(tenant: str, device_id: str) -> None:
    try:
        Topic.parse(str(Topic(tenant, device_id, TopicKind.STATE)))
    except ProtocolError as exc:
        raise ConfigError(f"invalid tenant or device id: {exc}") from exc


def _check_range(name: str, value: float, low: float, high: float, option: str) -> None:
    if not (math.isfinite(value) and low < value <= high):
        raise ConfigError(f"{name} ({option}) must be above {low:g} and at most {high:g}, got {value}")


def _check_choice(name: str, value: str, allowed: tuple[str, ...], option: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} ({option}) must be one of {', '.join(allowed)}, got {value!r}")


def _from_env(name: str, raw: str) -> Any:
    converters: dict[str, Callable[[str], Any]] = {
        "int": int, "float": float, "bool": _parse_bool, "str": str,
    }
    kind = _FIELD_KINDS.get(name, "str")
    try:
        return converters[kind](raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from None


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


_FIELD_KINDS: dict[str, str] = {
    "rate_hz": "float", "publish_interval_s": "float", "heartbeat_s": "float", "usage_interval_s": "float",
    "connect_timeout_s": "float",
    "seed": "int", "batch_max": "int", "hop": "int", "max_inflight": "int", "keepalive_s": "int",
    "persistent_session": "bool", "queue_max_mb": "float", "max_msgs_per_s": "float", "confirm_timeout_s": "float",
    "signing_key_tofu": "bool", "model_probe_memory_mb": "float", "model_probe_timeout_s": "float",
}
