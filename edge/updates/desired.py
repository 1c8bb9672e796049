"""The desired state the cloud asked for, persisted until it is applied, refused or rolled back.

A desired state is built from a verified manifest only (`edge.updates.manifests`): the
model's id, version, sha256 and size and the settings are what the cloud signed; the one
unsigned part is where to fetch the bytes (`artifact_url`), which the digest makes
harmless. The `set_desired_state` handler only verifies and writes
`STATE_DIR/updates/desired.json` (handlers run on the MQTT thread and must be quick); the
updater's own thread does the work. An update interrupted by a reboot is therefore found
again at the next start, and its download resumes from the partial file.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contract.manifest import ModelManifest
from edge.errors import UpdateError
from edge.settings import MAX_RATE_HZ
from edge.updates.atomic_file import read_json, remove, write_json
from edge.updates.links import redact_url

COMMAND_NAME = "set_desired_state"
FILE_NAME = "desired.json"
ARTIFACT_URL_PARAM = "artifact_url"  # the one unsigned param that matters: where the signed digest's bytes are
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# The ceiling `--rate` has (and the cloud's API): above it a Pi-class device's outbox and uplink fall behind.
MAX_SAMPLE_RATE_HZ = MAX_RATE_HZ
# The settings a manifest may carry, with their ceilings; any other name refuses the whole manifest.
SETTINGS = {"threshold": math.inf, "sample_rate_hz": MAX_SAMPLE_RATE_HZ}


@dataclass(frozen=True)
class DesiredState:
    """A model to run (id, version, digest, size; none for a settings-only change) and configuration overrides."""

    model_id: str = ""
    model_version: str = ""
    artifact_url: str = ""
    sha256: str = ""
    size_bytes: int = 0
    threshold: float | None = None
    sample_rate_hz: float | None = None
    counter: int = 0  # the manifest's: which wish is newer
    message_id: str = ""

    @property
    def has_model(self) -> bool:
        return bool(self.sha256)

    @property
    def target(self) -> str:
        return f"{self.model_id}@{self.model_version}" if self.has_model else ""

    @classmethod
    def from_manifest(cls, manifest: ModelManifest, artifact_url: str, message_id: str = "") -> DesiredState:
        """The wish a verified manifest states; `UpdateError("invalid_command")` for settings out of range."""
        unknown = sorted(set(manifest.settings) - set(SETTINGS))
        if unknown:
            raise UpdateError("invalid_command", f"the manifest names settings this agent does not know: "
                                                 f"{', '.join(unknown)}")
        threshold = _setting("threshold", manifest.settings.get("threshold"))
        rate = _setting("sample_rate_hz", manifest.settings.get("sample_rate_hz"))
        if not manifest.has_model and threshold is None and rate is None:
            raise UpdateError("invalid_command", "the desired state names neither a model nor a setting")
        if not manifest.has_model:
            return cls(threshold=threshold, sample_rate_hz=rate, counter=manifest.counter, message_id=message_id)
        if urlsplit(artifact_url).scheme not in ("http", "https"):
            raise UpdateError("invalid_command", f"a model update needs an http(s) artifact_url, "
                                                 f"got {redact_url(artifact_url)!r}")
        return cls(manifest.model_id, manifest.version, artifact_url, manifest.sha256, manifest.size_bytes,
                   threshold, rate, manifest.counter, message_id)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> DesiredState:
        """What `DesiredStore.save` wrote; `ValueError` if the file was damaged."""
        state = cls(**{key: value[key] for key in value if key in cls.__dataclass_fields__})
        if state.has_model and not _SHA256.match(state.sha256):
            raise ValueError("desired.json: sha256 is not 64 hex digits")
        return state


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
        except (TypeError, ValueError):
            return None  # unreadable: the cloud resends its wish when it sees the device out of sync

    def clear(self, applied: DesiredState) -> None:
        """Forget `applied`, unless a newer desired state replaced it meanwhile."""
        current = self.load()
        if current is None or current == applied:
            remove(self.path)


def _setting(key: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not (math.isfinite(value) and value > 0):
        raise UpdateError("invalid_command", f"{key} must be a positive finite number, got {value!r}")
    if value > SETTINGS[key]:
        raise UpdateError("invalid_command", f"{key} must be at most {SETTINGS[key]:g}, got {value!r}")
    return float(value)
