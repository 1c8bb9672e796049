"""An asset's health at a glance: offline, anomalous or ok."""

from __future__ import annotations

from enum import StrEnum

from cloud.store.tables import AssetRow


class Health(StrEnum):
    OK = "ok"
    ANOMALOUS = "anomalous"
    OFFLINE = "offline"


def asset_health(asset: AssetRow, now: float, offline_after_s: float, anomaly_window_s: float) -> Health:
    """Offline if the device said so or has been silent for `offline_after_s`; anomalous if it
    reported an anomaly within the last `anomaly_window_s` (the rule's window); else ok."""
    if not asset.online or now - asset.last_seen > offline_after_s:
        return Health.OFFLINE
    if asset.last_anomaly_at is not None and now - asset.last_anomaly_at <= anomaly_window_s:
        return Health.ANOMALOUS
    return Health.OK
