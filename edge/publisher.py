"""Draining the outbox into the MQTT link: events, then usage reports, then telemetry, within the in-flight bound.

Events go first because they are few and are what a planner acts on, usage reports
(billing) next; a backlog of telemetry after an outage must not delay either. Telemetry goes oldest
first. Every message takes a token of `edge.token_bucket` (the drain rate bound),
so a long backlog drains at `max_msgs_per_s` and does not flood the broker. Rows stay in the queue until their
PUBACK (`acknowledge`); the cursors only remember what this run already handed to
the link, so nothing is sent twice by us while paho re-sends what was in flight
across a reconnect. A new run starts with fresh cursors and re-sends every row still
queued (the cloud dedupes).
"""

from __future__ import annotations

import logging

from contract.channels import Channel
from contract.clock import Clock
from contract.wire import MAX_PAYLOAD_BYTES, ChannelRef, Reading, TelemetryBatch, encode, topic_of
from edge.errors import QueueError
from edge.link import MqttLink
from edge.queue import LANE_EVENT, LANE_USAGE, EventToken, OutboundQueue, QueuedReading, ReadingsToken
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
    ) -> None:
        self._queue, self._link, self._clock = queue, link, clock
        self._bucket = bucket
        self._tenant, self._device_id = tenant, device_id
        self._channels = tuple(ChannelRef(c.name, c.unit) for c in channels)
        self._batch_max = batch_max
        self.backlogged = False  # the last drain stopped at the in-flight bound with rows left
        self._seq_cursor = 0  # highest reading seq handed to the link in this run
        self._lane_cursors = {LANE_EVENT: 0, LANE_USAGE: 0}  # highest row per message lane handed in this run

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

    def _send_one(self) -> bool:
        """Hand the link the oldest unsent event, else usage report, else telemetry batch; False if none was sent."""
        for lane, cursor in self._lane_cursors.items():
            rows = self._queue.peek_events(1, after_row=cursor, lane=lane)
            if rows:
                row = rows[0]
                if not self._link.publish_raw(row.topic, row.payload, token=EventToken(row.row_id, lane)):
                    return False
                self._lane_cursors[lane] = row.row_id
                return True
        batch = self._queue.peek_batch(self._batch_max, after_seq=self._seq_cursor)
        return bool(batch) and self._send_batch(batch)

    def is_drained(self) -> bool:
        """Nothing queued and nothing in flight."""
        return self._queue.stats().depth == 0 and self._link.inflight == 0

    def _send_batch(self, batch: tuple[QueuedReading, ...]) -> bool:
        while True:
            msg = TelemetryBatch(
                tenant=self._tenant, device_id=self._device_id, channels=self._channels,
                readings=tuple(Reading(r.seq, r.ts, r.values) for r in batch), sent_at=self._clock.time(),
            )
            payload = encode(msg)
            if len(batch) == 1 or len(payload) <= MAX_PAYLOAD_BYTES:
                break
            batch = batch[: len(batch) // 2]  # many wide readings: send fewer per message
        self._queue.note_handed(batch[-1].seq)  # before publishing: the ack may come back at once
        if not self._link.publish_raw(topic_of(msg), payload, token=ReadingsToken(batch[0].seq, batch[-1].seq)):
            return False
        self._seq_cursor = batch[-1].seq
        return True


def acknowledge(queue: OutboundQueue, token: object) -> None:
    """The link's PUBACK callback (on its loop thread): the acknowledged rows leave the queue."""
    if not isinstance(token, ReadingsToken | EventToken):
        return  # state messages carry no rows
    try:
        queue.ack(token)
    except QueueError as exc:  # the rows stay queued and are re-sent at the next start
        log.error("event=ack_failed token=%r error=%r", token, str(exc))
