"""Shared by the registry, RUL-rule and findings tests: artifacts to register and the API over given stores."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from authtest_support import RoleClients
from cloudtest_support import T0, TENANT, Stores

from cloud.api.app import create_app
from cloud.api.deps import ApiContext
from cloud.auth.sign_in import SignIn
from cloud.auth.throttle import ThrottlePolicy
from cloud.auth.tokens import TokenIssuer
from cloud.registry.signing import Signer
from cloud.server import ApiThread
from cloud.settings import CloudSettings
from cloud.store.raw_readings import RawReadings
from contract.channels import PUMP_CHANNELS
from contract.wire import Command, Event, EventKind, ModelRef, RulEstimate
from models.anomaly.calibrated_detector import fit_detector

PUMP_NAMES = tuple(c.name for c in PUMP_CHANNELS)
PUMP_UNITS = tuple(c.unit for c in PUMP_CHANNELS)
AUTH_SECRET = b"secret of the cloud tests' token issuer, 32+ bytes"


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
        tenant=TENANT,
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


@dataclass(frozen=True)
class ServedApi:
    """The API a test serves: its URL (without /api/v1), the token issuer it trusts, and clients of its roles."""

    url: str
    tokens: TokenIssuer
    as_role: RoleClients  # as_role(Role.PLANNER): a client with a planner's key of the tenant TENANT


@contextmanager
def api_over(
    stores: Stores, db_url: str, signer: Signer | None = None,
    publish_command: Callable[[Command], bool] | None = None, public_api_url: str = "",
) -> Iterator[ServedApi]:
    """The real HTTP API (uvicorn on a free port) over `stores`, without MQTT, on the stores' manual clock."""
    tsdb_url = db_url.replace("store.db", "timeseries.db")
    settings = CloudSettings(db_url=db_url, tsdb_url=tsdb_url, port=0, public_api_url=public_api_url)
    # As the service builds them (cloud.server), with the clock the API reads, so tokens age with the test's time.
    tokens = TokenIssuer(AUTH_SECRET, stores.clock, settings.access_token_ttl_s, settings.artifact_link_ttl_s)
    policy = ThrottlePolicy(settings.sign_in_max_failures, settings.sign_in_max_failures_per_client,
                            settings.sign_in_window_s)
    raw = RawReadings(tsdb_url)
    context = ApiContext(
        stores.database, stores.timeseries, settings, stores.clock, tokens,
        SignIn(tokens, policy, settings.refresh_token_ttl_s), signer=signer or Signer.generate(), raw_readings=raw,
        publish_command=publish_command,
    )
    thread = ApiThread(create_app(context), "127.0.0.1", 0)
    thread.start(timeout_s=20)
    try:
        with RoleClients(stores.database, thread.url, TENANT) as clients:
            yield ServedApi(thread.url, tokens, clients)
    finally:
        thread.stop()
        raw.close()


__all__ = ["T0", "ServedApi", "api_over", "artifact", "rul_event", "with_metadata"]
