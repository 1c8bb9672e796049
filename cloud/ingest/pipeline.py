"""The ingest assembled: MQTT subscriber -> worker -> handler -> stores, acknowledged after commit."""

from __future__ import annotations

import threading

from cloud.ingest.handler import MessageHandler
from cloud.ingest.stats import IngestCounters
from cloud.ingest.subscriber import Delivery, MqttSubscriber
from cloud.ingest.worker import IngestWorker
from cloud.maintenance.rules import PersistentAnomalyRule
from cloud.settings import CloudSettings
from cloud.store.database import Database
from cloud.store.timeseries import TimeSeriesStore
from contract.clock import Clock


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
        rule = PersistentAnomalyRule(settings.anomaly_events_for_work_order, settings.anomaly_window_s)
        horizon = settings.default_maintenance_horizon_cycles
        self.handler = MessageHandler(database, timeseries, rule, clock, counters, default_horizon_cycles=horizon)
        self._subscriber = MqttSubscriber(
            settings.broker_host,
            settings.broker_port,
            settings.ingest_client_id,
            on_delivery=self._deliver,
            keepalive_s=settings.mqtt_keepalive_s,
            login=settings.broker_login,
        )
        self._worker = IngestWorker(
            self.handler,
            ack=self._subscriber.ack,
            batch_max=settings.ingest_batch_max,
            linger_s=settings.ingest_linger_s,
        )
        self._accepting = threading.Event()

    @property
    def connected(self) -> bool:
        return self._subscriber.connected

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
