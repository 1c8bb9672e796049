"""The HTTP API (FastAPI): assets, telemetry, events and work orders under /api/v1."""
