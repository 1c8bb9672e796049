"""What the API accepts as an id, in a path, a query or a body: the stores' own limits, stated in the schema.

A row id is a positive integer up to 2**53 - 1: the stores take 64 bits (a larger one used
to surface as a 500) and every JSON parser reads up to 2**53 exactly. Tenants, devices and
models are named as on the wire (`contract.fields`: 1-64 of A-Z a-z 0-9 _ . -, starting
alphanumeric), versions likewise with `+`. An id outside these is refused as 422 before a
route runs, and a well-formed one that names nothing the caller may see is 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

from cloud.auth.secrets import KEY_ID_HEX
from contract.fields import ID_PATTERN, VERSION_PATTERN

MAX_ROW_ID = 2**53 - 1
# Text: PostgreSQL stores no NUL in a text column (it would be a 503 there, a store error).
NO_NUL = "^[^\x00]*$"
# What Python's str.isspace() calls white space (the services' own checks use it), as a regex class.
_SPACE = "\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"
NO_SPACE = f"^[^\x00{_SPACE}]+$"
NAME_PATTERN = ID_PATTERN.pattern
VERSION_NAME_PATTERN = VERSION_PATTERN.pattern
KEY_ID_PATTERN = f"^[0-9a-f]{{{KEY_ID_HEX}}}$"
_NAME_RULE = "1-64 of A-Z a-z 0-9 _ . -, starting alphanumeric"

RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a row id")]
DeviceIdPath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64, description=f"device id: {_NAME_RULE}")]
ModelIdPath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64, description=f"model id: {_NAME_RULE}")]
VersionPath = Annotated[str, Path(pattern=VERSION_NAME_PATTERN, max_length=64, description="model version")]
KeyIdPath = Annotated[str, Path(pattern=KEY_ID_PATTERN, description="the key id (the part after `paas_`)")]

DeviceQuery = Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=64, description="device id")]

# In request bodies.
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
TenantName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
ModelName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
VersionName = Annotated[str, Field(pattern=VERSION_NAME_PATTERN, max_length=64)]
DeviceName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
