"""MQTT ingest: telemetry, events and device state from the broker into the stores."""
