"""The Mosquitto configuration the project ships: one renderer for the production and the dev/test broker.

Both profiles share `BrokerLimits` (queues, in-flight window, persistence, packet size,
session expiry); they differ only in their listeners. `python -m cloud broker-config
--profile production` adds the device and cloud listeners of `cloud.security.broker_config`;
`--profile dev` and `MosquittoBroker` (the demo and every test) use `dev_config`, so what
the tests prove holds for the settings operators run. Every value is chosen for Mosquitto
2.0 (`man mosquitto.conf`) and is accepted without a warning; why each one, is said where
it is set. docs/reliability.md lists the guarantees and the tests that show them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from contract.wire import MAX_PAYLOAD_BYTES

GIB, MIB = 1 << 30, 1 << 20


@dataclass(frozen=True)
class BrokerLimits:
    """Queue, in-flight, persistence and per-client limits: the same in every profile."""

    # The whole in-memory database is rewritten at each save and Mosquitto blocks while it
    # writes, so 1 s (the former test value) rewrote it every second. A crash loses at most
    # this much broker state; the agents re-send whatever the cloud has not confirmed.
    autosave_interval_s: int = 60
    # Per client, above the in-flight window. The ingest's persistent session is the one that
    # grows while the ingest is down: no count limit (Mosquitto's default of 1,000 silently
    # dropped acknowledged readings), a byte bound instead, because Mosquitto holds every
    # queued message in memory. 1 GiB of payload is ~2 million one-reading messages (about
    # 530 B each): 1,000 devices at 1 reading/s for ~2 h, 100 devices for ~20 h; ~12 million
    # readings batched 100 per message. Past it, the device outboxes are the buffer.
    max_queued_messages: int = 0
    max_queued_bytes: int = GIB
    # Per client, broker -> client, QoS 1 not yet acknowledged. The ingest acknowledges after
    # its commit, so this window is the most one store transaction can gather: at least
    # `ingest_batch_max` (500). Devices only receive commands and confirmations.
    max_inflight_messages: int = 1000
    # Bounds the memory a client that never acknowledges can pin in flight (a message larger
    # than this still goes, alone).
    max_inflight_bytes: int = 32 * MIB
    # Any packet above it disconnects its sender: the wire contract's payload limit plus room
    # for the topic and headers (Mosquitto 2 prefers this to the deprecated message_size_limit).
    max_packet_size: int = MAX_PAYLOAD_BYTES + 4096
    # A persistent session unused this long is removed with its queue: a vanished device (or
    # a rotated-away username) does not pin memory forever, and the ingest's session outlives
    # any outage shorter than a week (its queue's byte bound is reached long before).
    persistent_client_expiration: str = "7d"

    def lines(self) -> list[str]:
        """The settings as config lines (the global part, before any listener)."""
        return [
            "# Queues, in-flight window and packet size (per client): see cloud/broker/config.py",
            f"max_queued_messages {self.max_queued_messages}",
            f"max_queued_bytes {self.max_queued_bytes}",
            f"max_inflight_messages {self.max_inflight_messages}",
            f"max_inflight_bytes {self.max_inflight_bytes}",
            f"max_packet_size {self.max_packet_size}",
            f"persistent_client_expiration {self.persistent_client_expiration}",
            "queue_qos0_messages false",
            "# PUBACKs and small messages go out at once (Nagle would hold them for the next packet)",
            "set_tcp_nodelay true",
            "# Persistence: sessions, subscriptions and queued messages survive a restart",
            "persistence true",
            f"autosave_interval {self.autosave_interval_s}",
            "autosave_on_changes false",
        ]


LIMITS = BrokerLimits()


@dataclass(frozen=True)
class ListenerAuth:
    """Who may log in on a listener (its own password file) and what each user may do (its ACL)."""

    password_file: Path
    acl_file: Path


@dataclass(frozen=True)
class TlsFiles:
    """The listener's CA, certificate and key (PEM files)."""

    cafile: Path
    certfile: Path
    keyfile: Path


@dataclass(frozen=True)
class Listener:
    """One port: anonymous when `auth` is None (the loopback test broker only), TLS when `tls` is set."""

    port: int
    bind: str
    purpose: str
    auth: ListenerAuth | None = None
    tls: TlsFiles | None = None
    # The client id becomes the username: a client cannot choose another's id (and take over its session).
    username_is_client_id: bool = False

    def lines(self) -> list[str]:
        lines = [f"# {self.purpose}", f"listener {self.port} {self.bind}"]
        if self.auth is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {self.auth.password_file}",
                      f"acl_file {self.auth.acl_file}"]
        if self.username_is_client_id:
            lines.append("use_username_as_clientid true")
        if self.tls is not None:
            lines += [f"cafile {self.tls.cafile}", f"certfile {self.tls.certfile}", f"keyfile {self.tls.keyfile}",
                      "tls_version tlsv1.2"]
        return lines


def render_config(
    listeners: Sequence[Listener], data_dir: Path, *, pid_file: Path | None = None, run_as: str | None = None,
    limits: BrokerLimits = LIMITS,
) -> str:
    """A complete mosquitto.conf: `limits`, persistence and log in `data_dir`, then each listener."""
    data_dir = Path(data_dir).absolute()
    lines = ["# Generated by `python -m cloud broker-config` (cloud/broker/config.py); regenerate, do not edit."]
    if run_as:
        lines.append(f"user {run_as}")
    # Authentication, ACLs and client-id rules belong to each listener, never to the whole broker.
    lines.append("per_listener_settings true")
    lines += limits.lines()
    lines.append(f"persistence_location {data_dir}/")
    if pid_file is not None:
        lines.append(f"pid_file {pid_file}")
    lines += [f"log_dest file {data_dir}/mosquitto.log", "log_type error", "log_type warning", "log_type notice"]
    for listener in listeners:
        lines += ["", *listener.lines()]
    return "\n".join(lines) + "\n"


def current_user_if_root() -> str | None:
    """`root` when this process is root: Mosquitto started as root would otherwise drop to the
    `mosquitto` user, which cannot write a private (0700) data directory nor read 0600 keys."""
    return "root" if os.geteuid() == 0 else None


def dev_config(port: int, data_dir: Path) -> str:
    """The loopback test broker (anonymous, no TLS) with the production limits: the demo's and the tests'."""
    listener = Listener(port, "127.0.0.1", "the dev/test broker: loopback only, anonymous, no TLS")
    return render_config([listener], data_dir, run_as=current_user_if_root())
