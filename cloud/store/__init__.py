"""Storage: the relational store (assets, events, work orders) and the time-series store."""
