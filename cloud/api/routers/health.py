"""Liveness and readiness: do the stores and the broker answer, and can the ingest store what arrives?"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from cloud.api.access import PUBLIC
from cloud.api.deps import ContextDep
from cloud.api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    dependencies=[PUBLIC],
    responses={503: {"model": HealthOut, "description": "a store does not answer, or the ingest cannot store"}},
)
def healthz(context: ContextDep, response: Response) -> HealthOut:
    database, timeseries = context.database.reachable(), context.timeseries.reachable()
    connected = None if context.broker_connected is None else context.broker_connected()
    # A store may answer a query and still refuse writes (disk full, read-only after a failover): the ingest knows.
    problem = None if context.ingest_problem is None else context.ingest_problem()
    ok = database and timeseries and problem is None
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthOut(
        status="ok" if ok else "degraded", database=database, timeseries=timeseries, broker_connected=connected,
        ingest_problem=problem,
    )
