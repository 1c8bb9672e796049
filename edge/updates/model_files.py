"""Which artifact the agent runs, on disk: `STATE_DIR/model/current.json` and the artifacts it names.

The record names the active artifact, the one it replaced (kept for a rollback, also
after a restart), whether the active one passed its probation (`committed`), and a
threshold override. Artifacts other than these two are deleted once an update is
decided, so the SD card holds at most two. The record is replaced atomically
(`edge.updates.atomic_file`): after a power cut it names the old state or the new.

The record also keeps the cloud's sample rate override (`sample_rate_hz`): unlike the
threshold, which belongs to the artifact it was set with and is dropped at a rollback,
the rate is about the sensors, so every change of artifact keeps it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from edge.updates.atomic_file import read_json, remove, sync_dir, write_json

RECORD_NAME = "current.json"


@dataclass(frozen=True)
class Installed:
    """An artifact in the model directory, by digest."""

    sha256: str
    model_id: str
    version: str

    @property
    def file_name(self) -> str:
        return f"{self.sha256}.onnx"

    @classmethod
    def from_json(cls, value: object) -> Installed | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(str(value["sha256"]), str(value["model_id"]), str(value["version"]))
        except KeyError:
            return None


@dataclass(frozen=True)
class Record:
    active: Installed | None = None
    previous: Installed | None = None
    committed: bool = True
    threshold: float | None = None
    sample_rate_hz: float | None = None


class ModelFiles:
    """The model directory of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "model"

    def path_of(self, installed: Installed) -> Path:
        return self.directory / installed.file_name

    def record(self) -> Record:
        value = read_json(self.directory / RECORD_NAME) or {}
        return Record(
            Installed.from_json(value.get("active")), Installed.from_json(value.get("previous")),
            bool(value.get("committed", True)), _number(value.get("threshold")), _number(value.get("sample_rate_hz")),
        )

    def install(self, downloaded: Path, installed: Installed) -> Path:
        """Move a verified download into the model directory (same file system: a rename)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_of(installed)
        os.replace(downloaded, target)
        sync_dir(self.directory)
        return target

    def activate(self, installed: Installed, threshold: float | None) -> None:
        """Record `installed` as active on probation; the active one so far becomes the rollback target."""
        old = self.record()
        self._write(Record(installed, old.active, False, threshold, old.sample_rate_hz))

    def commit(self) -> None:
        old = self.record()
        self._write(replace(old, committed=True))
        self._prune(old.active, old.previous)

    def revert(self) -> None:
        """Back to the previous artifact (none: the model the settings name), forgetting the active one."""
        old = self.record()
        if old.previous is None and old.sample_rate_hz is None:
            remove(self.directory / RECORD_NAME)
        else:
            self._write(Record(old.previous, None, committed=True, sample_rate_hz=old.sample_rate_hz))
        self._prune(old.previous, None)

    def set_threshold(self, threshold: float | None) -> None:
        self._write(replace(self.record(), threshold=threshold))

    def set_sample_rate(self, rate_hz: float) -> None:
        self._write(replace(self.record(), sample_rate_hz=rate_hz))

    def _write(self, record: Record) -> None:
        value: dict[str, Any] = asdict(record)
        write_json(self.directory / RECORD_NAME, value)

    def _prune(self, *keep: Installed | None) -> None:
        kept = {k.file_name for k in keep if k is not None}
        for path in self.directory.glob("*.onnx"):
            if path.name not in kept:
                path.unlink(missing_ok=True)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
