"""The cloud service: MQTT ingest, storage, maintenance, API and the demo."""
