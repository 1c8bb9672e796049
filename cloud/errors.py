"""Exceptions of the cloud service.

    CloudError
    ├── ConfigError        settings are missing or invalid (the message says which)
    ├── BrokerError        the MQTT broker cannot be started or reached
    ├── StoreError         the database or time-series store failed (driver errors translated)
    ├── NotFoundError      an asset, event, work order or model does not exist
    ├── ConflictError      the request contradicts what is stored (e.g. a model version with other bytes)
    │   └── TransitionError  a work order cannot make that move from its status (HTTP 409)
    ├── InvalidWorkOrderError  a work-order request is incomplete or inconsistent (no reason, a bad window) (HTTP 422)
    ├── InvalidArtifactError  an uploaded model artifact cannot be loaded or its metadata is incomplete
    ├── CalibrationError   a detector cannot be fitted from an asset's stored readings (too few, unknown kind)
    ├── InvalidDesiredStateError  a desired state or rollout does not fit its devices (wrong kind, channels, plan)
    ├── AuthenticationError  no credential, or one that is wrong, expired or revoked (HTTP 401)
    ├── PermissionDeniedError  the caller's role may not do this (HTTP 403)
    ├── RetryLaterError    refused for now; `retry_after_s` says when to try again (HTTP 429, Retry-After)
    │   ├── TooManyAttemptsError  too many failed sign-ins for a username or from a client
    │   └── BusyError      every slot for this kind of work is taken (model uploads being checked)
    ├── ScopeRequiredError  a platform administrator must name the tenant a new object belongs to (HTTP 422)
    ├── InvalidAccountError  a user, API key, customer or technician cannot be created as asked (HTTP 422)
    ├── InvalidProfileError  a device profile is malformed (a channel name, unit, label) (HTTP 422)
    ├── DeliveryError      a notification was not accepted by the mail server or webhook receiver (retried)
    ├── InvalidFieldDataError  a technician's hours, time zone, home or absence, or a site, is invalid (HTTP 422)
    ├── InvalidContractError  a service contract, plan version, asset cover or billing period is invalid (HTTP 422)
    ├── InvalidHelpRequestError  a help request names no customer, or its `about` is malformed (HTTP 422)
    └── SchemaError        the database's schema is older or newer than this release (the message says what to run)
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


class TransitionError(ConflictError):
    """Raised when a work order cannot move from its status by the requested action; the message says both."""


class InvalidWorkOrderError(CloudError):
    """Raised when a work-order request lacks what its action needs (a reason, a technician, a valid window)."""


class InvalidArtifactError(CloudError):
    """Raised when a model artifact is refused; the message says why."""


class CalibrationError(CloudError):
    """Raised when an asset's stored readings cannot calibrate a detector; the message says why."""


class InvalidDesiredStateError(CloudError):
    """Raised when a desired state or rollout cannot apply to its devices; the message says why."""


class AuthenticationError(CloudError):
    """Raised when a request carries no credential, or one that is wrong, expired or revoked."""


class PermissionDeniedError(CloudError):
    """Raised when the caller is known but its role does not allow the action."""


class RetryLaterError(CloudError):
    """Raised when a request is refused for now; `retry_after_s` says when trying again may succeed."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooManyAttemptsError(RetryLaterError):
    """Raised when sign-ins for a username or from a client failed too often recently."""


class BusyError(RetryLaterError):
    """Raised when every slot for a bounded kind of work is taken (a caller's fault it is not)."""


class ScopeRequiredError(CloudError):
    """Raised when a platform administrator creates something without naming its tenant."""


class InvalidAccountError(CloudError):
    """Raised when an account or directory entry cannot be created as asked; the message says why."""


class InvalidProfileError(CloudError):
    """Raised when a device profile cannot be registered as written; the message says which field and why."""


class InvalidFieldDataError(CloudError):
    """Raised when field-service data (working hours, a time zone, a location, an absence) is invalid."""


class InvalidContractError(CloudError):
    """Raised when a service contract, plan version, asset cover or billing period is invalid; the message says why."""


class InvalidHelpRequestError(CloudError):
    """Raised when a help request cannot be opened as asked (whose it is, what it is about); the message says why."""


class SchemaError(CloudError):
    """Raised when the database schema does not match this release; the message names the command to run."""


class DeliveryError(CloudError):
    """Raised when a notifier's server or receiver did not accept a message; `permanent` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
