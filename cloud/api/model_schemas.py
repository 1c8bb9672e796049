"""Request and response bodies of the model registry, detector fitting, contracts and field precision."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from cloud.api.params import NO_NUL, RowId, TenantName
from cloud.api.timestamps import IsoTime
from cloud.api.work_order_schemas import ApprovalPolicyIn

ModelKind = Literal["anomaly", "rul"]
FindingName = Literal["true_fault", "false_alarm"]


class ChannelSpec(BaseModel):
    name: str
    unit: str = Field(description="canonical unit the model expects its input in")


class InputSchema(BaseModel):
    channels: list[ChannelSpec] = Field(description="in the order of the input's last axis")
    window: int = Field(description="samples per scored window")
    normalisation: dict[str, object] = Field(description="as the artifact applies it inside its graph")


class ModelPublic(BaseModel):
    """A registered, immutable model version."""

    tenant: str = Field(description="whose registry it is in (each tenant has its own)")
    id: str
    version: str
    kind: ModelKind
    asset_kind: str
    device_id: str | None = Field(description="the asset it was fitted for; null for a fleet model")
    input: InputSchema
    threshold: float
    training_fingerprint: str = Field(description="sha256 of the training data (float64, little-endian)")
    metrics: dict[str, float]
    created_at: str = Field(description="when the artifact was built, as it says (ISO-8601)")
    registered_at: datetime
    registered_by: str
    size_bytes: int
    sha256: str = Field(description="of the ONNX bytes, computed by the registry")
    signature: str = Field(description="base64 Ed25519 signature of the raw sha256 digest")
    signing_key_id: str
    artifact_path: str = Field(description="where to download the bytes (supports Range requests)")


class SigningKeyPublic(BaseModel):
    """The cloud's model-signing public key: what devices verify signed manifests with (their bundle carries it)."""

    algorithm: Literal["Ed25519"]
    key_id: str
    public_key: str = Field(description="raw 32-byte public key, base64")
    public_key_pem: str = Field(description="the same key as SubjectPublicKeyInfo PEM")
    signed_message: str


class DetectorFitCreate(BaseModel):
    """Which stored readings calibrate the detector: `first_readings`, or `start` and `end`; neither: the default."""

    first_readings: int | None = Field(default=None, ge=50, le=100_000)
    start: IsoTime | None = None
    end: IsoTime | None = None

    @model_validator(mode="after")
    def _one_selection(self) -> DetectorFitCreate:
        ranged = self.start is not None or self.end is not None
        if ranged and self.first_readings is not None:
            raise ValueError("give first_readings or start/end, not both")
        if ranged and (self.start is None or self.end is None or not self.start < self.end):
            raise ValueError("give both start and end, start before end")
        return self


class CalibrationPublic(BaseModel):
    readings: int = Field(description="complete readings the detector was fitted on")
    dropped_incomplete: int
    first_seq: int
    last_seq: int
    start: datetime
    end: datetime


class DesiredStatePublic(BaseModel):
    device_id: str
    model_id: str
    model_version: str
    requested_by: str
    requested_at: datetime
    explanation: str
    artifact_url: str = Field(description="where the artifact is; the device is sent a signed, expiring link to it")
    command_published: bool = Field(description="false: stored, but the broker did not acknowledge the command")


class DetectorFitPublic(BaseModel):
    model: ModelPublic
    calibration: CalibrationPublic
    desired_state: DesiredStatePublic
    explanation: str


class ContractCreate(BaseModel):
    maintenance_horizon_cycles: float = Field(gt=0, le=1e9, description="plan maintenance at least this far ahead")
    customer: str | None = Field(default=None, max_length=256, pattern=NO_NUL,
                                 description="the customer's name as shown")
    customer_id: RowId | None = Field(default=None, description="the customer record whose users see this asset")
    tenant: TenantName | None = Field(default=None,
                                      description="platform administrators only, for an asset not seen yet")
    approval_policy: ApprovalPolicyIn | None = Field(
        default=None, description="approve this asset's proposals at once when they are this urgent and this sure")


class ContractPublic(BaseModel):
    device_id: str
    maintenance_horizon_cycles: float
    customer: str | None
    customer_id: int | None = None
    source: Literal["contract", "default"] = Field(description="default: the asset has no contract")
    updated_at: datetime | None
    approval_policy: ApprovalPolicyIn | None = None


class FieldPrecisionPublic(BaseModel):
    model_id: str
    model_version: str
    completed: int = Field(description="work orders of this version completed with a finding")
    true_faults: int
    false_alarms: int
    precision: float | None = Field(description="true faults / completed; null when none was completed")
