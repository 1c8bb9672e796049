"""A private Mosquitto process on a port of its own, with the project's broker settings (`cloud.broker.config`)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cloud.broker.config import dev_config
from cloud.errors import BrokerError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MosquittoBroker:
    """Start, stop and restart a Mosquitto listening on 127.0.0.1:`port`, state in `data_dir`.

    It runs `config` when given (a complete configuration with a listener on 127.0.0.1:`port`,
    e.g. the production profile on free ports), else the dev profile (`dev_config`), the same text
    `python -m cloud broker-config --profile dev --port PORT --data-dir DATA_DIR` prints.
    """

    def __init__(self, port: int, data_dir: Path, extra_config: str = "", config: str | None = None) -> None:
        self.port = port
        self.data_dir = Path(data_dir).absolute()
        self.config = (config if config is not None else dev_config(port, self.data_dir)) + extra_config
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        return self.data_dir / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        """Where both profiles log (`log_dest file`)."""
        return self.data_dir / "mosquitto.log"

    @property
    def stderr_file(self) -> Path:
        """What Mosquitto writes before its log is open: configuration notes and start-up errors."""
        return self.data_dir / "mosquitto.stderr"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The running process's id (None when stopped)."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if binary is None:
            raise BrokerError("the mosquitto binary is not installed (apt-get install mosquitto)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config)
        # What Mosquitto says before its log file is open (config notes, errors) goes to a file, not a
        # pipe: an unread pipe would block the broker once full.
        offset = self.stderr_file.stat().st_size if self.stderr_file.exists() else 0
        with self.stderr_file.open("ab") as stderr:
            self._proc = subprocess.Popen([binary, "-c", str(self.config_file)], stdout=subprocess.DEVNULL,
                                          stderr=stderr)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self.stderr_file.read_bytes()[offset:].decode(errors="replace")
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

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()
