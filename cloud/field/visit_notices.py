"""Who is told of a committed visit: the technician of the assignment, the customer of the visit window.

The one seam between dispatch and notifications: both are enqueued in the commit's transaction
(cloud.notify's durable outbox sends them later, retried, never twice), so a plan is never
committed without its notices nor a notice sent for a plan that was rolled back.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.field.sites import site_of
from cloud.notify.events import enqueue_assignment, enqueue_visit_window
from cloud.store.tables import AssetRow, ContractRow, WorkOrderRow


def tell_assignment(session: Session, order: WorkOrderRow, why: str, now: float) -> None:
    """Enqueue the technician's assignment notice (with `why` this technician) and, when the asset is under a
    customer's contract, the customer's visit-window notice."""
    if order.technician_id is None or order.planned_start is None or order.planned_end is None:
        return
    asset = session.get(AssetRow, order.device_id)
    site = None if asset is None else site_of(asset)
    enqueue_assignment(session, tenant=order.tenant, technician_id=order.technician_id, order_id=order.id,
                       device_id=order.device_id, window_start=order.planned_start, window_end=order.planned_end,
                       site=None if site is None else site.name, now=now, reason=why)
    contract = session.get(ContractRow, order.device_id)
    if contract is not None and contract.customer_id is not None:
        enqueue_visit_window(session, tenant=order.tenant, customer_id=contract.customer_id, order_id=order.id,
                             device_id=order.device_id, window_start=order.planned_start,
                             window_end=order.planned_end, now=now)
