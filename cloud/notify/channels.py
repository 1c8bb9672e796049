"""The service's notifiers and outbox sender, made from its settings."""

from __future__ import annotations

import random

from cloud.notify.email import EmailNotifier, SmtpConfig
from cloud.notify.notifier import Notifier
from cloud.notify.outbox import OutboxSender, RetryPolicy
from cloud.notify.texts import TextContext
from cloud.notify.webhook import WebhookNotifier
from cloud.settings import CloudSettings, Environment
from cloud.store.database import Database
from cloud.store.notify_tables import Channel
from contract.clock import Clock


def notifiers(settings: CloudSettings, clock: Clock) -> dict[Channel, Notifier]:
    """E-mail through the configured SMTP server; webhooks over HTTPS to public addresses (any, in PAAS_ENV=local).

    `ConfigError` for an SMTP login without a readable password file.
    """
    return {Channel.EMAIL: EmailNotifier(SmtpConfig.from_settings(settings), clock),
            Channel.WEBHOOK: WebhookNotifier(clock, private_ok=settings.env is Environment.LOCAL)}


def outbox_sender(settings: CloudSettings, database: Database, clock: Clock, api_url: str) -> OutboxSender:
    """The sender `cloud serve` runs; links in messages point at PAAS_PUBLIC_API_URL, else at `api_url`."""
    texts = TextContext(settings.public_api_url or api_url, settings.support_contact)
    policy = RetryPolicy(settings.notify_retry_s, settings.notify_retry_max_s, settings.notify_max_attempts)
    return OutboxSender(database, clock, notifiers(settings, clock), texts, policy, random.SystemRandom(),
                        settings.notify_interval_s)
