"""The declarative base every table shares, and the column conventions it maps."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

ID_LEN = 64


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: sa.JSON, list[dict[str, str]]: sa.JSON, float: sa.Double}
