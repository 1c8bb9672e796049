"""The API alone: no broker, no ingest, over migrated SQLite stores, on a free port, its clock standing still.

For tests of routes whose data the test writes straight into the store (contracts, statements,
notifications, help requests): quicker than a whole `CloudService`, and the same app.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cloud.api.app import create_app
from cloud.api.deps import ApiContext
from cloud.auth.sign_in import SignIn
from cloud.auth.throttle import ThrottlePolicy
from cloud.auth.tokens import TokenIssuer
from cloud.server import ApiThread
from cloud.settings import CloudSettings
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from cloud.store.timeseries import open_timeseries_store
from contract.clock import ManualClock


@dataclass(frozen=True)
class ApiAlone:
    database: Database
    url: str
    clock: ManualClock


@contextmanager
def api_alone(tmp_path: Path, now: float) -> Iterator[ApiAlone]:
    """Serve the API over fresh stores in `tmp_path` until the block ends; its clock stands at `now`."""
    settings = CloudSettings(db_url=f"sqlite:///{tmp_path / 'cloud.db'}", tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}",
                             port=0)
    clock = ManualClock(now)
    tokens = TokenIssuer(b"x" * 48, clock, 900.0, 3600.0)
    database, timeseries = Database(settings.db_url), open_timeseries_store(settings.tsdb_url)
    api: ApiThread | None = None
    try:
        ensure_schema(database)
        context = ApiContext(database, timeseries, settings, clock, tokens,
                             SignIn(tokens, ThrottlePolicy(5, 30, 900.0), 3600.0))
        api = ApiThread(create_app(context), "127.0.0.1", 0)
        api.start(30.0)
        yield ApiAlone(database, api.url, clock)
    finally:
        if api is not None:
            api.stop()
        timeseries.close()
        database.close()
