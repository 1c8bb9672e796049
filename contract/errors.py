"""Exceptions of the shared contract.

    ContractError
    ├── ProtocolError      a message breaks the wire protocol (the reason says how)
    └── UnitError          a unit is unknown or not convertible to the canonical one
"""


class ContractError(Exception):
    """Base of every error raised by `contract`."""


class ProtocolError(ContractError):
    """Raised when a topic or payload does not follow wire protocol v1."""


class UnitError(ContractError):
    """Raised when a unit cannot be converted to its quantity's canonical unit."""
