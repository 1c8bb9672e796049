"""The desired state the cloud asked for, persisted until it is applied, refused or rolled back.

The `set_desired_state` handler only validates and writes `STATE_DIR/updates/desired.json`
(handlers run on the MQTT thread and must be quick); the updater's own thread does the
work. An update interrupted by a reboot is therefore found again at the next start,
and its download resumes from the partial file.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.errors import UpdateError
from edge.settings import MAX_RATE_HZ
from edge.updates.atomic_file import read_json, remove, write_json

COMMAND_NAME = "set_desired_state"
FILE_NAME = "desired.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MODEL_KEYS = ("model_id", "model_version", "artifact_url", "sha256", "signature", "signing_key_id")
# The ceiling `--rate` has (and the cloud's API): above it a Pi-class device's outbox and uplink fall behind.
MAX_SAMPLE_RATE_HZ = MAX_RATE_HZ


@dataclass(frozen=True)
class DesiredState:
    """A model to run (all model fields set, or none) and optional configuration overrides."""

    model_id: str = ""
    model_version: str = ""
    artifact_url: str = ""
    sha256: str = ""
    signature: str = ""
    signing_key_id: str = ""
    threshold: float | None = None
    sample_rate_hz: float | None = None
    message_id: str = ""

    @property
    def has_model(self) -> bool:
        return bool(self.artifact_url)

    @classmethod
    def from_params(cls, params: dict[str, Any], message_id: str = "") -> DesiredState:
        """Validate a command's params; `UpdateError("invalid_command")` says what is wrong."""
        given = [key for key in _MODEL_KEYS if params.get(key)]
        if given and len(given) != len(_MODEL_KEYS):
            missing = ", ".join(k for k in _MODEL_KEYS if k not in given)
            raise UpdateError("invalid_command", f"a model update needs {missing} too")
        values = {key: str(params.get(key) or "") for key in _MODEL_KEYS}
        if given and not _SHA256.match(values["sha256"]):
            raise UpdateError("invalid_command", "sha256 must be 64 lowercase hex digits")
        state = cls(**values, threshold=_number(params, "threshold"),
                    sample_rate_hz=_number(params, "sample_rate_hz", MAX_SAMPLE_RATE_HZ), message_id=message_id)
        if not given and state.threshold is None and state.sample_rate_hz is None:
            raise UpdateError("invalid_command", "the desired state names neither a model nor a setting")
        return state

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> DesiredState:
        return cls.from_params(value, str(value.get("message_id", "")))


class DesiredStore:
    """`STATE_DIR/updates/desired.json`: at most one pending desired state (the newest wins)."""

    def __init__(self, updates_dir: Path) -> None:
        self.path = updates_dir / FILE_NAME

    def save(self, state: DesiredState) -> None:
        write_json(self.path, {k: v for k, v in asdict(state).items() if v is not None})

    def load(self) -> DesiredState | None:
        value = read_json(self.path)
        if value is None:
            return None
        try:
            return DesiredState.from_json(value)
        except UpdateError:
            return None  # unreadable: the cloud resends its wish when it sees the device out of sync

    def clear(self, applied: DesiredState) -> None:
        """Forget `applied`, unless a newer desired state replaced it meanwhile."""
        current = self.load()
        if current is None or current == applied:
            remove(self.path)


def _number(params: dict[str, Any], key: str, maximum: float = math.inf) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise UpdateError("invalid_command", f"{key} must be a positive finite number, got {value!r}")
    if value > maximum:
        raise UpdateError("invalid_command", f"{key} must be at most {maximum:g}, got {value!r}")
    return float(value)
