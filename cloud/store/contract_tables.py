"""Service contracts with customers: the contract, its plan versions, the assets it covers, the customer's details.

A contract's plan changes only by a new version that applies from a date (never by editing an
old one), so a period already billed keeps the terms it was billed under. Which assets a
contract covers is a history too (`from_ts`, `to_ts`): an asset moved to another contract bills
to each for its own time. Prices live in the version's `terms` JSON (decimals as strings, see
cloud.billing.plans), so adding a plan field needs no migration.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import ID_LEN, Base

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class ServiceContractRow(Base):
    """A contract between the maker (tenant) and one customer: machines by the hour, maintenance included."""

    __tablename__ = "service_contracts"

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    starts_on: Mapped[dt.date] = mapped_column(sa.Date)
    ends_on: Mapped[dt.date | None] = mapped_column(sa.Date, default=None, doc="NULL: open-ended")
    created_at: Mapped[float]


class ContractVersionRow(Base):
    """One version of a contract's plan, in force from `effective_from` (UTC date) until the next version's."""

    __tablename__ = "contract_versions"
    __table_args__ = (
        sa.UniqueConstraint("contract_id", "version", name="uq_contract_versions_contract_version"),
        sa.UniqueConstraint("contract_id", "effective_from", name="uq_contract_versions_contract_effective"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("service_contracts.id"))
    version: Mapped[int]
    effective_from: Mapped[dt.date] = mapped_column(sa.Date)
    terms: Mapped[dict[str, Any]] = mapped_column(doc="cloud.billing.plans.PlanTerms, decimals as strings")
    created_at: Mapped[float]
    created_by: Mapped[str] = mapped_column(sa.String(200))


class ContractAssetRow(Base):
    """An asset under a contract from `from_ts` (inclusive) to `to_ts` (exclusive; NULL: still under it)."""

    __tablename__ = "contract_assets"
    __table_args__ = (
        sa.Index("ix_contract_assets_contract", "contract_id", "from_ts"),
        sa.Index("ix_contract_assets_device", "device_id", "from_ts"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("service_contracts.id"))
    # No foreign key to assets: a contract may cover a machine before its device first reports.
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    from_ts: Mapped[float]
    to_ts: Mapped[float | None] = mapped_column(default=None)


class CustomerDetailsRow(Base):
    """What a customer record holds beyond its name: language and contacts (the preferred channel is the
    customer's preferred contact point in cloud.notify, not repeated here)."""

    __tablename__ = "customer_details"

    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), primary_key=True)
    language: Mapped[str] = mapped_column(sa.String(35), default="en", server_default="en", doc="BCP 47 tag")
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(
        sa.JSON, default=list, doc="[{name, email, phone, role}]"
    )
    updated_at: Mapped[float]
