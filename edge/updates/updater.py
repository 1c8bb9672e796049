"""The over-the-air updater: from a desired state to a running, reported model, with rollback.

The `set_desired_state` handler (`handle_command`, on the MQTT thread) only validates
and persists the wish, then wakes the updater's thread, which downloads, verifies
(`edge.updates.apply`), records the new artifact as active on probation
(`edge.updates.model_files`), and swaps it in. The first `probation_windows` scores
of the new model decide: all fine, it is committed (`applied`); one failure (an
error or a non-finite score), the previous model is swapped back (`rolled_back`).

Statuses in the heartbeat's health (`update_status`): downloading, verifying,
probation, applied, rolled_back, failed:<reason> (with `update_detail`), and
`update_target` (model_id@version) says which desired state they are about. A failed
download keeps the wish and is retried after `retry_after_s`; every other failure
drops it (the cloud sees the reason and decides), `link_refused` included: the signed
link expired or was revoked, and only a new desired state brings a new one.

The artifact URL carries that link's token: it stays in `desired.json` (a restart
resumes the download), but every detail and log line here goes through
`edge.updates.links`, so the token reaches neither the logs nor the cloud's view.

A desired `sample_rate_hz` (validated by `edge.updates.desired`: at most
`MAX_SAMPLE_RATE_HZ`) is handed to the host, which samples at it from its next tick,
and persisted with the threshold override (`edge.updates.model_files`), so it wins
over the settings' rate at the next start. With a model it is applied once the model
is swapped in (a refused artifact changes nothing) and a rollback keeps it: it is
about the sensors, not the model.
"""

from __future__ import annotations

import logging
import math
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from contract.backoff import Backoff
from contract.wire import Command
from edge.errors import ModelError, UpdateError
from edge.runtime import OnnxModel
from edge.updates.apply import ModelHost, prepare_candidate, with_threshold
from edge.updates.atomic_file import read_json, write_json
from edge.updates.desired import MAX_SAMPLE_RATE_HZ, DesiredState, DesiredStore
from edge.updates.download import DownloadPolicy, fetch_artifact, file_sha256
from edge.updates.links import redact_url, scrub
from edge.updates.model_files import Installed, ModelFiles
from edge.updates.signing_key import trusted_key

log = logging.getLogger("edge.updates")

STATUS_NAME = "status.json"
_DETAIL_CHARS = 200  # the wire allows 256 per health string


@dataclass(frozen=True)
class UpdaterConfig:
    state_dir: Path
    signing_key_file: Path | None = None
    fallback_model: Path | None = None  # the settings' model: what a rollback of the first update returns to
    rate_hz: float = 1.0  # the settings' sample rate: the one until the cloud overrides it
    probation_windows: int = 3
    retry_after_s: float = 300.0
    download: DownloadPolicy = field(default_factory=DownloadPolicy)


@dataclass
class _Probation:
    desired: DesiredState
    previous: OnnxModel | None
    previous_known: bool  # False after a restart: the previous model is loaded from disk if needed
    remaining: int


