"""Model training, ONNX export, registry metadata and evaluation."""
