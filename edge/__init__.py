"""The edge agent: sensors → window → ONNX score → durable queue → MQTT."""
