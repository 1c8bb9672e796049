"""Where the committed model artifacts live (shipped as package data)."""

from __future__ import annotations

from pathlib import Path


def artifacts_dir() -> Path:
    """The folder of the artifacts that ship with the package."""
    return Path(__file__).resolve().parent / "artifacts"


DEFAULT_PUMP_MODEL: Path = artifacts_dir() / "pump-baseline.onnx"
DEFAULT_TURBOFAN_MODEL: Path = artifacts_dir() / "turbofan-rul.onnx"
# The model an edge agent runs by default, per asset kind.
DEFAULT_MODELS: dict[str, Path] = {"pump": DEFAULT_PUMP_MODEL, "turbofan": DEFAULT_TURBOFAN_MODEL}
