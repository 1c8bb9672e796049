"""A private Mosquitto with the secure configuration, for tests and local development."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloud.broker import MosquittoBroker, free_port
from cloud.security.broker_auth import secure_config
from cloud.security.credentials import CredentialStore
from cloud.security.layout import SecurityLayout
from cloud.security.pki import ensure_pki
from cloud.security.provisioning import sync_broker
from contract.clock import Clock


@dataclass(frozen=True)
class SecureBroker:
    broker: MosquittoBroker
    layout: SecurityLayout
    tls_port: int

    @property
    def tls_url(self) -> str:
        # "localhost", not 127.0.0.1: the client checks the name against the certificate (valid for both).
        return f"mqtts://localhost:{self.tls_port}"

    def stop(self) -> None:
        self.broker.kill()


def start_secure_broker(root: Path, store: CredentialStore, clock: Clock) -> SecureBroker:
    """PKI and broker files under `root/security`, then Mosquitto with a TLS listener on a free port."""
    layout = SecurityLayout(root / "security")
    ensure_pki(layout, clock)
    sync_broker(store, layout)
    tls_port = free_port()
    broker = MosquittoBroker(free_port(), root / "mosquitto", extra_config=secure_config(layout, tls_port))
    broker.start()
    return SecureBroker(broker, layout, tls_port)
