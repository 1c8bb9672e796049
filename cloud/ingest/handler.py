"""From MQTT payloads to stored rows: validate each message, then write a batch of them.

A batch is written in one transaction per store (time series first, then the
relational store), so a redelivered batch is harmless: readings are keyed by
(device_id, seq), events by message id, usage reports by both, and state by its
timestamp. A message that fails validation is rejected on its own; it never costs
the rest of its batch.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from cloud.ingest.canonical import MessageRejectedError, canonicalise, check_asset_kind
from cloud.ingest.stats import IngestCounters
from cloud.maintenance.rules import PersistentAnomalyRule
from cloud.maintenance.work_orders import on_anomaly, on_rul_estimate, record_channel_values
from cloud.settings import DEFAULT_MAINTENANCE_HORIZON_CYCLES
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


@dataclass(frozen=True)
class Outcome:
    """What became of one message: accepted, or rejected with a reason code and detail."""

    accepted: bool
    reason: str = ""
    detail: str = ""


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
    ) -> None:
        self._db = database
        self._ts = timeseries
        self._rule = rule
        self._default_horizon = default_horizon_cycles
        self._clock = clock
        self._counters = counters

    def apply(self, messages: Sequence[tuple[str, bytes]]) -> list[Outcome]:
        """Validate and store `messages`; counters and logs change only once everything is committed."""
        with self._db.session() as session:
            batch = _Batch(session, self._clock.time())
            outcomes = [self._apply_one(batch, topic, payload) for topic, payload in messages]
            stored = self._ts.write_many(batch.staged)
            # After the readings are written, so an order sees the values of the same batch.
            for order, asset in batch.proposed:
                window = order.evidence["window"]
                record_channel_values(order, asset, self._window_means(asset.device_id, window["start"], window["end"]))
        offered = sum(len(series.readings) for series in batch.staged)
        batch.tally.update(readings_stored=sum(stored), duplicate_readings=offered - sum(stored))
        self._counters.add(**batch.tally)
        for (topic, _), outcome in zip(messages, outcomes, strict=True):
            if not outcome.accepted:
                self._counters.reject(outcome.reason)
                log.warning("rejected a message on %r: %s: %s", topic[:200], outcome.reason, outcome.detail[:500])
        return outcomes

    def reject_unstorable(self, topic: str, detail: str, reason: str = "store_error") -> None:
        """Count and log a message that fails to store while the stores work (a poison message)."""
        self._counters.reject(reason)
        log.error("rejected a message on %r that cannot be stored: %s", topic[:200], detail[:500])

    def stores_reachable(self) -> bool:
        return self._db.reachable() and self._ts.reachable()

    def _apply_one(self, batch: _Batch, topic: str, payload: bytes) -> Outcome:
        try:
            self._store(batch, decode(topic, payload))
        except MessageRejectedError as exc:
            return Outcome(False, exc.reason, str(exc))
        except ProtocolError as exc:
            return Outcome(False, "malformed", str(exc))
        batch.tally["accepted"] += 1
        return Outcome(True)

    def _store(self, batch: _Batch, message: Message) -> None:
        # Every check comes before the first change, so a rejected message leaves nothing behind.
        if isinstance(message, TelemetryBatch):
            known = batch.known_asset(message)
            telemetry = canonicalise(message, "" if known is None else known.asset_kind)
            asset = batch.touch(message)
            asset.asset_kind = asset.asset_kind or telemetry.asset_kind
            record_channels(asset, telemetry.channels)
            batch.staged.append(SeriesBatch(message.device_id, telemetry.channel_names, telemetry.readings))
        elif isinstance(message, DeviceState):
            check_asset_kind(message.asset_kind)
            batch.known_asset(message)
            apply_state(batch.touch(message), message)
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
        outcome = on_rul_estimate(batch.session, self._default_horizon, row, asset, batch.now)
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
    """One transaction's work: its session and time, readings to write, orders proposed, tallies."""

    session: Session
    now: float
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
