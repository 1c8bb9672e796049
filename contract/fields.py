"""Typed, validating access to the fields of a decoded JSON payload (used by `contract.wire`).

Every check raises `ProtocolError` with the path of the field at fault, so a receiver
can log exactly why it refused a message.
"""

from __future__ import annotations

import math
import re
from typing import Any

from contract.errors import ProtocolError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # tenants, devices, channels, models
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")  # semver with build metadata
UNIT_PATTERN = re.compile(r"^[A-Za-z0-9/%._-]{1,16}$")


class Fields:
    """Typed access to a JSON object's fields, raising `ProtocolError` with the path."""

    def __init__(self, raw: object, path: str) -> None:
        if not isinstance(raw, dict):
            raise ProtocolError(f"{path}: expected a JSON object")
        self.raw: dict[str, Any] = raw
        self.path = path

    def get(self, key: str, kind: type[Any]) -> Any:
        if key not in self.raw:
            raise ProtocolError(f"{self.path}.{key}: missing")
        value = self.raw[key]
        # bool is an int in Python; JSON true must not pass as a number.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProtocolError(f"{self.path}.{key}: expected {kind.__name__}, got {type(value).__name__}")
        return value

    def number(self, key: str) -> float:
        value = self.raw.get(key)
        if not is_number(value):
            raise ProtocolError(f"{self.path}.{key}: expected a finite number")
        return float(value)  # type: ignore[arg-type]


def optional_id(body: Fields, key: str) -> str:
    if not body.raw.get(key):
        return ""
    value = body.get(key, str)
    check_id(key, value)
    return str(value)


def optional_version(body: Fields) -> str:
    if not body.raw.get("agent_version"):
        return ""
    value = body.get("agent_version", str)
    check_version("agent_version", value)
    return str(value)


def check_version(what: str, value: str) -> None:
    if not VERSION_PATTERN.match(value):
        raise ProtocolError(f"{what}: {value[:80]!r} is not a version (1-64 of A-Z a-z 0-9 _ . + -)")


def check_id(what: str, value: str) -> None:
    if not ID_PATTERN.match(value):
        raise ProtocolError(f"{what}: {value[:80]!r} must be 1-64 of A-Z a-z 0-9 _ . - (starting alphanumeric)")


def seq_in_range(value: int, where: str) -> int:
    if not 0 <= value < 2**63:
        raise ProtocolError(f"{where}: {value} is out of range")
    return value


def is_health_value(value: object) -> bool:
    if isinstance(value, str):
        # Control characters (NUL above all) cannot be stored by PostgreSQL and have no business here.
        return len(value) <= 256 and value.isprintable()
    return is_number(value)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def reject_constant(name: str) -> float:
    raise ProtocolError(f"payload contains {name}, which is not JSON")
