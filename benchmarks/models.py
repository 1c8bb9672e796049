"""Model benchmark: quality on the dev data, artifact sizes, latency on one core, agent memory.

    python benchmarks/models.py [--data-dir ../shared/data]          a readable table with the targets
    python benchmarks/models.py --json                               one JSON line

What each number is:

- `skab_f1`, `skab_far`, `skab_mar`: the SKAB outlier-detection protocol on the dev files
  (each file's detector fitted on its first 400 rows, the rest scored, counts pooled),
  through the ONNX artifact and the edge runtime, at the shipped margin.
- `cmapss_cv_rmse`: the RUL model's cross-validated RMSE by engine, recorded in the
  committed artifact's metadata by `python -m models train-rul` (re-training takes
  minutes, so the benchmark reads it instead of recomputing it).
- `anomaly_model_bytes`: a per-asset detector fitted on a SKAB file's calibration;
  `rul_model_bytes`: the committed turbofan RUL artifact.
- `anomaly_p99_ms`, `rul_p99_ms`: one window scored through `edge.runtime.OnnxModel`,
  the process pinned to one core, onnxruntime on one thread.
- `edge_rss_mb`: resident memory of a `python -m edge run` process with the pump model.

Targets (docs/models.md): SKAB F1 >= 0.80 with FAR <= 20 %, C-MAPSS RMSE <= 12,
anomaly model <= 200 KB and <= 1 ms p99, RUL model <= 1 MB and <= 2 ms p99.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

# This file is named models.py: run as a script, its folder comes first on sys.path and
# would shadow the `models` package, so it is taken off before the project's imports.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import numpy as np  # noqa: E402

from cloud.broker import MosquittoBroker, free_port  # noqa: E402
from contract.channels import PUMP_CHANNELS  # noqa: E402
from edge.runtime import OnnxModel  # noqa: E402
from models.anomaly.calibrated_detector import DetectorConfig, fit_detector  # noqa: E402
from models.evaluation_skab import load_scored, total  # noqa: E402
from models.paths import DEFAULT_TURBOFAN_MODEL  # noqa: E402
from models.skab_data import CALIBRATION_ROWS, read_skab, skab_files  # noqa: E402

DEFAULT_DATA = HERE.parent.parent / "shared" / "data"
LATENCY_CALLS = 3000
TARGETS = {
    "skab_f1": (">=", 0.80), "skab_far": ("<=", 0.20), "cmapss_cv_rmse": ("<=", 12.0),
    "anomaly_model_bytes": ("<=", 200_000), "rul_model_bytes": ("<=", 1_000_000),
    "anomaly_p99_ms": ("<=", 1.0), "rul_p99_ms": ("<=", 2.0), "edge_rss_mb": ("<=", 80.0),
}


def skab_quality(skab_dir: Path) -> dict[str, float]:
    config = DetectorConfig()
    labelled, _ = load_scored(skab_dir, config)
    result = total(labelled, config.margin)
    return {"skab_f1": round(result.f1, 4), "skab_far": round(result.far, 4), "skab_mar": round(result.mar, 4)}


def p99_ms(model: OnnxModel, rul: bool) -> float:
    """The 99th percentile of one window's scoring time, on one core."""
    rng = np.random.default_rng(0)
    window = rng.normal(size=(model.info.window, len(model.info.channels))).astype(np.float32)
    batch = window[None, :, :]
    timings = []
    for _ in range(LATENCY_CALLS):
        start = time.perf_counter()
        if rul:
            model.estimate_rul(batch)
        else:
            model.score(window)
        timings.append((time.perf_counter() - start) * 1000.0)
    return round(float(np.percentile(timings[100:], 99)), 4)  # the first calls warm caches up


def anomaly_model(skab_dir: Path, work: Path) -> tuple[int, float]:
    recording = read_skab(skab_files(skab_dir)[0])
    fitted = fit_detector(
        recording.values[:CALIBRATION_ROWS], [c.name for c in PUMP_CHANNELS], [c.unit for c in PUMP_CHANNELS]
    )
    path = work / "detector.onnx"
    path.write_bytes(fitted.artifact)
    return len(fitted.artifact), p99_ms(OnnxModel.load(path), rul=False)


def rul_model() -> tuple[int, float, float]:
    model = OnnxModel.load(DEFAULT_TURBOFAN_MODEL)
    return DEFAULT_TURBOFAN_MODEL.stat().st_size, p99_ms(model, rul=True), model.info.metrics["cv_rmse_mean"]


def edge_bench() -> ModuleType:
    """benchmarks/edge.py, whose agent-process helpers measure the RSS here too."""
    spec = importlib.util.spec_from_file_location("edge_bench", HERE / "edge.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def edge_rss_mb(work: Path) -> float:
    bench = edge_bench()
    broker = MosquittoBroker(free_port(), work / "mosquitto")
    broker.start()
    try:
        with bench.agent_process(broker, work / "agent", 1.0) as pid:
            time.sleep(2.0)
            return round(float(bench.rss_mb(pid)), 1)
    finally:
        broker.stop()


def run(data_dir: Path) -> dict[str, float]:
    skab_dir = data_dir / "skab"
    if not skab_dir.is_dir():
        raise SystemExit(f"error: {skab_dir} not found; pass --data-dir (the folder holding skab/ and cmapss/)")
    with tempfile.TemporaryDirectory(prefix="paas-models-bench-") as tmp:
        work = Path(tmp)
        print("measuring SKAB quality on the dev files ...", file=sys.stderr, flush=True)
        result: dict[str, float] = skab_quality(skab_dir)
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as on a Pi-class device
        print("measuring model sizes and latency on one core ...", file=sys.stderr, flush=True)
        anomaly_bytes, anomaly_p99 = anomaly_model(skab_dir, work)
        rul_bytes, rul_p99, cv_rmse = rul_model()
        print("measuring an edge agent's memory ...", file=sys.stderr, flush=True)
        result |= {
            "cmapss_cv_rmse": round(cv_rmse, 3), "anomaly_model_bytes": anomaly_bytes, "rul_model_bytes": rul_bytes,
            "anomaly_p99_ms": anomaly_p99, "rul_p99_ms": rul_p99, "edge_rss_mb": edge_rss_mb(work),
        }
    return result


def table(result: dict[str, float]) -> str:
    rows = []
    for name, value in result.items():
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            op, bound = target
            ok = value >= bound if op == ">=" else value <= bound
            verdict = f"{op} {bound:g}  {'ok' if ok else 'MISSED'}"
        rows.append(f"{name:22} {value:>12g}  {verdict}")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    result = run(args.data_dir)
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
