"""The `--sensor` spec: which source a device reads, written `SCHEME:ARGUMENT` (e.g. `sim:pump`)."""

from __future__ import annotations

from dataclasses import dataclass

from contract.channels import CATALOGUE
from edge.errors import ConfigError

# scheme -> what its argument may be; a new kind of source is one row here and one in registry.py.
SCHEMES: dict[str, tuple[str, ...]] = {
    "sim": tuple(CATALOGUE),  # a simulated asset of a catalogued kind
}


@dataclass(frozen=True)
class SensorSpec:
    scheme: str
    argument: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.argument}"

    @property
    def asset_kind(self) -> str:
        """The kind of asset the source reports on (for `sim:`, its argument)."""
        return self.argument

    @classmethod
    def parse(cls, text: str) -> SensorSpec:
        """Read `SCHEME:ARGUMENT`; `ConfigError` naming the accepted forms otherwise."""
        scheme, sep, argument = text.strip().partition(":")
        accepted = ", ".join(f"{s}:{a}" for s, args in SCHEMES.items() for a in args)
        if not sep or scheme not in SCHEMES or argument not in SCHEMES[scheme]:
            raise ConfigError(f"unknown sensor {text!r}: use one of {accepted}")
        return cls(scheme, argument)