class Updater:
    """Applies desired states for one agent (`host`); `start()` after the agent, `stop()` before it."""

    def __init__(self, config: UpdaterConfig, host: ModelHost, backoff: Backoff | None = None) -> None:
        self.config = config
        self._host = host
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=60.0)
        self.updates_dir = config.state_dir / "updates"
        self._desired = DesiredStore(self.updates_dir)
        self._files = ModelFiles(config.state_dir)
        self._lock = threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._probation: _Probation | None = None
        saved = read_json(self.updates_dir / STATUS_NAME) or {}
        self._status, self._detail = str(saved.get("status", "")), str(saved.get("detail", ""))
        self._target = str(saved.get("target", ""))

    # -- the agent's side -----------------------------------------------------------------

    def load_active(self) -> OnnxModel | None:
        """The model to start with: the recorded OTA artifact, else the settings' model; overrides applied."""
        record = self._files.record()
        model = None
        if record.active is not None and self._intact(record.active):
            model = OnnxModel.load(self._files.path_of(record.active))
            if not record.committed:  # restarted during probation: it still has to prove itself
                self._probation = _Probation(DesiredState(), None, False, self.config.probation_windows)
        elif self.config.fallback_model is not None:
            model = OnnxModel.load(self.config.fallback_model)
        return with_threshold(model, record.threshold) if model is not None else None

    def sample_rate(self) -> float:
        """The rate to start sampling at: the persisted override of the cloud, else the settings' rate."""
        rate = self._files.record().sample_rate_hz
        if rate is None or not (math.isfinite(rate) and 0 < rate <= MAX_SAMPLE_RATE_HZ):
            return self.config.rate_hz  # none, or edited by hand beyond what a command may set
        return rate

    def handle_command(self, command: Command) -> None:
        """`set_desired_state`: validate and persist (quick, on the MQTT thread); the work is the thread's."""
        try:
            desired = DesiredState.from_params(dict(command.params), command.message_id)
        except UpdateError as exc:
            self._set_status(f"failed:{exc.reason}", str(exc))  # the cloud must see why nothing happens
            raise
        self._desired.save(desired)
        log.info("event=desired_state model=%s@%s artifact=%s threshold=%s sample_rate_hz=%s", desired.model_id,
                 desired.model_version, redact_url(desired.artifact_url), desired.threshold, desired.sample_rate_hz)
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="updater", daemon=True)
        self._thread.start()
        self._wake.set()  # a wish persisted before a reboot resumes now

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def observe_score(self, ok: bool) -> None:
        """Each score of the running model (on the sampler thread): decides a probation."""
        with self._lock:
            probation = self._probation
            if probation is None:
                return
            probation.remaining -= 1
            if ok and probation.remaining > 0:
                return
            self._probation = None
        if ok:
            self._commit(probation)
        else:
            self._roll_back(probation)
        self._wake.set()  # a wish that arrived during the probation goes next

    def health(self) -> dict[str, str]:
        if not self._status:
            return {}
        report = {"update_status": self._status}
        if self._target:
            report["update_target"] = self._target[:_DETAIL_CHARS]
        if self._detail:
            report["update_detail"] = self._detail[:_DETAIL_CHARS]
        return report

    @property
    def status(self) -> str:
        return self._status

    # -- the updater's thread ---------------------------------------------------------------

    def _run(self) -> None:
        retry_in: float | None = None
        while not self._stop.is_set():
            self._wake.wait(retry_in)
            self._wake.clear()
            if self._stop.is_set():
                return
            desired = self._desired.load()
            if desired is None or self._probation is not None:
                retry_in = None
                continue
            retry_in = self._attempt(desired)

    def _attempt(self, desired: DesiredState) -> float | None:
        """Apply `desired`; the delay before another try (a failed download), else None."""
        self._target = f"{desired.model_id}@{desired.model_version}" if desired.has_model else ""
        try:
            self._apply(desired)
        except UpdateError as exc:
            detail = scrub(str(exc), desired.artifact_url)  # the messages are token-free already: belt and braces
            self._set_status(f"failed:{exc.reason}", detail)
            log.error("event=update_failed reason=%s error=%r", exc.reason, detail)
            if exc.reason == "download" and not self._stop.is_set():
                return self.config.retry_after_s
            self._desired.clear(desired)
        except Exception as exc:  # an unexpected bug must not end the thread silently, nor retry forever
            trace = scrub("".join(traceback.format_exception(exc)), desired.artifact_url)
            log.error("event=update_crashed\n%s", trace.rstrip())  # log.exception would print the message raw
            self._set_status("failed:internal", scrub(repr(exc), desired.artifact_url))
            self._desired.clear(desired)
        return None

    def _apply(self, desired: DesiredState) -> None:
        active = self._host.active_model()
        if desired.has_model and (active is None or active.info.sha256 != desired.sha256):
            self._install(desired)
            return
        notes = self._apply_rate(desired)
        if desired.threshold is not None and active is not None:
            with_threshold(active, desired.threshold)
            self._files.set_threshold(desired.threshold)
        elif desired.threshold is not None:
            notes = "; ".join(n for n in (notes, "threshold not applied: no model runs") if n)
        self._set_status("applied", notes)
        self._desired.clear(desired)

    def _install(self, desired: DesiredState) -> None:
        self._set_status("downloading", "")
        key = trusted_key(self.config.signing_key_file, self.updates_dir, desired.artifact_url)
        path = fetch_artifact(desired.artifact_url, desired.sha256, self.updates_dir, self._backoff,
                              self.config.download, wait=self._stop.wait)
        self._set_status("verifying", "")
        model = with_threshold(prepare_candidate(path, desired, key, self._host), desired.threshold)
        installed = Installed(desired.sha256, desired.model_id, desired.model_version)
        self._files.install(path, installed)
        self._files.activate(installed, desired.threshold)
        previous = self._host.swap_model(model)
        with self._lock:
            self._probation = _Probation(desired, previous, True, self.config.probation_windows)
        self._set_status("probation", self._apply_rate(desired))
        log.info("event=model_swapped model=%s@%s probation_windows=%d", desired.model_id, desired.model_version,
                 self.config.probation_windows)

    def _commit(self, probation: _Probation) -> None:
        self._files.commit()
        self._desired.clear(probation.desired)
        self._set_status("applied", self._detail)
        log.info("event=update_applied")

    def _roll_back(self, probation: _Probation) -> None:
        previous = probation.previous if probation.previous_known else self._previous_from_disk()
        self._host.swap_model(previous)
        self._files.revert()
        self._desired.clear(probation.desired)
        self._set_status("rolled_back", "the new model failed or scored non-finite in its probation")
        back_to = f"{previous.info.id}@{previous.info.version}" if previous else "none"
        log.error("event=update_rolled_back to=%s", back_to)

    def _previous_from_disk(self) -> OnnxModel | None:
        record = self._files.record()
        try:
            if record.previous is not None and self._intact(record.previous):
                return OnnxModel.load(self._files.path_of(record.previous))
            return OnnxModel.load(self.config.fallback_model) if self.config.fallback_model is not None else None
        except ModelError as exc:  # telemetry only is better than scoring with the failed model
            log.error("event=rollback_model_unloadable error=%r", str(exc))
            return None

    def _intact(self, installed: Installed) -> bool:
        path = self._files.path_of(installed)
        return path.is_file() and file_sha256(path) == installed.sha256

    def _apply_rate(self, desired: DesiredState) -> str:
        """Hand a desired rate to the host, then persist it; a note for `update_detail` if the host keeps its pace."""
        rate = desired.sample_rate_hz
        if rate is None:
            return ""
        if not self._host.set_sample_rate(rate):
            return f"sample_rate_hz {rate:g} not applied: the sensor keeps its own pace (a replay)"
        self._files.set_sample_rate(rate)
        log.info("event=sample_rate_applied sample_rate_hz=%g", rate)
        return ""

    def _set_status(self, status: str, detail: str) -> None:
        self._status, self._detail = status, detail
        write_json(self.updates_dir / STATUS_NAME, {"status": status, "detail": detail, "target": self._target})
        self._host.announce()
