"""The offer tables: the tenant's catalogue of what can be offered, and the offers drafted from a customer's data.

An offer is a row from the moment a rule proposes it (`draft`) and moves only forward:

    draft ──approve──> approved ──deliver──> sent ──> accepted | declined
      │                   │                   │
      ├──reject──> rejected                   │
      └───────────────────┴──consent withdrawn (before the message left)──> withdrawn

`dedupe_key` is unique (rule, customer, asset or contract, period): drafting twice adds no
second offer. Money is `Numeric`, read back as `Decimal`; `expected_value` is per month,
in `currency`, rounded half-even to the cent.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import ID_LEN, Base

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
MONEY = sa.Numeric(18, 6)  # prices per unit need more than cents (e.g. 0.0125 per cycle)


class OfferKind(StrEnum):
    """The offer types; acceptance is measured per type."""

    CHEAPER_PLAN = "cheaper_plan"  # heavy use: a plan cheaper at that use
    SMALLER_PLAN = "smaller_plan"  # under-use: a smaller plan
    EXTENDED_CARE = "extended_care"  # an asset wearing fast (RUL falling, many anomalies)
    OPERATOR_TRAINING = "operator_training"  # wear that operators can prevent
    OPERATION_ADVICE = "operation_advice"  # recurring faults caused by how it is run (e.g. cavitation)


class OfferStatus(StrEnum):
    DRAFT = "draft"  # proposed by a rule; nobody outside has seen it
    APPROVED = "approved"  # a planner approved it; to be sent
    SENT = "sent"  # queued in the notification outbox for the customer's preferred channel
    REJECTED = "rejected"  # a planner decided against it (with a reason)
    WITHDRAWN = "withdrawn"  # the consent it relied on was withdrawn before it went out
    ACCEPTED = "accepted"  # the customer accepted it
    DECLINED = "declined"  # the customer declined it


class CatalogueKind(StrEnum):
    """What a catalogue entry is: a usage plan (prices), or a service offered at a monthly fee."""

    PLAN = "plan"
    EXTENDED_CARE = "extended_care"
    OPERATOR_TRAINING = "operator_training"


OFFER_KINDS = tuple(k.value for k in OfferKind)
OFFER_STATUSES = tuple(s.value for s in OfferStatus)
CATALOGUE_KINDS = tuple(k.value for k in CatalogueKind)


class OfferPlanRow(Base):
    """One entry of a tenant's catalogue: a plan's prices, or a service's monthly fee and the saving it is expected to
    bring (the maker's own estimate, stated in `basis`, which every offer built on it quotes)."""

    __tablename__ = "offer_plans"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {CATALOGUE_KINDS!r}", name="ck_offer_plans_kind"),
        sa.UniqueConstraint("tenant", "name", name="uq_offer_plans_tenant_name"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    kind: Mapped[str] = mapped_column(sa.String(32))
    currency: Mapped[str] = mapped_column(sa.String(3))
    price_per_hour: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    price_per_cycle: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    price_per_kwh: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    monthly_minimum: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    monthly_fee: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0), doc="services: the price per month")
    expected_saving: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0), doc="services: per month, estimated")
    basis: Mapped[str] = mapped_column(sa.Text, default="", doc="where expected_saving comes from")
    created_at: Mapped[float]


class OfferRow(Base):
    """One offer to one customer: what, why (explanation and the data used), its value, and where it stands."""

    __tablename__ = "offers"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {OFFER_KINDS!r}", name="ck_offers_kind"),
        sa.CheckConstraint(f"status IN {OFFER_STATUSES!r}", name="ck_offers_status"),
        sa.Index("ix_offers_tenant_status", "tenant", "status"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(_BIGINT_ID, default=None, doc="the service contract, if one")
    device_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), default=None, doc="the asset, if about one")
    plan_id: Mapped[int | None] = mapped_column(sa.ForeignKey("offer_plans.id"), default=None, doc="what is offered")
    kind: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    explanation: Mapped[str] = mapped_column(sa.Text, doc="plain language, for the customer and the planner")
    expected_value: Mapped[Decimal] = mapped_column(sa.Numeric(18, 2), doc="per month, for the customer")
    currency: Mapped[str] = mapped_column(sa.String(3))
    data_used: Mapped[dict[str, Any]] = mapped_column(sa.JSON, doc="ids, periods and numbers the rule read")
    purposes: Mapped[list[str]] = mapped_column(sa.JSON, doc="the consents it relied on")
    created_at: Mapped[float]
    decided_by: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    decided_at: Mapped[float | None] = mapped_column(default=None)
    reason: Mapped[str | None] = mapped_column(sa.Text, default=None, doc="why rejected or withdrawn")
    sent_at: Mapped[float | None] = mapped_column(default=None, doc="queued in the outbox")
    notification_id: Mapped[int | None] = mapped_column(_BIGINT_ID, default=None)
    responded_at: Mapped[float | None] = mapped_column(default=None)
    response_note: Mapped[str | None] = mapped_column(sa.Text, default=None)
