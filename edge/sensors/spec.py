"""The `--sensor` spec: which source a device reads, written `SCHEME:ARGUMENT` (e.g. `sim:pump`).

    sim:pump | sim:turbofan                     a simulated asset (firmware_sim)
    replay:PATH[@SPEED]                         a recorded SKAB-format CSV, replayed as a pump
    command:CMD                                 a command run each sample, printing name=value lines or JSON
    sysfs:[NAME[:UNIT][*SCALE]=]PATH[,...]      numeric files, e.g. /sys/class/thermal/thermal_zone0/temp

The argument is checked here (so bad settings fail before anything starts); the
source itself (file, command, paths) is opened by `edge.sensors.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.channels import CATALOGUE
from edge.errors import ConfigError

# A source whose channels are not one of the catalogue's asset kinds reports this kind (no default model).
CUSTOM_KIND = "custom"
# scheme -> what its argument may be (None: free-form, checked by the scheme's own parser).
SCHEMES: dict[str, tuple[str, ...] | None] = {
    "sim": tuple(CATALOGUE),
    "replay": None,
    "command": None,
    "sysfs": None,
}
_FORMS = "sim:pump, sim:turbofan, replay:PATH[@SPEED], command:CMD, sysfs:[NAME[:UNIT][*SCALE]=]PATH,..."


@dataclass(frozen=True)
class SensorSpec:
    scheme: str
    argument: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.argument}"

    @property
    def asset_kind(self) -> str:
        """The kind of asset the source reports on: a replay is a pump (SKAB), command/sysfs are custom."""
        if self.scheme == "sim":
            return self.argument
        return "pump" if self.scheme == "replay" else CUSTOM_KIND

    @classmethod
    def parse(cls, text: str) -> SensorSpec:
        """Read `SCHEME:ARGUMENT`; `ConfigError` naming the accepted forms otherwise."""
        scheme, sep, argument = text.strip().partition(":")
        allowed = SCHEMES.get(scheme, ())
        if not sep or scheme not in SCHEMES or not argument.strip() or (allowed and argument not in allowed):
            raise ConfigError(f"unknown sensor {text!r}: use one of {_FORMS}")
        spec = cls(scheme, argument.strip())
        _check_argument(spec)
        return spec


def _check_argument(spec: SensorSpec) -> None:
    # Imported here: each parser lives with its source, and only the chosen one is needed.
    if spec.scheme == "replay":
        from edge.sensors.replay import parse_replay

        parse_replay(spec.argument)
    elif spec.scheme == "command":
        from edge.sensors.command import parse_command

        parse_command(spec.argument)
    elif spec.scheme == "sysfs":
        from edge.sensors.sysfs import parse_sysfs

        parse_sysfs(spec.argument)
