"""docs/security.md, "On Debian's Mosquitto, step by step", run as written.

Every `sh` block of that section runs, in order, in one shell session (bash; variables carry
from block to block), on a private Mosquitto laid out and started as Debian's package does
(`security_testkit.DebianMosquitto`: the packaged mosquitto.conf with its own pid file and
`include_dir conf.d`, started as root, running as `mosquitto`). What a real host has and this
one may not is played by `Machine`, and only that: the paths live under a temporary root, the
ports are free ones, `broker.example.com` is `localhost`, `-o paas-edge -g paas-edge` is root,
and `systemctl` starts, restarts and stops the broker and the units (their `EnvironmentFile`,
`Environment`, `WorkingDirectory` and `ExecStart` read from the installed unit files). After each
step the test checks what the step promises; a step it does not know fails it, so the document
and the test cannot drift apart. Beyond the document, it restarts the agent after the rotation
(the rotated credentials must survive it) and checks the old password is refused.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from security_testkit import REFUSED, DebianMosquitto, Probe, debian_root, login_rc, owners, wait_until

from cloud.broker import free_port
from cloud.security.broker_auth import CLOUD_USERNAME
from cloud.security.broker_config import PACKAGED_SETTINGS
from cloud.security.layout import SecurityLayout
from contract.wire import DeviceState, DeviceStatus, decode
from edge.credentials import HEALTH_USERNAME_KEY

pytestmark = pytest.mark.mosquitto

REPO = Path(__file__).resolve().parents[2]
SECTION = "## On Debian's Mosquitto, step by step"
UNITS = ("paas-cloud", "paas-edge")
# What every command and unit starts with (systemd starts units with a clean environment): the code under test.
BASE_ENV = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "PYTHONPATH": str(REPO)}


def doc_steps() -> list[tuple[str, list[str]]]:
    """The section's `### ` steps, each with its `sh` blocks, in the document's order."""
    text = (REPO / "docs/security.md").read_text()
    assert SECTION in text, f"docs/security.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    steps = []
    for part in section.split("\n### ")[1:]:
        heading, _, body = part.partition("\n")
        steps.append((heading.strip(), re.findall(r"```sh\n(.*?)```", body, flags=re.S)))
    return steps


class Machine:
    """The broker host and the device, on this machine under `root`: a shell session and a `systemctl`."""

    def __init__(self, root: Path, broker: DebianMosquitto) -> None:
        self.root, self.broker = root, broker
        self.device_port, self.cloud_port, self.api_port = free_port(), free_port(), free_port()
        self.work = root / "home"
        for folder in (self.work, root / "etc/systemd/system", root / "opt"):
            folder.mkdir(parents=True, exist_ok=True)
        (self.work / "deploy").symlink_to(REPO / "deploy")  # the checkout the commands run from
        self.session = root / "session.env"
        self.units: dict[str, subprocess.Popen[bytes]] = {}

    def localise(self, text: str) -> str:
        """The document's host, paths and ports, as this machine has them."""
        text = text.replace("sqlite:////", f"sqlite:///{self.root}/")
        text = re.sub(r"(?<![\w.~/-])/(etc|var|run|opt)/", lambda m: f"{self.root}/{m.group(1)}/", text)
        text = text.replace("broker.example.com", "localhost").replace("-o paas-edge -g paas-edge", "-o root -g root")
        return text.replace(":8883", f":{self.device_port}").replace(":8884", f":{self.cloud_port}")

    def run(self, block: str) -> str:
        """Run a block: shell lines in the session, `systemctl` lines here; what the shell printed."""
        printed, shell = [], []
        for line in self.localise(block).splitlines():
            if line.startswith("systemctl "):
                printed.append(self._shell("\n".join(shell)))
                shell = []
                self.systemctl(line.split()[1:])
            else:
                shell.append(line)
        printed.append(self._shell("\n".join(shell)))
        return "".join(printed)

    def _shell(self, script: str) -> str:
        if not script.strip():
            return ""
        prologue = (f'set -eo pipefail\npython() {{ "{sys.executable}" "$@"; }}\n'
                    f'if [ -f {self.session} ]; then . {self.session}; fi\ncd {self.work}\n')
        done = subprocess.run(["bash", "-c", f"{prologue}{script}\nexport -p > {self.session}\n"], cwd=self.work,
                              env={**BASE_ENV, "HOME": str(self.work)},
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"the step failed:\n{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        return done.stdout + done.stderr

    def systemctl(self, args: list[str]) -> None:
        verb, unit = args[0], args[-1].removesuffix(".service")
        if verb == "daemon-reload":
            return
        if unit == "mosquitto":
            if verb in ("stop", "restart"):
                self.broker.stop()
            if verb in ("start", "restart", "enable"):
                self.broker.start(self.cloud_port)
            if verb == "reload":
                os.kill(int(self.broker.pid_file.read_text()), signal.SIGHUP)
            return
        assert unit in UNITS, f"systemctl {' '.join(args)}: a unit this test does not know"
        if verb in ("stop", "restart"):
            self.stop(unit)
        if verb in ("start", "restart") or (verb == "enable" and "--now" in args):
            self.units[unit] = self._start(unit)

    def _start(self, unit: str) -> subprocess.Popen[bytes]:
        lines = (self.root / f"etc/systemd/system/{unit}.service").read_text().splitlines()
        settings = [line.split("=", 1) for line in lines if "=" in line and not line.startswith("#")]
        env = dict(BASE_ENV)
        for key, value in settings:
            if key == "EnvironmentFile":
                env |= read_env(Path(self.localise(value)))
            elif key == "Environment":
                name, _, val = self.localise(value).partition("=")
                env[name] = val
        env |= {"paas-cloud": {"PAAS_PORT": str(self.api_port)},  # not 8000: other things run here
                "paas-edge": {"PAAS_EDGE_HEARTBEAT_S": "1"}}[unit]
        unit_settings = dict(settings)
        if "StateDirectory" in unit_settings:  # systemd creates it, owned by the unit's user
            (self.root / "var/lib" / unit_settings["StateDirectory"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        command = self.localise(unit_settings["ExecStart"]).split()
        command[0] = sys.executable  # /opt/…/venv/bin/python: this test's interpreter
        with (self.root / f"{unit}.log").open("ab") as log:
            return subprocess.Popen(command, cwd=self.localise(unit_settings["WorkingDirectory"]), env=env,
                                    stdout=log, stderr=log)

    def stop(self, unit: str) -> None:
        process = self.units.pop(unit, None)
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=30)

    def log(self, unit: str) -> str:
        path = self.root / f"{unit}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def running(self, unit: str) -> bool:
        process = self.units.get(unit)
        assert process is not None and process.poll() is None, f"{unit} is not running:\n{self.log(unit)}"
        return True


def read_env(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))


@pytest.fixture
def machine() -> Iterator[Machine]:
    with debian_root() as root:
        broker = DebianMosquitto(root)
        host = Machine(root, broker)
        try:
            yield host
        finally:
            for unit in UNITS:
                host.stop(unit)
            broker.stop()


class Fleet:
    """The cloud's view of pump-001 (the cloud listener, as the cloud user): logins from its states, telemetry."""

    def __init__(self, machine: Machine) -> None:
        security = machine.root / "etc/paas/security"
        self.ca = security / "ca.pem"
        self.device_url = f"mqtts://localhost:{machine.device_port}"
        self.probe = Probe(f"mqtts://localhost:{machine.cloud_port}", ca_file=self.ca, username=CLOUD_USERNAME,
                           password=(security / "cloud.password").read_text().strip())
        assert self.probe.wait_connack() == 0
        self.probe.subscribe("paas/v1/acme/pump-001/#")

    def states(self) -> list[DeviceState]:
        decoded = [decode(t, p) for t, p in list(self.probe.messages) if t.endswith("/state")]
        return [s for s in decoded if isinstance(s, DeviceState)]

    def restarts(self) -> int:
        """The agent's clean stops (each publishes its offline state)."""
        return sum(1 for s in self.states() if s.status is DeviceStatus.OFFLINE)

    def login(self) -> str | None:
        """The username of the agent's latest online state after its latest stop (None: none since)."""
        states = self.states()
        stopped = max((i for i, s in enumerate(states) if s.status is DeviceStatus.OFFLINE), default=-1)
        online = [s for s in states[stopped + 1:] if s.status is DeviceStatus.ONLINE]
        return str(online[-1].health.get(HEALTH_USERNAME_KEY)) if online else None

    def telemetry(self) -> int:
        return sum(1 for t, _ in list(self.probe.messages) if t.endswith("/telemetry"))

    def working_as(self, username: str, machine: Machine, restarts: int = 0) -> None:
        """The agent, started `restarts` times so far, is logged in as `username` and its telemetry keeps coming."""
        wait_until(lambda: machine.running("paas-edge") and self.restarts() >= restarts and self.login() == username,
                   20.0, f"the agent logged in as {username}")
        seen = self.telemetry()
        wait_until(lambda: self.telemetry() > seen, 10.0, f"telemetry from the agent as {username}")

    def refused(self, username: str, password: str) -> bool:
        return login_rc(self.device_url, self.ca, username, password) in REFUSED


def test_the_documents_steps_work_as_written_on_a_debian_broker(machine: Machine) -> None:
    steps = doc_steps()
    assert [h.split(".")[0] for h, _ in steps] == [str(n) for n in range(1, len(steps) + 1)]
    layout = SecurityLayout(machine.root / "etc/paas/security")
    fleet: Fleet | None = None
    printed: dict[str, str] = {}
    for heading, blocks in steps:
        assert blocks, f"step {heading!r} has no sh block"
        printed[heading] = out = "".join(machine.run(block) for block in blocks)
        if heading == "1. The cloud's settings":
            assert read_env(machine.root / "etc/paas/cloud.env")["PAAS_SECURITY_DIR"] == str(layout.root)
        elif heading == "2. The broker":
            settings = [line.split() for line in (machine.root / "etc/mosquitto/conf.d/paas.conf").read_text()
                        .splitlines() if line and not line.startswith("#")]
            paths = [word for words in settings for word in words[1:] if "/" in word]
            assert paths and all(p.startswith(str(layout.root)) for p in paths), paths  # absolute, the security dir's
            assert ["listener", str(machine.cloud_port), "127.0.0.1"] in settings
            assert not [words for words in settings if words[0] in PACKAGED_SETTINGS]  # the package's pid_file stays
            given = owners(layout.broker_files)
            assert {owner for owner, _ in given.values()} == {"mosquitto"}
        elif heading == "3. The cloud service":
            wait_until(lambda: machine.running("paas-cloud") and "cloud: API" in machine.log("paas-cloud"), 30.0,
                       "the cloud service")
            fleet = Fleet(machine)
        elif heading == "4. Provisioning a device":
            assert "(broker reloaded)" in out
            assert owners(layout.broker_files) == given  # the chown survives provisioning
        elif heading == "5. The device":
            assert fleet is not None
            fleet.working_as("acme~pump-001~1", machine)
            bundle = machine.work / "pump-001-bundle"
            first = ("acme~pump-001~1", (bundle / "password").read_text().strip())
        elif heading == "6. Rotating a device's credentials":
            assert fleet is not None
            assert "pump-001 reconnected with its new credentials; the old ones are revoked" in out, out
            assert owners(layout.broker_files) == given  # and rotation
            fleet.working_as("acme~pump-001~2", machine)
            assert fleet.refused(*first)
            machine.systemctl(["restart", "paas-edge"])  # the rotated credentials outlive a restart
            fleet.working_as("acme~pump-001~2", machine, restarts=1)
            stored = json.loads((machine.root / "var/lib/paas-edge/outbox/credentials.json").read_text())
            rotated = (stored["username"], stored["password"])
        elif heading == "7. Re-provisioning a device":
            assert fleet is not None
            # The new bundle, not the stale rotation (the revocation closed its connection: no offline state this time).
            fleet.working_as("acme~pump-001~3", machine, restarts=1)
            assert fleet.refused(*rotated) and fleet.refused(*first)
            assert owners(layout.broker_files) == given
        else:
            pytest.fail(f"docs/security.md has a step this test does not check: {heading!r}")
    assert "Duplicate" not in machine.broker.complaints()
    assert "Traceback" not in machine.log("paas-cloud") + machine.log("paas-edge")
