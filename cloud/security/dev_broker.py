"""A private Mosquitto with the production configuration on free loopback ports, for tests and development."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloud.broker import MosquittoBroker, free_port
from cloud.broker.config import current_user_if_root
from cloud.security.broker_config import production_config
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
    data_dir = root / "mosquitto"
    config = production_config(layout, data_dir, device_port=tls_port, device_bind="127.0.0.1",
                               cloud_port=cloud_port, cloud_bind="127.0.0.1", run_as=current_user_if_root())
    broker = MosquittoBroker(cloud_port, data_dir, config=config)
    broker.start()
    return SecureBroker(broker, layout, tls_port, cloud_port)
