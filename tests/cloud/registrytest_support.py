"""Shared by the registry, RUL-rule and findings tests: artifacts to register and the API over given stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
import onnx
from cloudtest_support import T0, Stores

from cloud.api.app import create_app
from cloud.api.deps import ApiContext
from cloud.registry.signing import Signer
from cloud.server import ApiThread
from cloud.settings import CloudSettings
from cloud.store.raw_readings import RawReadings
from contract.channels import PUMP_CHANNELS
from contract.wire import Event, EventKind, ModelRef, RulEstimate
from models.anomaly.calibrated_detector import fit_detector

PUMP_NAMES = tuple(c.name for c in PUMP_CHANNELS)
PUMP_UNITS = tuple(c.unit for c in PUMP_CHANNELS)


def artifact(model_id: str = "pump-test", version: str = "1", seed: int = 0) -> bytes:
    """A real calibrated-detector artifact (tiny: fitted on 60 synthetic rows)."""
    rng = np.random.default_rng(seed)
    calibration = rng.normal(1.0, 0.1, size=(60, len(PUMP_NAMES)))
    fitted = fit_detector(
        calibration, PUMP_NAMES, PUMP_UNITS, created_at="2027-01-15T08:00:00Z", model_id=model_id, version=version
    )
    return fitted.artifact


def with_metadata(content: bytes, change: dict[str, Any], drop: tuple[str, ...] = ()) -> bytes:
    """The artifact with its `paas.model` metadata edited (keys in `drop` removed)."""
    model = onnx.load_from_string(content)
    [prop] = [p for p in model.metadata_props if p.key == "paas.model"]
    meta = {k: v for k, v in {**json.loads(prop.value), **change}.items() if k not in drop}
    prop.value = json.dumps(meta)
    return bytes(model.SerializeToString())


def rul_event(device: str, ts: float, cycles: float, lower: float, upper: float, seq: int = 1) -> Event:
    return Event(
        tenant="acme",
        device_id=device,
        seq=seq,
        ts=ts,
        kind=EventKind.RUL,
        score=cycles,
        threshold=0.0,
        is_anomaly=False,
        contributions={},
        model=ModelRef("turbofan-rul", "2.0.0"),
        window_start=ts - 30,
        window_end=ts,
        window_samples=30,
        rul=RulEstimate(cycles, lower, upper),
    )


@contextmanager
def api_over(stores: Stores, db_url: str, signer: Signer | None = None) -> Iterator[httpx.Client]:
    """The real HTTP API (uvicorn on a free port) over `stores`, without MQTT; a client for /api/v1."""
    tsdb_url = db_url.replace("store.db", "timeseries.db")
    settings = CloudSettings(db_url=db_url, tsdb_url=tsdb_url, port=0)
    raw = RawReadings(tsdb_url)
    context = ApiContext(
        stores.database, stores.timeseries, settings, stores.clock, signer=signer or Signer.generate(), raw_readings=raw
    )
    thread = ApiThread(create_app(context), "127.0.0.1", 0)
    thread.start(timeout_s=20)
    try:
        with httpx.Client(base_url=f"{thread.url}/api/v1", timeout=20.0) as client:
            yield client
    finally:
        thread.stop()
        raw.close()


__all__ = ["T0", "api_over", "artifact", "rul_event", "with_metadata"]
