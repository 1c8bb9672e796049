"""What the edge agent and the cloud agree on, with no heavy dependency.

- `contract.wire`: the MQTT wire protocol v1 (topics, payloads, validation), with its
  parts `contract.fields`, `contract.timestamps` and `contract.usage`.
- `contract.channels`: the built-in device profiles (pump, turbofan): their channels, units and labels.
- `contract.units`: unit conversion to each quantity's canonical unit.
- `contract.clock`: the injected clock (real and manual).
- `contract.backoff`: exponential back-off with full jitter.
- `contract.errors`: the exception tree.
"""
