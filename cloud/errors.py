"""Exceptions of the cloud service.

    CloudError
    ├── ConfigError        settings are missing or invalid (the message says which)
    ├── BrokerError        the MQTT broker cannot be started or reached
    ├── StoreError         the database or time-series store failed (driver errors translated)
    ├── NotFoundError      an asset, event, work order or model does not exist
    ├── ConflictError      the request contradicts what is stored (e.g. a model version with other bytes)
    ├── InvalidArtifactError  an uploaded model artifact cannot be loaded or its metadata is incomplete
    ├── CalibrationError   a detector cannot be fitted from an asset's stored readings (too few, unknown kind)
    └── InvalidDesiredStateError  a desired state or rollout does not fit its devices (wrong kind, channels, plan)
"""


class CloudError(Exception):
    """Base of every error raised by `cloud`."""


class ConfigError(CloudError):
    """Raised when settings are missing or invalid."""


class BrokerError(CloudError):
    """Raised when an MQTT broker cannot be started or reached."""


class StoreError(CloudError):
    """Raised when the relational or time-series store fails."""


class NotFoundError(CloudError):
    """Raised when a requested entity does not exist."""


class ConflictError(CloudError):
    """Raised when a request contradicts what is stored (stored versions are immutable)."""


class InvalidArtifactError(CloudError):
    """Raised when a model artifact is refused; the message says why."""


class CalibrationError(CloudError):
    """Raised when an asset's stored readings cannot calibrate a detector; the message says why."""


class InvalidDesiredStateError(CloudError):
    """Raised when a desired state or rollout cannot apply to its devices; the message says why."""
