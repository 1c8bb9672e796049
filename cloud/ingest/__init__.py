"""MQTT ingest: telemetry, events, device state and usage reports from the broker into the stores."""
