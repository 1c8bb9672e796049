"""Simulated devices and fleets: what the demo and the tests run instead of hardware."""
