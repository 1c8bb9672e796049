"""A private Mosquitto process on a port of its own, with the project's broker settings."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cloud.errors import BrokerError

# Why these settings: Mosquitto's defaults drop QoS 1 messages for a slow subscriber
# once 1,000 are queued (max_queued_messages) and keep sessions only in memory. The
# ingest uses a persistent session, so the broker must queue without a count limit
# (bounded by bytes instead) and persist sessions across its own restarts.
BASE_CONFIG = """\
per_listener_settings false
allow_anonymous true
persistence true
persistence_location {data_dir}/
autosave_interval 1
max_queued_messages 0
max_queued_bytes 536870912
max_inflight_messages 100
max_packet_size 1048576
log_dest file {data_dir}/mosquitto.log
log_type error
log_type warning
log_type notice
listener {port} 127.0.0.1
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MosquittoBroker:
    """Start, stop and restart a Mosquitto bound to 127.0.0.1:`port`, state in `data_dir`."""

    def __init__(self, port: int, data_dir: Path, extra_config: str = "") -> None:
        self.port = port
        self.data_dir = Path(data_dir)
        self.extra_config = extra_config
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if binary is None:
            raise BrokerError("the mosquitto binary is not installed (apt-get install mosquitto)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "mosquitto.conf"
        # Started as root, Mosquitto drops to the `mosquitto` user, which cannot write a
        # private (0700) data directory: its persistence would silently not be saved.
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(user + BASE_CONFIG.format(data_dir=self.data_dir, port=self.port) + self.extra_config)
        self._proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise BrokerError(f"mosquitto exited at start (port {self.port}): {err.strip()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout_s:.0f} s")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM: Mosquitto saves its persistence file)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc is not None and proc.stderr:
            proc.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()
