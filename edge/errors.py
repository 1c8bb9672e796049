"""Exceptions of the edge agent.

    EdgeError
    ├── ConfigError        settings or CLI options are invalid (the message says which)
    ├── SensorError        a sensor source cannot be opened or read
    │   └── SensorExhaustedError  a finite source (a replay that does not loop) has no more readings
    ├── ModelError         a model cannot be loaded, does not fit the sensors, or fails to score
    ├── QueueError         the local durable queue cannot be opened or written
    ├── LinkError          the MQTT link cannot be configured (connection loss is retried, not raised)
    ├── UpdateError        an over-the-air update is refused or cannot complete (`reason` says why, briefly)
    └── SandboxError       sandboxed work (loading an untrusted model) refused its input or hit a limit (`limit`)
"""


class EdgeError(Exception):
    """Base of every error raised by `edge`."""


class ConfigError(EdgeError):
    """Raised when settings or CLI options are invalid."""


class SensorError(EdgeError):
    """Raised when a sensor source cannot be opened or read."""


class SensorExhaustedError(SensorError):
    """Raised by a finite source at its end (a replay with `--replay-at-eof stop`): the agent stops."""


class ModelError(EdgeError):
    """Raised when a model cannot be loaded, does not match the sensors, or fails to score."""


class QueueError(EdgeError):
    """Raised when the durable outbound queue cannot be opened or written."""


class LinkError(EdgeError):
    """Raised when the MQTT link is misconfigured."""


class UpdateError(EdgeError):
    """Raised when an over-the-air update is refused or fails; `reason` is a short code for the health report."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class SandboxError(EdgeError):
    """Raised when work in a sandboxed child refused its input, or hit a memory, CPU or time limit (`limit` True)."""

    def __init__(self, message: str, limit: bool) -> None:
        super().__init__(message)
        self.limit = limit


class MeteringError(EdgeError):
    """The usage counters cannot be read or persisted in the state directory."""
