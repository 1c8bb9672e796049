"""Draining the outbox into the MQTT link: events, then usage reports, then telemetry, within the in-flight bound.

Events go first because they are few and are what a planner acts on, usage reports
(billing) next; a backlog of telemetry after an outage must not delay either. Within
each lane, what the cloud has not confirmed in time goes first (`edge.resend`: the
broker acknowledged it but may have lost it), then what was never sent, oldest
first. Every message takes a token of `edge.token_bucket` (the drain rate bound), so
a long backlog, re-sends included, drains at `max_msgs_per_s` and does not flood the
broker.

Rows stay in the queue until the cloud confirms them (`apply_confirm`, `edge.queue`);
the PUBACK (`acknowledge`) only marks them sent and starts their confirmation timeout. The
cursors remember what this run already handed to the link, so nothing is sent twice
by us except on purpose (a re-send), while paho re-sends what was in flight across
a reconnect. A new run starts with fresh cursors and sends every row still queued
again (the cloud dedupes by install and seq, and by message id).
"""

from __future__ import annotations

import logging

from contract.channels import Channel
from contract.clock import Clock
from contract.wire import MAX_PAYLOAD_BYTES, ChannelRef, Confirm, Reading, TelemetryBatch, encode, topic_of
from edge.errors import QueueError
from edge.link import MqttLink
from edge.queue import LANE_TELEMETRY, EventToken, OutboundQueue, QueuedEvent, QueuedReading, ReadingsToken
from edge.resend import LANES, Resends
from edge.token_bucket import TokenBucket

log = logging.getLogger("edge.publisher")


class Publisher:
    """Hands queued rows to the link; call `drain()` from one thread only."""

    def __init__(
        self,
        queue: OutboundQueue,
        link: MqttLink,
        *,
        tenant: str,
        device_id: str,
        channels: tuple[Channel, ...],
        batch_max: int,
        clock: Clock,
        bucket: TokenBucket | None = None,
        resends: Resends | None = None,
    ) -> None:
        self._queue, self._link, self._clock = queue, link, clock
        self._bucket = bucket
        self._resends = resends
        self._tenant, self._device_id = tenant, device_id
        self._channels = tuple(ChannelRef(c.name, c.unit) for c in channels)
        self._batch_max = batch_max
        self.backlogged = False  # the last drain stopped at the in-flight bound with rows left
        self._seq_cursor = 0  # highest reading seq handed to the link in this run
        self._lane_cursors = {lane: 0 for lane in LANES if lane != LANE_TELEMETRY}  # highest row handed per lane

    def drain(self) -> float | None:
        """Hand the link as much as its in-flight bound and the rate take.

        Returns the seconds until the rate allows the next message when the rate was
        what stopped it (call again then), else None (wait for an ack or new rows).
        """
        self.backlogged = False
        while self._link.capacity() > 0:
            if self._bucket is not None and (wait := self._bucket.wait_s()) > 0:
                return wait
            if not self._send_one():
                return None
            if self._bucket is not None:
                self._bucket.take()
        self.backlogged = True  # the in-flight bound stopped it: the next PUBACK may send more
        return None

    def is_drained(self) -> bool:
        """Nothing kept (all confirmed by the cloud) and nothing in flight."""
        return self._queue.stats().depth == 0 and self._link.inflight == 0

    def _send_one(self) -> bool:
        """Hand the link the next message: per lane (events, usage, telemetry) an overdue re-send, else new rows."""
        for lane in LANES:
            resent = self._resend(lane)
            if resent is not None:
                return resent
            if lane == LANE_TELEMETRY:
                cursor, legacy = self._seq_cursor, self._queue.legacy_through
                # What a v1 outbox numbered goes out alone, without install (edge.queue_schema).
                batch = self._queue.peek_batch(self._batch_max, after_seq=cursor,
                                               through_seq=legacy if cursor < legacy else None, hand=True)
                return bool(batch) and self._send_batch(batch, advance=True)
            rows = self._queue.peek_events(1, after_row=self._lane_cursors[lane], lane=lane)
            if rows:
                if not self._link.publish_raw(rows[0].topic, rows[0].payload, token=EventToken(rows[0].row_id, lane)):
                    return False
                self._lane_cursors[lane] = rows[0].row_id
                return True
        return False

    def _resend(self, lane: int) -> bool | None:
        """Send again the oldest overdue token of `lane` still kept; None if there is none."""
        if self._resends is None:
            return None
        while (token := self._resends.due(lane)) is not None:
            kept = self._queue.peek_sent(token)
            if not kept:  # confirmed (or thinned) meanwhile
                self._resends.done(lane, resent=False)
                continue
            if isinstance(kept, QueuedEvent):
                sent = self._link.publish_raw(kept.topic, kept.payload, token=token)
            else:
                sent = self._send_batch(kept, advance=False)
            if sent:
                self._resends.done(lane, resent=True)
                log.debug("event=resent token=%r", token)
            return sent
        return None

    def _send_batch(self, batch: tuple[QueuedReading, ...], *, advance: bool) -> bool:
        install = self._queue.install_of(batch[0].seq)
        while True:
            msg = TelemetryBatch(
                tenant=self._tenant, device_id=self._device_id, channels=self._channels,
                readings=tuple(Reading(r.seq, r.ts, r.values) for r in batch), sent_at=self._clock.time(),
                install=install,
            )
            payload = encode(msg)
            if len(batch) == 1 or len(payload) <= MAX_PAYLOAD_BYTES:
                break
            batch = batch[: len(batch) // 2]  # many wide readings: send fewer per message
        if not self._link.publish_raw(topic_of(msg), payload, token=ReadingsToken(batch[0].seq, batch[-1].seq)):
            return False
        if advance:
            self._seq_cursor = batch[-1].seq
        return True


def acknowledge(queue: OutboundQueue, token: object, resends: Resends | None = None) -> None:
    """The link's PUBACK callback (on its loop thread): the rows are sent; their Confirm is awaited from now."""
    if not isinstance(token, ReadingsToken | EventToken):
        return  # state messages carry no rows
    try:
        queue.ack(token)
    except QueueError as exc:  # the rows stay pending and are sent again at the next start
        log.error("event=ack_failed token=%r error=%r", token, str(exc))
    if resends is not None:
        resends.note_acked(token)


def apply_confirm(queue: OutboundQueue, confirm: Confirm, resends: Resends | None = None) -> bool:
    """The link's Confirm callback (on its loop thread): the rows the cloud stored leave the outbox.

    False when nothing was applied: a Confirm of another install (logged and ignored) or
    a queue error (the rows stay, are sent again, and the cloud confirms the duplicates).
    """
    try:
        removed = queue.confirm(confirm)
    except QueueError as exc:
        log.error("event=confirm_failed message_id=%s error=%r", confirm.message_id, str(exc))
        return False
    if removed is None:
        log.warning("event=confirm_ignored message_id=%s install=%r detail=%r", confirm.message_id,
                    confirm.install, f"not this outbox's install {queue.install_id}")
        return False
    if resends is not None:
        resends.note_confirmed()
    log.debug("event=confirmed message_id=%s rows=%d", confirm.message_id, removed)
    return True
