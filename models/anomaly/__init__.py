"""Anomaly detectors: fitted on healthy windows, scoring how far a window is from healthy."""
