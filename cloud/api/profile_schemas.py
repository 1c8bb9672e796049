"""Request and response bodies of device profiles (the CLI reads the same `ProfileCreate` from a JSON file)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cloud.api.params import NAME_PATTERN, TenantName
from cloud.store.profiles import ProfileSource
from contract.channels import AssetProfile, Channel
from contract.fields import UNIT_PATTERN


class ProfileChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, max_length=64,
                      description="as the device sends it: 1-64 of A-Z a-z 0-9 _ . -")
    unit: str = Field(pattern=UNIT_PATTERN.pattern, max_length=16,
                      description="the unit readings are stored in; one that contract/units.py knows (e.g. degC) "
                                  "also accepts those it converts (degF, K)")
    label: str = Field(default="", max_length=200, description="what people read, e.g. 'Motor temperature'")


class ProfileCreate(BaseModel):
    """A kind of asset: the channels its devices send, each with its unit and label."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=NAME_PATTERN, max_length=64,
                      description="the asset kind devices report in their state, e.g. `custom`")
    channels: list[ProfileChannel] = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=1000)
    model_id: str = Field(default="", pattern=f"^$|{NAME_PATTERN}", max_length=64,
                          description="the model such assets usually run, if any")
    tenant: TenantName | None = Field(default=None, description="platform administrators only: whose")

    def to_profile(self) -> AssetProfile:
        channels = tuple(Channel(c.name, c.unit, c.label) for c in self.channels)
        return AssetProfile(self.kind, channels, self.description, self.model_id)


class ProfilePublic(BaseModel):
    """A profile: built in (every tenant's), registered by a tenant, or pending (seen on assets, not registered)."""

    kind: str
    source: ProfileSource = Field(description="builtin, registered, or pending: devices report this kind but no "
                                              "profile is registered, so their readings are stored as sent")
    tenant: str | None = Field(description="null for a built-in profile")
    description: str
    model_id: str
    channels: list[ProfileChannel] = Field(description="pending: the channels and units the devices sent")
    devices: int = Field(description="assets of this kind the caller sees")
    created_at: datetime | None
    created_by: str | None
