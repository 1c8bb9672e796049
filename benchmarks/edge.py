"""Edge agent benchmark: window latency, memory, CPU, outbox write and drain throughput.

    python benchmarks/edge.py          a readable table with the targets
    python benchmarks/edge.py --json   one JSON line

What each number is:

- `window_p50_ms`, `window_p99_ms`: one sample's path in the agent, timed in this
  process: read the simulated pump -> push into the sliding window -> score the
  window with the committed models/artifacts/pump-baseline.onnx (every sample,
  the worst case; the agent scores every `hop`) -> enqueue in the outbox.
- `queue_writes_per_s`: readings committed to the outbox (fsync normal, 256 MB
  budget), one transaction each, as the sampler writes them;
  `queue_writes_per_s_fsync_full` the same with `--fsync full`.
- `drain_readings_per_s`: an outbox filled offline, then drained by a real agent
  to a private Mosquitto (until the broker acknowledged every reading; each PUBACK
  marks its rows sent), with the default pace bound (100 msgs/s of 100 readings);
  `drain_unpaced_readings_per_s` the same without a practical bound (the ceiling).
- `rss_mb`: resident memory of a `python -m edge run` process with the model loaded.
- `cpu_pct_1hz`, `cpu_pct_100hz`: % of one core used by such a process sampling at
  1 Hz and at 100 Hz, over `CPU_WINDOW_S` after its start, from /proc/PID/stat.

Targets (docs/edge.md): RSS <= 80 MB, <= 2 % of a core at 1 Hz, drain >= 5,000 readings/s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# This file is named edge.py: run as a script, its folder comes first on sys.path and
# would shadow the `edge` package, so it is taken off before the project's imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

from cloud.broker import MosquittoBroker, free_port  # noqa: E402
from contract.clock import SystemClock  # noqa: E402
from edge.agent import Agent  # noqa: E402
from edge.queue import OutboundQueue, is_locked  # noqa: E402
from edge.runtime import OnnxModel  # noqa: E402
from edge.sensors import SensorSpec, open_sensor  # noqa: E402
from edge.settings import AgentSettings  # noqa: E402
from edge.window import SlidingWindow  # noqa: E402
from models.paths import DEFAULT_PUMP_MODEL  # noqa: E402

WINDOW_SAMPLES = 2000
QUEUE_WRITES = 50_000
FULL_FSYNC_WRITES = 300
CPU_WINDOW_S = 10.0
TARGETS = {"rss_mb": 80.0, "cpu_pct_1hz": 2.0, "drain_readings_per_s": 5000.0}


def window_latency(state_dir: Path) -> tuple[float, float]:
    """p50 and p99 in ms of read -> window -> ONNX score -> enqueue."""
    sensor = open_sensor(SensorSpec.parse("sim:pump"), seed=1, rate_hz=1.0)
    model = OnnxModel.load(DEFAULT_PUMP_MODEL)
    window = SlidingWindow(model.info.window, len(sensor.channels))
    queue = OutboundQueue(state_dir, max_bytes=256 * 2**20)
    clock = SystemClock()
    timings = []
    try:
        for i in range(model.info.window + WINDOW_SAMPLES):
            start = time.perf_counter()
            values, ts = sensor.read(), clock.time()
            window.push(values, ts)
            if window.full:
                model.score(window.array())
            queue.put_reading(queue.next_seq, ts, values)
            if i >= model.info.window:
                timings.append((time.perf_counter() - start) * 1000.0)
    finally:
        queue.close()
    return float(np.percentile(timings, 50)), float(np.percentile(timings, 99))


def queue_writes(state_dir: Path, count: int, fsync: str) -> float:
    """Readings per second committed to a fresh outbox."""
    values = (0.2012, 0.2913, 2.2114, 1.2015, 89.116, 29.117, 232.118, 122.119)
    queue = OutboundQueue(state_dir, max_bytes=256 * 2**20, fsync=fsync)
    try:
        start = time.perf_counter()
        for _ in range(count):
            queue.put_reading(queue.next_seq, time.time(), values)
        return count / (time.perf_counter() - start)
    finally:
        queue.close()


def drain(state_dir: Path, broker: MosquittoBroker, max_msgs_per_s: float) -> float:
    """Readings per second an agent drains from `state_dir`'s backlog to the broker."""
    backlog = OutboundQueue(state_dir)
    total = backlog.stats().reading_depth
    backlog.close()
    settings = AgentSettings(device_id=f"bench-drain-{int(max_msgs_per_s)}", broker_url=broker.url,
                             state_dir=state_dir, model_path=None, rate_hz=0.1, max_msgs_per_s=max_msgs_per_s)
    agent = Agent(settings)
    agent.start()
    try:
        start = time.perf_counter()
        # Until the broker acknowledged the backlog (no cloud here confirms it, so the rows stay kept).
        while agent.stats().readings_acked < total:
            if time.perf_counter() - start > 60:
                raise RuntimeError("the drain did not finish within 60 s")
            time.sleep(0.02)
        return total / (time.perf_counter() - start)
    finally:
        agent.stop()


