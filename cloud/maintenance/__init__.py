"""Maintenance: rules that turn anomaly events into work orders, and the orders' lifecycle."""
