"""The over-the-air updater: from a desired state to a running, reported model, with rollback.

The `set_desired_state` handler (`handle_command`, on the MQTT thread) only verifies the
signed manifest (`edge.updates.manifests`) and persists the wish, then wakes the updater's
thread, which downloads (the manifest's digest and size), records the attempt
(`edge.updates.attempts`), probes the candidate in a sandbox and checks it
(`edge.updates.apply`), records it as active on probation (`edge.updates.model_files`),
and swaps it in. The first `probation_windows` scores of the new model decide: all fine,
it is committed (`applied`); one failure (an error or a non-finite score), the previous
model is swapped back (`rolled_back`). A candidate whose load took the agent down is
failed at the next start (`failed:load_crashed`) and never loaded again.

Statuses in the heartbeat's health (`update_status`): downloading, verifying,
probation, applied, rolled_back, failed:<reason> (with `update_detail`), and
`update_target` (model_id@version) says which desired state they are about. A refused
command changes nothing but the status. A failed download keeps the wish and is retried
after `retry_after_s`; every other failure drops it (the cloud sees the reason and
decides), `link_refused` included: the signed link expired or was revoked, and only a
new desired state brings a new one.

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

import dataclasses
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
from edge.sandbox import SandboxLimits
from edge.updates.apply import ModelHost, prepare_candidate, with_threshold
from edge.updates.atomic_file import read_json, write_json
from edge.updates.attempts import LOADING, MAX_PROBATION_STARTS, PROBATION, Attempt, Attempts
from edge.updates.desired import ARTIFACT_URL_PARAM, MAX_SAMPLE_RATE_HZ, DesiredState, DesiredStore
from edge.updates.download import DownloadPolicy, fetch_artifact, file_sha256
from edge.updates.links import redact_url, scrub
from edge.updates.manifests import ManifestGate
from edge.updates.model_files import Installed, ModelFiles
from edge.updates.probe import EDGE_LIMITS
from edge.updates.signing_key import local_key, trusted_key

log = logging.getLogger("edge.updates")

STATUS_NAME = "status.json"
_DETAIL_CHARS = 200  # the wire allows 256 per health string


@dataclass(frozen=True)
class UpdaterConfig:
    state_dir: Path
    tenant: str  # whose manifests this agent accepts: its own tenant and device id only
    device_id: str
    signing_key_file: Path | None = None  # the pinned key (edge.updates.signing_key for the rule without one)
    signing_key_tofu: bool = False
    fallback_model: Path | None = None  # the settings' model: what a rollback of the first update returns to
    rate_hz: float = 1.0  # the settings' sample rate: the one until the cloud overrides it
    probation_windows: int = 3
    retry_after_s: float = 300.0
    download: DownloadPolicy = field(default_factory=DownloadPolicy)
    probe: SandboxLimits = EDGE_LIMITS  # what loading and scoring a candidate may cost (edge.updates.probe)


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
        self._gate = ManifestGate(config.tenant, config.device_id, self.updates_dir)
        self._attempts = Attempts(self.updates_dir)
        self._recovered = False
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
        self._recover()
        record = self._files.record()
        model = None
        if record.active is not None and self._intact(record.active):
            if record.committed:
                model = OnnxModel.load(self._files.path_of(record.active))
            else:  # restarted during probation: it still has to prove itself
                model = self._reload_on_probation(record.active)
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
        """`set_desired_state`: verify and persist (quick, on the MQTT thread); the work is the thread's."""
        params = dict(command.params)
        config = self.config
        url = str(params.get(ARTIFACT_URL_PARAM) or "")
        try:
            desired = self._gate.admit(params, lambda: trusted_key(config.signing_key_file, self.updates_dir, url,
                                                                   config.signing_key_tofu), command.message_id)
        except UpdateError as exc:
            detail = scrub(str(exc), url)
            self._set_status(f"failed:{exc.reason}", detail)  # the cloud must see why nothing happens
            log.error("event=desired_state_refused reason=%s error=%r", exc.reason, detail)
            raise
        self._desired.save(desired)
        log.info("event=desired_state model=%s counter=%d artifact=%s threshold=%s sample_rate_hz=%s",
                 desired.target or "-", desired.counter, redact_url(desired.artifact_url), desired.threshold,
                 desired.sample_rate_hz)
        self._wake.set()

    def start(self) -> None:
        self._recover()
        config = self.config
        if config.signing_key_file is None and not config.signing_key_tofu and not local_key(None, self.updates_dir):
            log.warning("event=updates_refused detail=%r", "no signing key (--signing-key-file): every desired "
                        "state from the cloud will be refused")
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
        self._target = desired.target
        try:
            self._apply(desired)
        except UpdateError as exc:
            detail = scrub(str(exc), desired.artifact_url)  # the messages are token-free already: belt and braces
            self._set_status(f"failed:{exc.reason}", detail)
            log.error("event=update_failed reason=%s error=%r", exc.reason, detail)
            if exc.reason == "download":  # kept, also when the agent is stopping: the next start resumes it
                return None if self._stop.is_set() else self.config.retry_after_s
            self._desired.clear(desired)
        except Exception as exc:  # an unexpected bug must not end the thread silently, nor retry forever
            trace = scrub("".join(traceback.format_exception(exc)), desired.artifact_url)
            log.error("event=update_crashed\n%s", trace.rstrip())  # log.exception would print the message raw
            self._set_status("failed:internal", scrub(repr(exc), desired.artifact_url))
            self._desired.clear(desired)
        return None

    def _apply(self, desired: DesiredState) -> None:
        active = self._host.active_model()
        if desired.has_model and desired.sha256 in self._attempts.crashed():
            raise UpdateError("load_crashed", f"{desired.target} took the agent down while loading before; it is not "
                                              "loaded again (send another version)")
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
        policy = self.config.download
        if desired.size_bytes > policy.max_bytes:
            raise UpdateError("too_large", f"the manifest's {desired.size_bytes} bytes exceed the "
                                           f"{policy.max_bytes}-byte cap")
        # Not a byte more than the manifest says: a server sending more is cut off, not believed.
        path = fetch_artifact(desired.artifact_url, desired.sha256, self.updates_dir, self._backoff,
                              dataclasses.replace(policy, max_bytes=desired.size_bytes), wait=self._stop.wait)
        self._set_status("verifying", "")
        self._attempts.record(Attempt(desired.sha256, desired.target, LOADING))  # a crash from here on is a verdict
        try:
            model = with_threshold(prepare_candidate(path, desired, self._host, self.config.probe), desired.threshold)
        except Exception:
            self._attempts.clear()
            raise
        installed = Installed(desired.sha256, desired.model_id, desired.model_version)
        self._files.install(path, installed)
        self._files.activate(installed, desired.threshold)
        previous = self._host.swap_model(model)
        self._attempts.record(Attempt(desired.sha256, desired.target, PROBATION))
        with self._lock:
            self._probation = _Probation(desired, previous, True, self.config.probation_windows)
        self._set_status("probation", self._apply_rate(desired))
        log.info("event=model_swapped model=%s probation_windows=%d", desired.target, self.config.probation_windows)

    def _commit(self, probation: _Probation) -> None:
        self._files.commit()
        self._attempts.clear()
        self._desired.clear(probation.desired)
        self._set_status("applied", self._detail)
        log.info("event=update_applied")

    def _roll_back(self, probation: _Probation) -> None:
        previous = probation.previous if probation.previous_known else self._previous_from_disk()
        self._host.swap_model(previous)
        self._files.revert()
        self._attempts.clear()
        self._desired.clear(probation.desired)
        self._set_status("rolled_back", "the new model failed or scored non-finite in its probation")
        back_to = f"{previous.info.id}@{previous.info.version}" if previous else "none"
        log.error("event=update_rolled_back to=%s", back_to)

    def _reload_on_probation(self, active: Installed) -> OnnxModel:
        """Load the candidate a restart interrupted the probation of, counting the start (edge.updates.attempts)."""
        attempt = self._attempts.current()
        starts = attempt.starts + 1 if attempt is not None and attempt.sha256 == active.sha256 else 1
        target = f"{active.model_id}@{active.version}"
        self._attempts.record(Attempt(active.sha256, target, LOADING, starts))
        model = OnnxModel.load(self._files.path_of(active))
        self._attempts.record(Attempt(active.sha256, target, PROBATION, starts))
        self._probation = _Probation(DesiredState(), None, False, self.config.probation_windows)
        return model

    def _recover(self) -> None:
        """At a start: fail a candidate the previous run died loading, or restarted too often on (attempts)."""
        if self._recovered:
            return
        self._recovered = True
        attempt = self._attempts.current()
        if attempt is None or (attempt.phase == PROBATION and attempt.starts < MAX_PROBATION_STARTS):
            return
        if attempt.phase == LOADING:
            reason, detail = "load_crashed", (f"the agent stopped while loading {attempt.target} (out of memory, a "
                                              "crash or a power cut); it is not loaded again: send another version")
        else:
            reason, detail = "crash_loop", (f"the agent restarted {attempt.starts} times during the probation of "
                                            f"{attempt.target}; rolled back, and it is not loaded again")
        record = self._files.record()
        if record.active is not None and record.active.sha256 == attempt.sha256 and not record.committed:
            self._files.revert()
        desired = self._desired.load()
        if desired is not None and desired.sha256 == attempt.sha256:
            self._desired.clear(desired)
        if attempt.sha256:
            self._attempts.remember_crash(attempt.sha256)
        self._attempts.clear()
        self._target = attempt.target
        self._set_status(f"failed:{reason}", detail)
        log.error("event=update_failed reason=%s target=%s detail=%r", reason, attempt.target, detail)

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
