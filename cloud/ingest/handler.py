"""From MQTT payloads to stored rows: validate each message, then write a batch of them.

A batch is written in one transaction per store (time series first, then the
relational store), so a redelivered batch is harmless: readings are keyed by
(device_id, install, seq), events by (device, message id), usage reports by (device,
install, seq) and (device, message id), and state by its timestamp. A message that
fails validation is rejected on its own, never costing the rest of its batch, and kept
as a dead letter in the same transaction (cloud.ingest.dead_lettering): once the batch
commits, everything in it is either stored or kept, and each outcome says what its
device may forget (`Outcome.held`, what the cloud confirms).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from cloud.errors import StoreError
from cloud.ingest.canonical import MessageRejectedError, canonicalise
from cloud.ingest.dead_lettering import DeadLetterBudget, DeadLetterKeeper
from cloud.ingest.failures import STORE_CONSTRAINT, is_transient
from cloud.ingest.limits import RATE_LIMITED
from cloud.ingest.peek import Held, Peek, held_of, peek, peek_message
from cloud.ingest.stats import IngestCounters
from cloud.maintenance.rules import PersistentAnomalyRule
from cloud.maintenance.urgency import DEFAULT_SECONDS_PER_CYCLE
from cloud.maintenance.work_orders import on_anomaly, on_rul_estimate, record_channel_values
from cloud.settings import DEFAULT_MAINTENANCE_HORIZON_CYCLES
from cloud.store.asset_state_log import log_state
from cloud.store.assets import apply_state, find_asset, record_channels, record_event, touch_asset
from cloud.store.database import Database
from cloud.store.events import insert_event
from cloud.store.tables import AssetRow, EventRow, WorkOrderRow
from cloud.store.timeseries import SeriesBatch, TimeSeriesStore
from cloud.store.usage import insert_usage
from contract.clock import Clock
from contract.errors import ProtocolError
from contract.wire import Command, DeviceState, Event, EventKind, Message, TelemetryBatch, Usage, decode

log = logging.getLogger(__name__)

DEFAULT_DEAD_LETTER_BUDGET = DeadLetterBudget(max_rows=10_000, max_bytes=64 * 1024 * 1024)


@dataclass(frozen=True)
class Outcome:
    """What became of one message: accepted, or rejected with a reason code and detail (and `kept` or not).

    `held`: what its device may forget once the batch is committed (None: nothing to confirm).
    """

    accepted: bool
    reason: str = ""
    detail: str = ""
    held: Held | None = None
    kept: bool = False


@dataclass(frozen=True)
class Refusal:
    """A message refused before it is read (its device is over its budget); `confirm`: tell the device it is kept."""

    reason: str
    detail: str
    confirm: bool = True


class MessageHandler:
    """Applies batches of (topic, payload) to the stores; storage failures raise `StoreError`."""

    def __init__(
        self,
        database: Database,
        timeseries: TimeSeriesStore,
        rule: PersistentAnomalyRule,
        clock: Clock,
        counters: IngestCounters,
        default_horizon_cycles: float = DEFAULT_MAINTENANCE_HORIZON_CYCLES,
        dead_letters: DeadLetterBudget = DEFAULT_DEAD_LETTER_BUDGET,
        seconds_per_cycle: float = DEFAULT_SECONDS_PER_CYCLE,
    ) -> None:
        self._db = database
        self._ts = timeseries
        self._rule = rule
        self._default_horizon = default_horizon_cycles
        self._seconds_per_cycle = seconds_per_cycle
        self._clock = clock
        self._counters = counters
        self._keeper = DeadLetterKeeper(dead_letters, clock)

    def apply(
        self, messages: Sequence[tuple[str, bytes]], refused: Mapping[int, Refusal] | None = None
    ) -> list[Outcome]:
        """Validate and store `messages` (keeping the rejected ones, and those `refused` by index, as dead letters);
        counters and logs change only once everything is committed."""
        return self._apply(messages, refused or {}, keep_rejected=True)

    def dead_letter(self, topic: str, payload: bytes, reason: str, detail: str) -> Outcome:
        """Keep one message the stores refuse (or that trips a bug) as a dead letter, in a transaction of its own.

        Raises `StoreError` only when the stores cannot take anything now (a transient failure).
        """
        def seen() -> Peek:
            try:
                return peek_message(decode(topic, payload))
            except ProtocolError:
                return peek(topic, payload)

        try:
            with self._db.session() as session:
                outcome = self._keep(session, self._clock.time(), topic, payload, Refusal(reason, detail), seen)
        except StoreError as exc:
            self._keeper.forget()
            if is_transient(exc):
                raise
            # Even the letter is refused (nothing the ingest writes should be): acknowledged, not confirmed.
            log.error("cannot keep a message on %r as a dead letter either: %s", topic[:200], exc)
            outcome = Outcome(False, reason, detail)
        except BaseException:
            self._keeper.forget()
            raise
        tally: Counter[str] = Counter()
        self._count_rejected(topic, outcome, tally, kept_or_dropped=True)
        self._counters.add(**tally)
        return outcome

    def replay(self, topic: str, payload: bytes) -> Outcome:
        """Feed a dead letter's topic and payload through again; a refusal is returned, not kept again.

        Raises `StoreError` only when the stores cannot take anything now (a transient failure).
        """
        try:
            return self._apply([(topic, payload)], {}, keep_rejected=False)[0]
        except StoreError as exc:
            if is_transient(exc):
                raise
            return Outcome(False, STORE_CONSTRAINT, str(exc))

    def stores_reachable(self) -> bool:
        return self._db.reachable() and self._ts.reachable()

    def _apply(
        self, messages: Sequence[tuple[str, bytes]], refused: Mapping[int, Refusal], keep_rejected: bool
    ) -> list[Outcome]:
        try:
            with self._db.session() as session:
                batch = _Batch(session, self._clock.time(), keep_rejected)
                outcomes = [self._apply_one(batch, topic, payload, refused.get(index))
                            for index, (topic, payload) in enumerate(messages)]
                stored = self._ts.write_many(batch.staged)
                # After the readings are written, so an order sees the values of the same batch.
                for order, asset in batch.proposed:
                    window = order.evidence["window"]
                    means = self._window_means(asset.device_id, window["start"], window["end"])
                    record_channel_values(order, asset, means)
        except BaseException:
            self._keeper.forget()
            raise
        offered = sum(len(series.readings) for series in batch.staged)
        batch.tally.update(readings_stored=sum(stored), duplicate_readings=offered - sum(stored))
        for (topic, _), outcome in zip(messages, outcomes, strict=True):
            self._count_rejected(topic, outcome, batch.tally, kept_or_dropped=keep_rejected)
        self._counters.add(**batch.tally)
        return outcomes

    def _apply_one(self, batch: _Batch, topic: str, payload: bytes, refusal: Refusal | None) -> Outcome:
        def unread() -> Peek:
            return peek(topic, payload)

        if refusal is not None:
            return self._reject(batch, topic, payload, refusal, unread)
        try:
            message = decode(topic, payload)
        except ProtocolError as exc:
            return self._reject(batch, topic, payload, Refusal("malformed", str(exc)), unread)
        try:
            self._store(batch, message)
        except MessageRejectedError as exc:
            return self._reject(batch, topic, payload, Refusal(exc.reason, str(exc)), lambda: peek_message(message))
        batch.tally["accepted"] += 1
        return Outcome(True, held=held_of(message))

    def _reject(
        self, batch: _Batch, topic: str, payload: bytes, refusal: Refusal, seen: Callable[[], Peek]
    ) -> Outcome:
        if not batch.keep_rejected:
            return Outcome(False, refusal.reason, refusal.detail)
        return self._keep(batch.session, batch.now, topic, payload, refusal, seen)

    def _keep(
        self, session: Session, now: float, topic: str, payload: bytes, refusal: Refusal, seen: Callable[[], Peek]
    ) -> Outcome:
        read = self._keeper.keep(session, topic, payload, refusal.reason, refusal.detail, seen, now)
        held = read.held if read is not None and refusal.confirm else None
        return Outcome(False, refusal.reason, refusal.detail, held=held, kept=read is not None)

    def _count_rejected(self, topic: str, outcome: Outcome, tally: Counter[str], kept_or_dropped: bool) -> None:
        """Count and log a rejection (`kept_or_dropped` False: a replay's, whose letter was counted already)."""
        if outcome.accepted:
            return
        # A device over its budget is logged once by cloud.ingest.limits, not once per message of its flood.
        level = logging.DEBUG if outcome.reason == RATE_LIMITED else logging.WARNING
        log.log(level, "rejected a message on %r: %s: %s", topic[:200], outcome.reason, outcome.detail[:500])
        if not kept_or_dropped:
            return
        self._counters.reject(outcome.reason)
        tally["dead_lettered" if outcome.kept else "dead_letters_dropped"] += 1

    def _store(self, batch: _Batch, message: Message) -> None:
        # Every check comes before the first change, so a rejected message leaves nothing behind.
        if isinstance(message, TelemetryBatch):
            known = batch.known_asset(message)
            telemetry = canonicalise(batch.session, message, known)
            asset = batch.touch(message)
            asset.asset_kind = asset.asset_kind or telemetry.asset_kind
            record_channels(asset, telemetry.channels)
            batch.staged.append(
                SeriesBatch(message.device_id, telemetry.channel_names, telemetry.readings, message.install)
            )
        elif isinstance(message, DeviceState):
            batch.known_asset(message)
            apply_state(batch.touch(message), message)
            # The whole online/offline history, for SLA downtime (cloud.billing.downtime), not only the newest.
            log_state(batch.session, message, received_at=batch.now)
        elif isinstance(message, Event):
            batch.known_asset(message)
            self._store_event(batch, batch.touch(message), message)
        elif isinstance(message, Usage):
            batch.known_asset(message)
            batch.touch(message)
            stored = insert_usage(batch.session, message, received_at=batch.now)
            batch.tally["usage_stored" if stored else "duplicate_usage"] += 1
        else:
            raise MessageRejectedError("unexpected_type", f"a {type(message).__name__} is not for the cloud")

    def _store_event(self, batch: _Batch, asset: AssetRow, event: Event) -> None:
        """Store the event and run its rule on it: the RUL rule for RUL estimates, else the anomaly rule."""
        row = insert_event(batch.session, event, received_at=batch.now)
        if row is None:
            batch.tally["duplicate_events"] += 1
            return
        batch.tally["events_stored"] += 1
        record_event(asset, event)
        if event.kind is EventKind.RUL:
            self._judge_rul(batch, asset, row)
            return
        if not event.is_anomaly:
            return
        outcome = on_anomaly(batch.session, self._rule, row, asset, batch.now)
        if outcome.proposed is not None:
            batch.tally["work_orders_opened"] += 1
            batch.proposed.append((outcome.proposed, asset))
            log.info("proposed work order %d for %s: %s", outcome.proposed.id, asset.device_id, outcome.decision.reason)

    def _judge_rul(self, batch: _Batch, asset: AssetRow, row: EventRow) -> None:
        outcome = on_rul_estimate(batch.session, self._default_horizon, row, asset, batch.now,
                                  seconds_per_cycle=self._seconds_per_cycle)
        if outcome is not None and outcome.proposed is not None:
            batch.tally["work_orders_opened"] += 1
            log.info("proposed work order %d for %s: %s", outcome.proposed.id, asset.device_id, outcome.decision.reason)

    def _window_means(self, device_id: str, start: float, end: float) -> Mapping[str, float]:
        """Mean per channel of the stored readings in [start, end] (the evidence's measured values)."""
        series = self._ts.query(device_id, start, max(end, start) + 1e-3, max(end - start, 0.0) + 1e-3)
        if series.buckets.means.shape[0] == 0:
            return {}
        return {name: float(series.buckets.means[0, i]) for i, name in enumerate(series.channels)}


@dataclass
class _Batch:
    """One transaction's work: its session and time, readings to write, orders proposed, tallies.

    `keep_rejected`: rejected messages become dead letters (False for a replay, whose letter is kept already).
    """

    session: Session
    now: float
    keep_rejected: bool = True
    staged: list[SeriesBatch] = field(default_factory=list)
    proposed: list[tuple[WorkOrderRow, AssetRow]] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)
    # Strong references: the session only holds clean objects weakly, and reloading per message is slow.
    assets: dict[str, AssetRow] = field(default_factory=dict)

    def known_asset(self, message: TelemetryBatch | DeviceState | Event | Command | Usage) -> AssetRow | None:
        """The message's asset if known; `MessageRejectedError` if that device id belongs to another tenant."""
        asset = self.assets.get(message.device_id) or find_asset(self.session, message.device_id)
        if asset is None:
            return None
        self.assets[message.device_id] = asset
        if asset.tenant != message.tenant:
            owner = f"device {message.device_id!r} belongs to tenant {asset.tenant!r}"
            raise MessageRejectedError("tenant_mismatch", f"{owner}, not {message.tenant!r}")
        return asset

    def touch(self, message: TelemetryBatch | DeviceState | Event | Usage) -> AssetRow:
        """The message's asset (created on first sight), marked as heard from now."""
        asset = touch_asset(self.session, message.tenant, message.device_id, self.now)
        self.assets[message.device_id] = asset
        return asset
