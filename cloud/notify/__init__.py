"""Notifications: technicians told of new assignments, customers of visit windows, sent from a durable outbox.

Decisions queue messages in their own transaction (`events`); a sender on the service's
thread delivers them (`outbox`) through a `Notifier` per channel: e-mail over SMTP
(`email`) or a webhook signed with HMAC (`webhook`), to the contact point each recipient
has (`contacts`). See docs/field.md, "Notifications".
"""

from cloud.notify.events import enqueue_assignment, enqueue_visit_window
from cloud.notify.notifier import Notifier, OutgoingMessage
from cloud.notify.outbox import OutboxSender, RetryPolicy

__all__ = ["Notifier", "OutboxSender", "OutgoingMessage", "RetryPolicy", "enqueue_assignment", "enqueue_visit_window"]
