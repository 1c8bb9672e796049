"""How the cloud's own MQTT clients log in to the broker: TLS and a username/password.

The ingest and the command publisher both connect with it, so a broker secured by
`cloud.security` (TLS listener, `allow_anonymous false`, ACLs) serves `cloud serve`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from cloud.errors import ConfigError
from edge.errors import LinkError
from edge.tls import client_tls_context


@dataclass(frozen=True)
class BrokerLogin:
    """TLS (for mqtts:// URLs) with an optional CA file, and optional credentials."""

    tls: bool = False
    ca_file: Path | None = None
    username: str = ""
    password_file: Path | None = None

    def apply(self, client: mqtt.Client) -> None:
        """Configure a paho client before it connects."""
        if self.tls:
            try:
                client.tls_set_context(client_tls_context(str(self.ca_file) if self.ca_file else None))
            except LinkError as exc:
                raise ConfigError(f"PAAS_BROKER_CA_FILE: {exc}") from exc
        if self.username:
            client.username_pw_set(self.username, self._password())

    def _password(self) -> str | None:
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"PAAS_BROKER_PASSWORD_FILE {self.password_file} cannot be read: {exc}") from exc
