"""Broker backlog benchmark: an ingest outage on the shipped broker settings, with one reading per message.

    python benchmarks/broker_outage.py          a readable summary
    python benchmarks/broker_outage.py --json   one JSON line

The broker runs the dev profile (the production profile's queue, in-flight and persistence
settings, cloud/broker/config.py). The cloud subscribes once and stops; a fleet of `--devices`
publishes `--readings` readings each, `--batch` per message (default 1: an agent at 1 Hz that
publishes every second), QoS 1, waiting for every PUBACK; the broker is restarted gracefully
(saves and reloads its persistence file with the backlog); the cloud restarts and drains it.

What each number is:

- `queued_messages`, `queued_payload_mb`: the backlog the broker held for the ingest.
- `publish_s`: the fleet's publishing, to the last PUBACK.
- `broker_rss_mb`: the broker's resident memory holding that backlog (Mosquitto keeps every
  queued message in memory; `max_queued_bytes` bounds the payload part).
- `restart_s`, `persistence_file_mb`: graceful stop (saving the backlog) plus start (loading
  it), and the size of mosquitto.db; an autosave writes the same file.
- `drain_s`, `drain_readings_per_s`: the restarted cloud storing the whole backlog (SQLite).
- `stored_once`: every reading stored exactly once (count and contiguous seqs per device).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and its edge.py would shadow the `edge` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from cloud.broker import MosquittoBroker, free_port  # noqa: E402
from cloud.server import CloudService  # noqa: E402
from cloud.settings import CloudSettings  # noqa: E402
from cloud.store.raw_readings import RawReadings  # noqa: E402
from contract.channels import PUMP_CHANNELS  # noqa: E402
from contract.wire import ChannelRef, Reading, TelemetryBatch, encode, topic_of  # noqa: E402

T0 = 1_800_000_000.0
PUMP = tuple(ChannelRef(c.name, c.unit) for c in PUMP_CHANNELS)


def messages(device_id: str, readings: int, batch: int) -> list[tuple[str, bytes]]:
    out = []
    for start in range(1, readings + 1, batch):
        rows = tuple(Reading(seq, T0 + seq, tuple(float(seq % 97) + j for j in range(len(PUMP))))
                     for seq in range(start, min(start + batch, readings + 1)))
        message = TelemetryBatch("acme", device_id, PUMP, rows, sent_at=T0 + rows[-1].seq)
        out.append((topic_of(message), encode(message)))
    return out


def publish(broker: MosquittoBroker, fleet: dict[str, list[tuple[str, bytes]]]) -> None:
    def device(device_id: str) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{device_id}", protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(100)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        try:
            sent = [client.publish(topic, payload, qos=1) for topic, payload in fleet[device_id]]
            for info in sent:
                info.wait_for_publish(timeout=120)
        finally:
            client.disconnect()
            client.loop_stop()

    threads = [threading.Thread(target=device, args=(d,)) for d in fleet]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def rss_mb(pid: int | None) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def stored_once(settings: CloudSettings, devices: list[str], readings: int) -> bool:
    store = RawReadings(settings.tsdb_url)
    try:
        return all(np.array_equal(store.first(d, readings + 1).seqs, np.arange(1, readings + 1)) for d in devices)
    finally:
        store.close()


def run(devices: int, readings: int, batch: int, root: Path) -> dict[str, float | int | bool]:
    fleet = {f"pump-{n:04d}": messages(f"pump-{n:04d}", readings, batch) for n in range(1, devices + 1)}
    broker = MosquittoBroker(free_port(), root / "mosquitto")
    settings = CloudSettings(broker_url=broker.url, db_url=f"sqlite:///{root / 'cloud.db'}",
                             tsdb_url=f"sqlite:///{root / 'ts.db'}", port=0, log_level="WARNING")
    broker.start()
    try:
        with CloudService(settings):
            pass  # the ingest's persistent session now exists
        start = time.perf_counter()
        publish(broker, fleet)
        publish_s = time.perf_counter() - start
        broker_rss = rss_mb(broker.pid)
        start = time.perf_counter()
        broker.restart()
        restart_s = time.perf_counter() - start
        persisted_mb = (broker.data_dir / "mosquitto.db").stat().st_size / 2**20
        total = devices * readings
        with CloudService(settings) as cloud:
            start = time.perf_counter()
            while cloud.ingest_stats().readings_stored < total and time.perf_counter() - start < 600:
                time.sleep(0.05)
            drain_s = time.perf_counter() - start
            stored = cloud.ingest_stats().readings_stored
    finally:
        broker.stop()
    payloads = [len(payload) for device in fleet.values() for _, payload in device]
    return {
        "devices": devices, "readings": total, "batch": batch, "queued_messages": len(payloads),
        "queued_payload_mb": round(sum(payloads) / 2**20, 1), "publish_s": round(publish_s, 2),
        "broker_rss_mb": round(broker_rss, 1), "restart_s": round(restart_s, 2),
        "persistence_file_mb": round(persisted_mb, 1),
        "drain_s": round(drain_s, 2), "drain_readings_per_s": round(stored / drain_s),
        "stored": stored, "stored_once": stored == total and stored_once(settings, list(fleet), readings),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--readings", type=int, default=10_000, help="per device")
    parser.add_argument("--batch", type=int, default=1, help="readings per message")
    parser.add_argument("--json", action="store_true", help="one JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paas-broker-bench-") as root:
        result = run(args.devices, args.readings, args.batch, Path(root))
    print(json.dumps(result, sort_keys=True) if args.json else "\n".join(f"{k:22} {v}" for k, v in result.items()))
    return 0 if result["stored_once"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
