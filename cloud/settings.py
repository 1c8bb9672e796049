"""The cloud service's settings: the one place that reads the environment.

Every field can be set by an environment variable (prefix `PAAS_`); the four that
operators touch most have short names (`PAAS_BROKER`, `PAAS_DB`, `PAAS_TSDB`) and
`python -m cloud serve` options override them. Invalid values raise `ConfigError`
naming the variable, so a typo fails at start, not at the first message.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.broker.login import BrokerLogin
from cloud.errors import ConfigError

DEFAULT_DB_URL = "sqlite:///var/cloud/cloud.db"
DEFAULT_TSDB_URL = "sqlite:///var/cloud/timeseries.db"
SIGNING_KEY_NAME = "model-signing-key.pem"
SIGNING_KEYS_DIR = "keys"  # the key's own folder (0700), not the database's
AUTH_SECRET_NAME = "auth-secret"
DEFAULT_MAINTENANCE_HORIZON_CYCLES = 30.0
_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class Environment(StrEnum):
    """Where the service runs: `local` creates missing secrets for a developer; the others refuse to start without."""

    LOCAL = "local"
    STAGING = "staging"
    PRODUCTION = "production"


class SmtpSecurity(StrEnum):
    """How the SMTP connection is protected: plain (a local relay), upgraded with STARTTLS, or TLS from the start."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class CloudSettings(BaseSettings):
    """Where the cloud service connects, where it listens, and its maintenance rule."""

    model_config = SettingsConfigDict(env_prefix="PAAS_", validate_by_name=True, extra="ignore", frozen=True)

    broker_url: str = Field(default="mqtt://127.0.0.1:1883", validation_alias="PAAS_BROKER")
    db_url: str = Field(default=DEFAULT_DB_URL, validation_alias="PAAS_DB")
    tsdb_url: str = Field(default=DEFAULT_TSDB_URL, validation_alias="PAAS_TSDB")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0 picks a free port (see CloudService.api_url)")
    ingest_client_id: str = Field(default="paas-cloud-ingest", min_length=1, max_length=23)
    # Horizontal ingest (docs/reliability.md, "Horizontal ingest"): a named worker takes its share of a shared
    # subscription under its own persistent session, `<ingest_client_id>-<worker>`; empty: the one ingest, as before.
    ingest_worker: str = Field(default="", max_length=40, pattern=r"^[A-Za-z0-9_.-]*$",
                               description="this ingest worker's name (PAAS_INGEST_WORKER, --worker)")
    ingest_share_group: str = Field(default="paas-ingest", min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$",
                                    description="the MQTT shared-subscription group of the named ingest workers")
    ingest_batch_max: int = Field(default=500, ge=1, le=10_000, description="messages per store transaction")
    ingest_linger_s: float = Field(default=0.05, ge=0.0, le=5.0, description="wait this long to fill a batch")
    mqtt_keepalive_s: int = Field(default=30, ge=5, le=3600)
    # Per-device limits at ingest (cloud.ingest.limits): well above an agent's own pace (edge max_msgs_per_s 100,
    # batches of 100 readings, about 9 KB each), so only a misbehaving device meets them; the burst covers a
    # backlog the broker kept for hours while the ingest was down.
    ingest_device_msgs_per_s: float = Field(default=200.0, gt=0.0, le=1e6, description="messages/s per device")
    ingest_device_msg_burst: int = Field(default=20_000, ge=1, le=10_000_000, description="messages at once")
    ingest_device_bytes_per_s: int = Field(default=4 * 1024 * 1024, ge=1024, description="payload bytes/s")
    ingest_device_byte_burst: int = Field(
        default=256 * 1024 * 1024, ge=256 * 1024, description="payload bytes at once (at least one largest message)"
    )
    # What one device may keep in the dead-letter store, not yet replayed (cloud.ingest.dead_lettering).
    dead_letters_per_device: int = Field(default=10_000, ge=1, le=10_000_000)
    dead_letter_bytes_per_device: int = Field(default=64 * 1024 * 1024, ge=256 * 1024)
    anomaly_events_for_work_order: int = Field(default=3, ge=1, le=10_000)
    anomaly_window_s: float = Field(default=120.0, gt=0.0)
    # Work orders (cloud.maintenance): closing alarms, due dates from RUL cycles, technicians' photos.
    alarm_quiet_days: float = Field(default=7.0, gt=0.0, le=3650.0,
                                    description="a done order's alarms close after this many days without a recurrence")
    seconds_per_cycle: float = Field(default=3600.0, gt=0.0, le=1e9,
                                     description="how long one RUL cycle lasts, for due dates from the RUL lower bound")
    # Retention of the SQL time-series store (cloud.store.retention, docs/timeseries.md): raw readings first, the
    # 1-minute and 1-hour rollups kept longer so long charts still read.
    raw_retention_days: float = Field(default=30.0, gt=0.0, le=36_500.0, description="raw readings kept, days")
    raw_retention_by_tenant: dict[str, Annotated[float, Field(gt=0.0, le=36_500.0)]] = Field(
        default_factory=dict, description='per-tenant raw days, JSON: {"acme": 7}')
    rollup_retention_days: float = Field(default=90.0, gt=0.0, le=36_500.0, description="1-minute rollups kept, days")
    rollup_1h_retention_days: float = Field(default=1826.0, gt=0.0, le=36_500.0, description="1-hour rollups, days")
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024,
                                      description="largest photo a technician may attach to a work order")
    offline_after_s: float = Field(default=120.0, gt=0.0)
    log_level: str = "INFO"
    # The model-signing key (cloud.registry.signing): required outside PAAS_ENV=local, never created there.
    signing_key_file: Path | None = Field(
        default=None,
        description=f"Ed25519 private key (PEM, 0600) that signs model manifests; required in staging and "
        f"production; default in local: {SIGNING_KEYS_DIR}/{SIGNING_KEY_NAME} beside the SQLite database "
        "(var/cloud/ for PostgreSQL), in a folder of its own",
    )
    signing_key_create: bool | None = Field(
        default=None, description="create the key (0600) when the file is missing; default: in PAAS_ENV=local only, "
        "and true is refused elsewhere"
    )
    default_maintenance_horizon_cycles: float = Field(
        default=DEFAULT_MAINTENANCE_HORIZON_CYCLES, gt=0.0, description="for assets without a contract"
    )
    detector_calibration_readings: int = Field(
        default=400, ge=50, le=100_000, description="readings a detector is fitted on unless the request says"
    )
    max_artifact_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    command_client_id: str = Field(default="paas-cloud-commands", min_length=1, max_length=23)
    public_api_url: str = Field(
        default="", description="base URL devices download artifacts from; empty: the URL the request came to"
    )
    # Device security (cloud.security): the broker's PKI, password and ACL files, and credential lifetimes.
    security_dir: Path = Field(default=Path("var/cloud/security"), description="dev CA, broker cert, password/ACL")
    secure_broker_url: str = Field(
        default="mqtts://localhost:8883", description="the device listener, written into device bundles"
    )
    credential_valid_days: float = Field(default=90.0, gt=0.0, le=3650.0)
    # Credential rotation (cloud.security.rotation): `cloud serve` runs it on a thread when PAAS_BROKER is mqtts://.
    broker_pid_file: Path | None = Field(
        default=None, validation_alias="PAAS_BROKER_PID_FILE",
        description="the broker's pid file, signalled (SIGHUP) to re-read its password and ACL files; Debian: "
        "/run/mosquitto/mosquitto.pid; default: mosquitto.pid in PAAS_SECURITY_DIR",
    )
    credential_rotation: bool = Field(default=True, description="`cloud serve` rotates due credentials and re-sends")
    rotation_interval_s: float = Field(
        default=60.0, ge=0.1, le=86400.0, description="seconds between passes: due rotations, retries, expiries"
    )
    rotation_retry_s: float = Field(
        default=60.0, ge=0.1, le=86400.0, description="first retry of a rotation not yet proven in use"
    )
    rotation_retry_max_s: float = Field(
        default=3600.0, ge=0.1, le=7 * 86400.0, description="longest wait between retries (exponential, jittered)"
    )
    # Identity and access (cloud.auth): see docs/security.md, "The API".
    env: Environment = Field(default=Environment.LOCAL, validation_alias="PAAS_ENV")
    auth_secret: SecretStr | None = Field(
        default=None, description="key that signs access tokens and artifact links (32+ characters)"
    )
    auth_secret_file: Path | None = Field(
        default=None, description=f"file holding that key; default: {AUTH_SECRET_NAME} beside the SQLite database"
    )
    access_token_ttl_s: float = Field(default=900.0, ge=30.0, le=86400.0)
    refresh_token_ttl_s: float = Field(default=14 * 86400.0, ge=300.0, le=365 * 86400.0)
    artifact_link_ttl_s: float = Field(
        default=7 * 86400.0, ge=60.0, le=90 * 86400.0, description="how long a device's signed artifact link works"
    )
    sign_in_max_failures: int = Field(default=5, ge=1, le=1000, description="per username within the window")
    sign_in_max_failures_per_client: int = Field(default=30, ge=1, le=100_000, description="per client address")
    sign_in_window_s: float = Field(default=900.0, ge=1.0, le=86400.0)
    allowed_hosts: str = Field(
        default="", description="comma-separated Host names the API answers to; empty: localhost names, PAAS_HOST "
        "and the host of PAAS_PUBLIC_API_URL"
    )
    cors_origins: str = Field(default="", description="comma-separated origins allowed by CORS; empty: CORS off")
    max_request_bytes: int = Field(
        default=256 * 1024, ge=1024, le=64 * 1024 * 1024, description="request bodies other than model artifacts"
    )
    # How the cloud itself logs in to the broker (mqtts:// URLs use TLS; see cloud.broker.login).
    broker_username: str = Field(default="", validation_alias="PAAS_BROKER_USERNAME")
    broker_password_file: Path | None = Field(default=None, validation_alias="PAAS_BROKER_PASSWORD_FILE")
    broker_ca_file: Path | None = Field(default=None, validation_alias="PAAS_BROKER_CA_FILE")
    # Notifications (cloud.notify): e-mail over SMTP, webhooks signed per customer, sent from a durable outbox.
    smtp_host: str = Field(default="", validation_alias="PAAS_SMTP_HOST", description="empty: e-mail is not sent "
                           "(rows wait and are retried, then fail, visible at GET /api/v1/notifications)")
    smtp_port: int = Field(default=0, ge=0, le=65535, validation_alias="PAAS_SMTP_PORT",
                           description="0: 25, 587 with starttls, 465 with tls")
    smtp_from: str = Field(default="PaaS maintenance <maintenance@localhost>", validation_alias="PAAS_SMTP_FROM")
    smtp_username: str = Field(default="", validation_alias="PAAS_SMTP_USERNAME", description="empty: no login")
    smtp_password_file: Path | None = Field(default=None, validation_alias="PAAS_SMTP_PASSWORD_FILE")
    smtp_security: SmtpSecurity = Field(default=SmtpSecurity.NONE, validation_alias="PAAS_SMTP_SECURITY")
    smtp_ca_file: Path | None = Field(default=None, validation_alias="PAAS_SMTP_CA_FILE",
                                      description="CA certificates (PEM) the SMTP server's is checked against; "
                                      "default: the system's")
    notify_retry_s: float = Field(default=30.0, ge=0.1, le=86400.0, validation_alias="PAAS_NOTIFY_RETRY_S",
                                  description="first retry of a notification the server did not accept")
    notify_retry_max_s: float = Field(default=3600.0, ge=0.1, le=7 * 86400.0,
                                      validation_alias="PAAS_NOTIFY_RETRY_MAX_S",
                                      description="longest wait between retries (exponential, full jitter)")
    notify_max_attempts: int = Field(default=20, ge=1, le=1000, validation_alias="PAAS_NOTIFY_MAX_ATTEMPTS",
                                     description="attempts before a notification is marked failed")
    notify_interval_s: float = Field(default=5.0, ge=0.05, le=3600.0, validation_alias="PAAS_NOTIFY_INTERVAL_S",
                                     description="seconds between passes of the outbox sender")
    support_contact: str = Field(default="your service contact", validation_alias="PAAS_SUPPORT_CONTACT",
                                 max_length=256, description="how a customer reaches a person (in visit notices)")

    @field_validator("broker_url")
    @classmethod
    def _broker_is_mqtt(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"{value!r} is not mqtt://host[:port] or mqtts://host[:port]")
        _ = parts.port  # raises ValueError for a malformed port
        return value

    @field_validator("db_url", "tsdb_url")
    @classmethod
    def _is_sql_url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.split("+", 1)[0]
        if scheme not in _SQL_SCHEMES:
            raise ValueError(f"{value!r} is not a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"{value!r} is not DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @model_validator(mode="after")
    def _separate_sqlite_files(self) -> CloudSettings:
        # Both stores write in one batch; SQLite allows one writer per file, so sharing a file would deadlock.
        if self.db_url == self.tsdb_url and urlsplit(self.db_url).scheme.startswith("sqlite"):
            raise ValueError("PAAS_DB and PAAS_TSDB must be different SQLite files")
        return self

    @property
    def signing_key_path(self) -> Path:
        """Where the model-signing key is: as set, else (a developer's) in a `keys/` folder beside the database."""
        return self.signing_key_file or self._state_dir() / SIGNING_KEYS_DIR / SIGNING_KEY_NAME

    def _state_dir(self) -> Path:
        """The service's own files: the SQLite database's folder, or var/cloud/ for PostgreSQL."""
        url = urlsplit(self.db_url)
        database = url.path[1:] if url.scheme.startswith("sqlite") and url.path not in ("", "/", "/:memory:") else ""
        return Path(database).parent if database else Path("var/cloud")

    @property
    def auth_secret_path(self) -> Path:
        """Where the token-signing key is kept: as set, else beside the SQLite database (or under var/cloud/)."""
        return self.auth_secret_file or self._state_dir() / AUTH_SECRET_NAME

    @property
    def trusted_hosts(self) -> list[str]:
        """The Host header values the API accepts (TrustedHostMiddleware)."""
        if self.allowed_hosts.strip():
            return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]
        hosts = list(_LOCAL_HOSTS)
        for extra in (self.host, urlsplit(self.public_api_url).hostname or ""):
            if extra and extra not in ("0.0.0.0", "::") and extra not in hosts:
                hosts.append(extra)
        return hosts

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def ingest_session_id(self) -> str:
        """The ingest's MQTT client id: one persistent session per worker, so two workers never take each other's."""
        return f"{self.ingest_client_id}-{self.ingest_worker}" if self.ingest_worker else self.ingest_client_id

    @property
    def ingest_share(self) -> str | None:
        """The shared-subscription group a named worker joins; None: the one ingest subscribes on its own."""
        return self.ingest_share_group if self.ingest_worker else None

    @property
    def broker_host(self) -> str:
        return urlsplit(self.broker_url).hostname or "127.0.0.1"

    @property
    def broker_port(self) -> int:
        parts = urlsplit(self.broker_url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def broker_login(self) -> BrokerLogin:
        return BrokerLogin(
            tls=urlsplit(self.broker_url).scheme == "mqtts",
            ca_file=self.broker_ca_file,
            username=self.broker_username,
            password_file=self.broker_password_file,
        )


def load_settings(**overrides: Any) -> CloudSettings:
    """Settings from the environment, with `overrides` (e.g. CLI options; `None` = not given) on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return CloudSettings(**given)
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from None


def _describe(err: Any) -> str:
    """The error with the environment variable's name (fields with a short name report that name)."""
    if not err.get("loc"):
        return str(err["msg"])
    where = str(err["loc"][0])
    alias = CloudSettings.model_fields[where].validation_alias if where in CloudSettings.model_fields else None
    name = alias if isinstance(alias, str) else where if where.startswith("PAAS_") else f"PAAS_{where.upper()}"
    return f"{name}: {err['msg']}"
