"""Exceptions of the cloud service.

    CloudError
    ├── ConfigError        settings are missing or invalid (the message says which)
    ├── BrokerError        the MQTT broker cannot be started or reached
    ├── StoreError         the database or time-series store failed (driver errors translated)
    └── NotFoundError      an asset, event or work order does not exist
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
