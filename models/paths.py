"""Where the committed model artifacts live (shipped as package data)."""

from __future__ import annotations

from pathlib import Path


def artifacts_dir() -> Path:
    """The folder of the artifacts that ship with the package."""
    return Path(__file__).resolve().parent / "artifacts"


DEFAULT_PUMP_MODEL: Path = artifacts_dir() / "pump-baseline.onnx"
