"""`command:CMD`: a command of the user's, run once per sample, whose output is one reading.

This is how a device's own hardware is wired in without forking the agent: any
program or script that prints the current values. CMD is split like a shell would
(`shlex`) but run without a shell; write `command:sh -c '… | …'` for pipes.

Output, either:

- lines `NAME=VALUE [UNIT]` (blank lines and `#` comments ignored), e.g.
  `motor_temp=71.5 degC`;
- or one JSON object: `{"NAME": VALUE, ...}` or `{"NAME": {"value": VALUE, "unit": "UNIT"}}`.

The channels (names, units, order) are those of the first run, at start; a unit
left out is `1`. Later, a channel missing from the output or with `null` is a
missing value, and names not seen at start are ignored. A command that fails (exit
status not 0, no output, times out after `timeout_s`) is a `SensorError`: counted
and logged by the agent, which carries on with the next sample.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import subprocess
from collections.abc import Sequence

from contract.channels import Channel
from edge.errors import ConfigError, SensorError
from edge.sensors.spec import CUSTOM_KIND

DEFAULT_TIMEOUT_S = 5.0
# The wire's rules (contract.wire) for a channel name and a unit symbol: refused here, at start.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_UNIT = re.compile(r"^[A-Za-z0-9/%._-]{1,16}$")


def parse_command(argument: str) -> list[str]:
    """The argv of `command:CMD`; `ConfigError` if it is empty or unbalanced."""
    try:
        argv = shlex.split(argument)
    except ValueError as exc:
        raise ConfigError(f"command:{argument}: {exc} (quote it as a shell would)") from None
    if not argv:
        raise ConfigError("command: needs a command to run, e.g. command:'/usr/local/bin/read-sensors'")
    return argv


def parse_output(text: str) -> dict[str, tuple[float | None, str]]:
    """A command's output -> {name: (value, unit)}, in output order; `SensorError` if unreadable."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return _parse_json(stripped)
    out: dict[str, tuple[float | None, str]] = {}
    for number, line in enumerate(stripped.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, rest = line.partition("=")
        fields = rest.split()
        if not sep or not fields or len(fields) > 2:
            raise SensorError(f"output line {number} {line[:80]!r} is not NAME=VALUE [UNIT]")
        out[name.strip()] = (_number(fields[0], name), fields[1] if len(fields) == 2 else "1")
    return out


class CommandSensor:
    """Runs `argv` at each read; its channels are those of the first run."""

    def __init__(self, argv: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._argv = list(argv)
        self._timeout_s = timeout_s
        first = self._run()
        if not first:
            raise SensorError(f"command {shlex.join(self._argv)!r} printed no value at start")
        for name, (_, unit) in first.items():
            if not _NAME.match(name) or not _UNIT.match(unit):
                raise SensorError(f"command output: channel {name!r} unit {unit!r}: a name is 1-64 of "
                                  "A-Z a-z 0-9 _ . - and a unit 1-16 of A-Z a-z 0-9 / % . _ -")
        self._channels = tuple(Channel(name, unit, name) for name, (_, unit) in first.items())

    @classmethod
    def open(cls, argument: str) -> CommandSensor:
        return cls(parse_command(argument))

    @property
    def asset_kind(self) -> str:
        return CUSTOM_KIND

    @property
    def channels(self) -> tuple[Channel, ...]:
        return self._channels

    def read(self) -> tuple[float | None, ...]:
        values = self._run()
        return tuple(values.get(c.name, (None, c.unit))[0] for c in self._channels)

    def close(self) -> None:
        """Nothing to release: each run's process has ended."""

    def _run(self) -> dict[str, tuple[float | None, str]]:
        where = f"command {shlex.join(self._argv)!r}"
        try:
            done = subprocess.run(self._argv, capture_output=True, text=True, timeout=self._timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise SensorError(f"{where} did not finish within {self._timeout_s:g} s") from None
        except OSError as exc:
            raise SensorError(f"{where} cannot run: {exc.strerror}") from exc
        if done.returncode != 0:
            raise SensorError(f"{where} exited {done.returncode}: {done.stderr.strip()[:200]}")
        try:
            return parse_output(done.stdout)
        except SensorError as exc:
            raise SensorError(f"{where}: {exc}") from None


def _parse_json(text: str) -> dict[str, tuple[float | None, str]]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SensorError(f"output is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise SensorError("JSON output must be an object of name -> value")
    out: dict[str, tuple[float | None, str]] = {}
    for name, item in raw.items():
        value, unit = (item.get("value"), str(item.get("unit", "1"))) if isinstance(item, dict) else (item, "1")
        out[str(name)] = (None if value is None else _number(value, name), unit)
    return out


def _number(value: object, name: str) -> float | None:
    if isinstance(value, bool):
        raise SensorError(f"{name}: {value!r} is not a number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SensorError(f"{name}: {str(value)[:40]!r} is not a number") from None
    return number if math.isfinite(number) else None
