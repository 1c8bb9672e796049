"""Photos a technician attaches to a work order: JPEG, PNG or WebP as their bytes say, never larger than a limit.

The declared content type is not trusted: the first bytes must be those of the declared
format (a PNG sent as image/jpeg, or an HTML page sent as image/png, is refused), so what
is served back with that content type is what it says. The bytes live in the relational
store beside the order (deferred: listing attachments does not load them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change, record
from cloud.auth.principal import Principal
from cloud.errors import InvalidWorkOrderError, NotFoundError, TransitionError
from cloud.maintenance.status import WorkOrderStatus
from cloud.store.tables import AttachmentRow, WorkOrderRow

PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
# A photo is taken on site: while the order is being worked (or right after, before leaving).
_ATTACHABLE = (WorkOrderStatus.ACCEPTED, WorkOrderStatus.IN_PROGRESS, WorkOrderStatus.DONE)


def sniff(content: bytes) -> str | None:
    """The photo type the bytes begin with, or None when they are none of JPEG, PNG, WebP."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def attach_photo(session: Session, order: WorkOrderRow, actor: Principal, declared_type: str, content: bytes,
                 now: float, client: str = "service") -> AttachmentRow:
    """Store a photo on the order (the caller checked the size), with an audit entry."""
    if WorkOrderStatus(order.status) not in _ATTACHABLE:
        raise TransitionError(f"work order {order.id} is {order.status}; photos are attached while it is "
                              f"{' or '.join(status.value for status in _ATTACHABLE)}")
    found = sniff(content)
    if found is None or found != declared_type:
        raise InvalidWorkOrderError(f"the body is not a {declared_type} image (its bytes say "
                                    f"{found or 'none of ' + ', '.join(PHOTO_TYPES)})")
    row = AttachmentRow(work_order_id=order.id, tenant=order.tenant, content_type=found, size_bytes=len(content),
                        sha256=hashlib.sha256(content).hexdigest(), uploaded_by=actor.label[:200], uploaded_at=now,
                        content=content)
    session.add(row)
    session.flush()
    record(session, actor, client, Change("attach", "work_order", str(order.id), order.tenant, None, {
        "attachment_id": row.id, "content_type": found, "size_bytes": row.size_bytes, "sha256": row.sha256}), now)
    return row


def attachments_of(session: Session, order_id: int) -> Sequence[AttachmentRow]:
    return session.scalars(sa.select(AttachmentRow).where(AttachmentRow.work_order_id == order_id)
                           .order_by(AttachmentRow.id)).all()


def get_attachment(session: Session, order_id: int, attachment_id: int) -> AttachmentRow:
    """One attachment of an order the caller may see (it checked the order), bytes included."""
    row = session.scalars(sa.select(AttachmentRow).where(AttachmentRow.id == attachment_id,
                                                         AttachmentRow.work_order_id == order_id)
                          .options(sa.orm.undefer(AttachmentRow.content))).first()
    if row is None:
        raise NotFoundError(f"attachment {attachment_id} of work order {order_id} does not exist")
    return row
