"""Remaining useful life of turbofan engines, learned from NASA C-MAPSS FD001.

Reading and checking C-MAPSS files (`cmapss`), the model's input windows and their
summaries (`features`), the network and its training (`network`, `train`), its
framework-free weights (`weights`, `ensemble`), the cross-validation that mimics the
held-back test set (`evaluate`), the conformal band (`band`), the ONNX export
(`export`), the onnxruntime-only predictor behind `cmapss-predict` (`predict`) and
the two subcommands (`commands`).
"""
