"""The model registry: signed, immutable artifacts, per-asset detectors and what each device should run."""