@contextmanager
def agent_process(broker: MosquittoBroker, state_dir: Path, rate_hz: float) -> Iterator[int]:
    """A `python -m edge run` with the pump baseline model, yielded (its pid) once it runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_EDGE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "--log-level", "WARNING", "run", "--device-id", f"bench-{rate_hz:g}hz",
         "--broker", broker.url, "--rate", str(rate_hz), "--state-dir", str(state_dir), "--model", "default"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not (is_locked(state_dir) and (state_dir / "queue.sqlite3").exists()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {rate_hz:g} Hz agent did not start (exit status {proc.poll()})")
            time.sleep(0.05)
        time.sleep(1.0)  # past its start-up (model load, connect, first window)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def agents_cpu_and_rss(broker: MosquittoBroker, root: Path) -> dict[str, float]:
    """CPU % at 1 Hz and 100 Hz (both agents measured side by side) and the 1 Hz agent's RSS."""
    with agent_process(broker, root / "a1", 1.0) as slow, agent_process(broker, root / "a100", 100.0) as fast:
        before = {pid: (time.monotonic(), cpu_seconds(pid)) for pid in (slow, fast)}
        time.sleep(CPU_WINDOW_S)
        pct = {pid: 100.0 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) for pid, (t0, cpu0) in before.items()}
        return {"rss_mb": rss_mb(slow), "cpu_pct_1hz": pct[slow], "cpu_pct_100hz": pct[fast]}


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        root = Path(tmp)
        p50, p99 = window_latency(root / "window")
        result: dict[str, float] = {"window_p50_ms": p50, "window_p99_ms": p99}
        result["queue_writes_per_s"] = queue_writes(root / "drain", QUEUE_WRITES, "normal")
        result["queue_writes_per_s_fsync_full"] = queue_writes(root / "full", FULL_FSYNC_WRITES, "full")
        broker = MosquittoBroker(port=free_port(), data_dir=root / "mosquitto")
        broker.start()
        try:
            result["drain_readings_per_s"] = drain(root / "drain", broker, AgentSettings.max_msgs_per_s)
            queue_writes(root / "drain2", QUEUE_WRITES, "normal")
            result["drain_unpaced_readings_per_s"] = drain(root / "drain2", broker, 1e5)
            result |= agents_cpu_and_rss(broker, root)
        finally:
            broker.kill()
    return {k: round(v, 3 if k.endswith("_ms") else 1) for k, v in result.items()}


def table(result: dict[str, float]) -> str:
    lines = [f"{'metric':<34}{'value':>12}  target"]
    for key, value in result.items():
        target = TARGETS.get(key)
        mark = "" if target is None else (
            f"{'>=' if key.startswith('drain') else '<='} {target:g}  "
            f"{'ok' if (value >= target if key.startswith('drain') else value <= target) else 'MISSED'}")
        lines.append(f"{key:<34}{value:>12,.3f}  {mark}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    result = run()
    print(json.dumps(result, sort_keys=True) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
