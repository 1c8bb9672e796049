"""What notifications say: the templates, and the facts each kind fills them with.

The outbox keeps facts (asset, site, window, why), not finished text: the text is made
when the message is sent, from these templates, so a wording fix reaches messages still
waiting. Times are shown in UTC and say so; a technician's or customer's own time zone
is not known here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from string import Template
from typing import Any

from cloud.store.notify_tables import NotificationKind

ASSIGNMENT_SUBJECT = Template("New task: $device_id at $site, $window")
ASSIGNMENT_TEXT = Template("""\
Hello $name,

you have a new maintenance task.

  Asset:  $device_id
  Site:   $site
  When:   $window
  Why:    $reason

Please accept or decline it in your task list:
$tasks_url

The task there has the evidence: the sensors, the model's reading and how long the asset
is expected to last.
""")
VISIT_SUBJECT = Template("Maintenance visit for $device_id: $window")
VISIT_TEXT = Template("""\
Hello $name,

a technician will come to service $device_id:

  $window

You need not do anything. If this time does not suit you, or you have a question,
please contact $support.

$human
""")
HELP_ANSWER_SUBJECT = Template("A person answered your request #$request_id")
HELP_ANSWER_TEXT = Template("""\
Hello $name,

$answered_by answered your request #$request_id:

$answer

You find the whole conversation at:
$request_url

$human
""")
OFFER_SUBJECT = Template("An offer for you: $title")
OFFER_TEXT = Template("""\
Hello $name,

$title

$explanation

What it is worth to you: $value per month (our estimate, explained above).

To accept or decline it:
$offer_url

$human
""")
# On every customer text: a customer can always ask for a person (docs/billing.md, "Always a human").
HUMAN_TEXT = Template("To talk to a person about this, ask at $help_url (or reply to $support).")
NO_REASON = "predictive maintenance"
NO_SITE = "the asset's site"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    payload: dict[str, Any]  # the webhook body


@dataclass(frozen=True)
class TextContext:
    """What the texts need from the service: where the API is reached, how a customer reaches a person."""

    public_api_url: str
    support_contact: str

    @property
    def tasks_url(self) -> str:
        return f"{self.public_api_url.rstrip('/')}/api/v1/me/tasks"

    @property
    def help_url(self) -> str:
        """Where a customer asks for a person (`POST`) and reads the answers (`GET`)."""
        return f"{self.public_api_url.rstrip('/')}/api/v1/help-requests"

    def human_line(self) -> str:
        """The line every customer text ends with: how to reach a person."""
        return HUMAN_TEXT.substitute(help_url=self.help_url, support=self.support_contact)


def render(kind: NotificationKind, facts: Mapping[str, Any], delivery_id: str, context: TextContext) -> Rendered:
    """The subject, text and webhook body of a notification of `kind` about `facts`."""
    if kind is NotificationKind.HELP_ANSWER:
        return _help_answer(facts, delivery_id, context)
    if kind is NotificationKind.OFFER:
        return _offer(facts, delivery_id, context)
    window = window_text(float(facts["window_start"]), float(facts["window_end"]))
    values = {
        "name": facts.get("name") or "there", "device_id": facts["device_id"], "window": window,
        "site": facts.get("site") or NO_SITE, "reason": facts.get("reason") or NO_REASON,
        "tasks_url": context.tasks_url, "support": context.support_contact, "human": context.human_line(),
    }
    payload = {
        "event": kind.value, "delivery_id": delivery_id, "order_id": facts.get("order_id"),
        "device_id": facts["device_id"], "window_start": _iso(float(facts["window_start"])),
        "window_end": _iso(float(facts["window_end"])),
    }
    if kind is NotificationKind.ASSIGNMENT:
        return Rendered(_line(ASSIGNMENT_SUBJECT.substitute(values)), ASSIGNMENT_TEXT.substitute(values),
                        {**payload, "site": facts.get("site"), "tasks_url": context.tasks_url})
    return Rendered(_line(VISIT_SUBJECT.substitute(values)), VISIT_TEXT.substitute(values),
                    {**payload, "support_contact": context.support_contact})


def _help_answer(facts: Mapping[str, Any], delivery_id: str, context: TextContext) -> Rendered:
    request_url = f"{context.help_url}/{facts['request_id']}"
    values = {"name": facts.get("name") or "there", "request_id": facts["request_id"],
              "answered_by": facts.get("answered_by") or "A person", "answer": facts.get("answer", ""),
              "request_url": request_url, "human": context.human_line()}
    payload = {"event": NotificationKind.HELP_ANSWER.value, "delivery_id": delivery_id,
               "request_id": facts["request_id"], "answer": facts.get("answer", ""), "request_url": request_url,
               "help_url": context.help_url}
    return Rendered(_line(HELP_ANSWER_SUBJECT.substitute(values)), HELP_ANSWER_TEXT.substitute(values), payload)


def _offer(facts: Mapping[str, Any], delivery_id: str, context: TextContext) -> Rendered:
    offer_url = f"{context.public_api_url.rstrip('/')}/api/v1/offers/{facts['offer_id']}"
    value = f"{facts['expected_value']} {facts['currency']}"
    values = {"name": facts.get("name") or "there", "title": facts["title"], "explanation": facts["explanation"],
              "value": value, "offer_url": offer_url, "human": context.human_line()}
    payload = {"event": NotificationKind.OFFER.value, "delivery_id": delivery_id, "offer_id": facts["offer_id"],
               "title": facts["title"], "explanation": facts["explanation"],
               "expected_value": str(facts["expected_value"]), "currency": facts["currency"],
               "offer_url": offer_url, "help_url": context.help_url}
    return Rendered(_line(OFFER_SUBJECT.substitute(values)), OFFER_TEXT.substitute(values), payload)


def window_text(start: float, end: float) -> str:
    """E.g. `Tue 1 Dec 2026, 08:00-10:00 UTC`; a window over midnight names both days."""
    first, last = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    day = f"{first:%a} {first.day} {first:%b %Y}"
    if first.date() == last.date():
        return f"{day}, {first:%H:%M}-{last:%H:%M} UTC"
    return f"{day} {first:%H:%M} - {last:%a} {last.day} {last:%b %Y} {last:%H:%M} UTC"


def _line(text: str) -> str:
    """One line of at most 200 characters: a subject is a mail header, where a line break would start another."""
    return " ".join(text.split())[:200]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
