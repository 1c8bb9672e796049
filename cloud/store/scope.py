"""Which rows a caller may see: one tenant's (or every tenant's, for a platform administrator), and within it
possibly one customer's assets.

Every read and write of tenant-owned rows goes through a `Scope`; a row outside it is
reported as missing (`NotFoundError`, a 404), never as forbidden, so ids don't leak.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from cloud.store.contract_tables import ContractAssetRow, ServiceContractRow
from cloud.store.tables import AssetRow, ContractRow


@dataclass(frozen=True)
class Scope:
    """`tenant` None: every tenant. `customer_id` set: only the assets under that customer's contracts."""

    tenant: str | None
    customer_id: int | None = None

    @classmethod
    def everything(cls) -> Scope:
        """For the service itself (ingest, rollout ticker) and platform administrators."""
        return cls(None)

    def owns(self, tenant: str | None) -> bool:
        """Whether a row of `tenant` is within this scope's tenant."""
        return self.tenant is None or tenant == self.tenant

    def tenant_clause(
        self, column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None]
    ) -> sa.ColumnElement[bool]:
        return sa.true() if self.tenant is None else column == self.tenant

    def rows_clause(
        self, tenant: InstrumentedAttribute[str], device: InstrumentedAttribute[str]
    ) -> sa.ColumnElement[bool]:
        """Rows of a device-owned table (events, work orders, usage) within the scope: by tenant, and for a
        customer only those of its own assets."""
        clause = self.tenant_clause(tenant)
        if self.customer_id is not None:
            clause = sa.and_(clause, device.in_(self.customer_devices()))
        return clause

    def asset_clause(self) -> sa.ColumnElement[bool]:
        """Asset rows within the scope."""
        clause = self.tenant_clause(AssetRow.tenant)
        if self.customer_id is not None:
            clause = sa.and_(clause, AssetRow.device_id.in_(self.customer_devices()))
        return clause

    def customer_devices(self) -> sa.CompoundSelect[str]:
        """The devices of the customer's assets: named by a per-asset contract, or ever under one of its service
        contracts (its statements link to their readings, also for an asset since moved to another contract)."""
        per_asset = sa.select(ContractRow.device_id).where(ContractRow.customer_id == self.customer_id)
        serviced = (sa.select(ContractAssetRow.device_id)
                    .join(ServiceContractRow, ServiceContractRow.id == ContractAssetRow.contract_id)
                    .where(ServiceContractRow.customer_id == self.customer_id))
        return sa.union(per_asset, serviced)

    def sees_asset(self, session: Session, asset: AssetRow) -> bool:
        if not self.owns(asset.tenant):
            return False
        return self.customer_id is None or asset.device_id in set(session.scalars(self.customer_devices()))
