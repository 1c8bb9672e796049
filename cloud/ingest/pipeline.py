"""The ingest assembled: MQTT subscriber -> worker -> handler -> stores, acknowledged after commit, then confirmed."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cloud.ingest.confirmations import confirmations
from cloud.ingest.dead_lettering import DeadLetterBudget
from cloud.ingest.handler import MessageHandler, Outcome
from cloud.ingest.limits import DeviceBudget, DeviceLimits
from cloud.ingest.stats import IngestCounters
from cloud.ingest.subscriber import Delivery, MqttSubscriber, ingest_subscriptions
from cloud.ingest.worker import IngestWorker
from cloud.maintenance.rules import PersistentAnomalyRule
from cloud.settings import CloudSettings
from cloud.store.database import Database
from cloud.store.timeseries import TimeSeriesStore
from contract.clock import Clock
from contract.wire import encode, topic_of


def build_handler(
    settings: CloudSettings, database: Database, timeseries: TimeSeriesStore, clock: Clock, counters: IngestCounters
) -> MessageHandler:
    """The message handler as `settings` configure it (the ingest's, and the dead-letter replay's)."""
    rule = PersistentAnomalyRule(settings.anomaly_events_for_work_order, settings.anomaly_window_s)
    return MessageHandler(
        database, timeseries, rule, clock, counters,
        default_horizon_cycles=settings.default_maintenance_horizon_cycles,
        dead_letters=DeadLetterBudget(settings.dead_letters_per_device, settings.dead_letter_bytes_per_device),
        seconds_per_cycle=settings.seconds_per_cycle,
    )


def device_budget(settings: CloudSettings) -> DeviceBudget:
    return DeviceBudget(settings.ingest_device_msgs_per_s, settings.ingest_device_msg_burst,
                        settings.ingest_device_bytes_per_s, settings.ingest_device_byte_burst)


class Ingest:
    """Start/stop the MQTT ingest for one `CloudService` run."""

    def __init__(
        self,
        settings: CloudSettings,
        database: Database,
        timeseries: TimeSeriesStore,
        clock: Clock,
        counters: IngestCounters,
    ) -> None:
        self._clock, self._counters = clock, counters
        self.handler = build_handler(settings, database, timeseries, clock, counters)
        self._subscriber = MqttSubscriber(
            settings.broker_host,
            settings.broker_port,
            settings.ingest_session_id,
            on_delivery=self._deliver,
            keepalive_s=settings.mqtt_keepalive_s,
            login=settings.broker_login,
            subscriptions=ingest_subscriptions(settings.ingest_share),
        )
        self._worker = IngestWorker(
            self.handler,
            ack=self._subscriber.ack,
            batch_max=settings.ingest_batch_max,
            linger_s=settings.ingest_linger_s,
            confirm=self._confirm,
            limits=DeviceLimits(device_budget(settings), clock),
        )
        self._accepting = threading.Event()

    @property
    def connected(self) -> bool:
        return self._subscriber.connected

    @property
    def problem(self) -> str | None:
        """Why the ingest cannot store messages right now (None: it can)."""
        return self._worker.problem

    def start(self) -> None:
        """Start the worker, then connect and subscribe; `BrokerError` if the broker cannot be used."""
        self._accepting.set()
        self._worker.start()
        try:
            self._subscriber.start()
        except BaseException:
            self._accepting.clear()
            self._worker.stop()
            raise

    def stop(self) -> None:
        """Store and acknowledge what was received, then disconnect."""
        # Messages arriving from here on are neither stored nor acknowledged: the broker redelivers them later.
        self._accepting.clear()
        self._worker.stop()
        self._subscriber.stop()

    def _deliver(self, delivery: Delivery) -> None:
        if self._accepting.is_set():
            self._worker.submit(delivery)

    def _confirm(self, outcomes: Sequence[Outcome]) -> None:
        """Tell each device what the committed batch holds of it, on its own confirm topic."""
        confirms = confirmations((o.held for o in outcomes if o.held is not None), self._clock.time())
        for confirm in confirms:
            self._subscriber.publish(topic_of(confirm), encode(confirm))
        self._counters.add(confirmations_sent=len(confirms))
