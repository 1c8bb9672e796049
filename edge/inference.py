"""From a full window to the event it warrants: an anomaly above threshold, or a RUL estimate.

The model scores; this module only turns its output into the wire event, with what
explains it (contributions, model version, the window it saw). Every RUL estimate is
reported, since the cloud decides against each asset's contract horizon; an anomaly
score only when it crosses the artifact's threshold.
"""

from __future__ import annotations

import functools
import math

from contract.wire import Event, EventKind, ModelRef
from edge.runtime import OnnxModel
from edge.window import SlidingWindow


def window_event(model: OnnxModel, window: SlidingWindow, *, tenant: str, device_id: str, seq: int,
                 ts: float) -> Event | None:
    """The event for the window that ends with reading `seq`, or None; `ModelError` if the model fails."""
    info = model.info
    event = functools.partial(
        Event, tenant=tenant, device_id=device_id, seq=seq, ts=ts, model=ModelRef(info.id, info.version),
        window_start=window.start_ts or ts, window_end=window.end_ts or ts, window_samples=window.samples,
    )
    if info.kind == EventKind.RUL.value:
        estimate = model.estimate_rul(window.array()[None, :, :])[0]
        return event(
            kind=EventKind.RUL, score=estimate.lower, threshold=info.threshold,
            is_anomaly=estimate.lower <= info.threshold, contributions={}, rul=estimate,
        )
    score = model.score(window.array())
    if not score.is_anomaly:
        return None
    return event(
        kind=EventKind.ANOMALY, score=score.score, threshold=score.threshold, is_anomaly=True,
        contributions={k: v for k, v in score.contributions.items() if math.isfinite(v)},
    )
