"""A private Mosquitto with the production configuration on free loopback ports, for tests and development.

It runs the way Debian's package does: a main `mosquitto.conf` like the packaged one (pid
file, persistence, log, `include_dir`) and the printed production drop-in in its `conf.d`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloud.broker import MosquittoBroker, free_port
from cloud.broker.config import current_user_if_root
from cloud.security.broker_config import DROP_IN_NAME, packaged_main_config, production_config
from cloud.security.credentials import CredentialStore
from cloud.security.layout import SecurityLayout
from cloud.security.pki import ensure_pki
from cloud.security.provisioning import sync_broker
from contract.clock import Clock


@dataclass(frozen=True)
class SecureBroker:
    """The running broker: its device listener (`tls_url`) and its cloud listener (`cloud_url`)."""

    broker: MosquittoBroker
    layout: SecurityLayout
    tls_port: int
    cloud_port: int

    @property
    def tls_url(self) -> str:
        """The device listener. "localhost", not 127.0.0.1: the client checks the name against the
        certificate (valid for both)."""
        return f"mqtts://localhost:{self.tls_port}"

    @property
    def drop_in(self) -> Path:
        """The production configuration, as `broker-config` prints it, in the broker's conf.d."""
        return self.broker.data_dir / "conf.d" / DROP_IN_NAME

    @property
    def cloud_url(self) -> str:
        """The cloud listener, where only the cloud user logs in (PAAS_BROKER of `cloud serve`)."""
        return f"mqtts://localhost:{self.cloud_port}"

    def stop(self) -> None:
        self.broker.kill()


def start_secure_broker(root: Path, store: CredentialStore, clock: Clock) -> SecureBroker:
    """PKI and broker files under `root/security`, then Mosquitto with the production profile on free ports."""
    layout = SecurityLayout(root / "security")
    ensure_pki(layout, clock)
    sync_broker(store, layout)
    tls_port, cloud_port = free_port(), free_port()
    while cloud_port == tls_port:
        cloud_port = free_port()
    data_dir = (root / "mosquitto").absolute()
    conf_d = data_dir / "conf.d"
    conf_d.mkdir(parents=True, exist_ok=True)
    (conf_d / DROP_IN_NAME).write_text(production_config(
        layout, device_port=tls_port, device_bind="127.0.0.1", cloud_port=cloud_port, cloud_bind="127.0.0.1"))
    main = packaged_main_config(layout.pid_file, data_dir, conf_d, run_as=current_user_if_root())
    broker = MosquittoBroker(cloud_port, data_dir, config=main)
    broker.start()
    return SecureBroker(broker, layout, tls_port, cloud_port)
