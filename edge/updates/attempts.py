"""The update attempt in progress, on disk, so that a candidate that takes the agent down is not loaded again.

Before the agent loads a candidate (the sandboxed probe, then its own session) it records
`STATE_DIR/updates/attempt.json` (phase `loading`, the candidate's digest); once the
candidate runs, the phase is `probation`; the record goes when the candidate is committed,
rolled back or refused. Found at a start, the record tells what the previous run was doing
when it ended:

- `loading`: the agent died while loading the candidate (the kernel's OOM killer, a crash
  in native code, a power cut). The candidate is failed (`failed:load_crashed`): the
  previous model stays, the wish is dropped, and the digest is remembered in
  `crashed.json`, so that a re-delivery of the same manifest (the cloud re-sends a wish to
  a device out of sync) is refused at once instead of loading it again: a crash is
  recorded once, never retried in a loop;
- `probation`: the candidate was running. A power cut is no verdict on it, so it loads
  again, still on probation, and each such start is counted; after `MAX_PROBATION_STARTS`
  the candidate is failed the same way (`failed:crash_loop`): a model that crashes the
  agent while scoring would otherwise loop too.

A power cut during the few seconds of a load therefore costs that version on this device:
the cloud sees `failed:load_crashed` and must send another version (a new registration).
That is the price of never loading twice what may have killed the agent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from edge.updates.atomic_file import read_json, remove, write_json

ATTEMPT_NAME = "attempt.json"
CRASHED_NAME = "crashed.json"
MAX_PROBATION_STARTS = 3
MAX_REMEMBERED = 32  # crashed digests kept (the oldest forgotten first)
LOADING, PROBATION = "loading", "probation"


@dataclass(frozen=True)
class Attempt:
    """A candidate being loaded or on probation: its digest, `model_id@version`, and the starts during probation."""

    sha256: str
    target: str
    phase: str
    starts: int = 0


class Attempts:
    """`STATE_DIR/updates/attempt.json` and `crashed.json`."""

    def __init__(self, updates_dir: Path) -> None:
        self._path = updates_dir / ATTEMPT_NAME
        self._crashed_path = updates_dir / CRASHED_NAME

    def current(self) -> Attempt | None:
        value = read_json(self._path)
        if value is None:
            return None
        try:
            attempt = Attempt(str(value["sha256"]), str(value["target"]), str(value["phase"]), int(value["starts"]))
        except (KeyError, TypeError, ValueError):
            # Unreadable: assume the worst, a load that did not return (with no digest, nothing is remembered).
            return Attempt("", "an unknown candidate", LOADING)
        return attempt

    def record(self, attempt: Attempt) -> None:
        write_json(self._path, asdict(attempt))

    def clear(self) -> None:
        remove(self._path)

    def remember_crash(self, sha256: str) -> None:
        kept = [d for d in self.crashed() if d != sha256][-(MAX_REMEMBERED - 1):]
        write_json(self._crashed_path, {"sha256": [*kept, sha256]})

    def crashed(self) -> list[str]:
        value = (read_json(self._crashed_path) or {}).get("sha256")
        return [str(d) for d in value] if isinstance(value, list) else []
