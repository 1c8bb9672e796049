"""The signed model manifest: what a device may install, for whom, and in which order.

Signing only an artifact's digest let any signed artifact be replayed to any device, and an
old, vulnerable version be pushed again. The cloud therefore signs a manifest: the device
it is for, the model id, version, sha256 and size, the settings that come with it, and a
per-device counter that only ever grows (anti-rollback: a device refuses a manifest whose
counter is below the highest it has accepted).

The signature covers the exact bytes of `manifest_bytes` (canonical JSON: sorted keys, no
whitespace, UTF-8), prefixed with `DOMAIN` so that a manifest signature can never be taken
for a signature of anything else the key signs. The `set_desired_state` command carries the
manifest text and the signature (base64), and the device parses only text it has verified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from contract.errors import ProtocolError
from contract.fields import Fields, check_id, check_version, is_number, seq_in_range

DOMAIN = b"paas-model-manifest-v1\n"
MANIFEST_PARAM = "manifest"  # set_desired_state params: the manifest text, exactly as signed
SIGNATURE_PARAM = "manifest_signature"  # base64 Ed25519 signature of DOMAIN + manifest text
KEY_ID_PARAM = "signing_key_id"
MAX_MANIFEST_BYTES = 8 * 1024


@dataclass(frozen=True)
class ModelManifest:
    """One signed instruction for one device; model fields are empty for a settings-only change."""

    tenant: str
    device_id: str
    counter: int  # per device, strictly increasing from the cloud's side; the device keeps the highest accepted
    issued_at: float  # UTC epoch seconds, informative (device clocks may be wrong: the counter orders)
    model_id: str = ""
    version: str = ""
    sha256: str = ""
    size_bytes: int = 0
    settings: dict[str, float] = field(default_factory=dict)  # e.g. {"sample_rate_hz": 2.0, "threshold": 4.5}

    @property
    def has_model(self) -> bool:
        return bool(self.model_id)


def manifest_text(manifest: ModelManifest) -> str:
    """The canonical JSON text of the manifest (what is signed, after `DOMAIN`)."""
    body: dict[str, Any] = {
        "v": 1, "tenant": manifest.tenant, "device_id": manifest.device_id, "counter": manifest.counter,
        "issued_at": manifest.issued_at, "settings": dict(sorted(manifest.settings.items())),
    }
    if manifest.has_model:
        body |= {"model_id": manifest.model_id, "version": manifest.version, "sha256": manifest.sha256,
                 "size_bytes": manifest.size_bytes}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)


def signed_bytes(text: str) -> bytes:
    """The message the signature covers: the domain separator, then the manifest text."""
    return DOMAIN + text.encode("utf-8")


def parse_manifest(text: str) -> ModelManifest:
    """The manifest in `text` (already verified by the caller); `ProtocolError` says what is wrong."""
    if len(text.encode("utf-8")) > MAX_MANIFEST_BYTES:
        raise ProtocolError(f"manifest over {MAX_MANIFEST_BYTES} bytes")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"manifest is not JSON: {exc}") from None
    body = Fields(raw, "manifest")
    if body.get("v", int) != 1:
        raise ProtocolError("manifest: unsupported version")
    tenant, device_id = body.get("tenant", str), body.get("device_id", str)
    check_id("manifest.tenant", tenant)
    check_id("manifest.device_id", device_id)
    settings = body.raw.get("settings") or {}
    if not isinstance(settings, dict) or not all(isinstance(k, str) and is_number(v) for k, v in settings.items()):
        raise ProtocolError("manifest.settings: expected an object of name -> number")
    model_id = str(body.raw.get("model_id") or "")
    manifest = ModelManifest(
        tenant=tenant, device_id=device_id, counter=seq_in_range(body.get("counter", int), "manifest.counter"),
        issued_at=body.number("issued_at"), settings={k: float(v) for k, v in settings.items()},
    )
    if not model_id:
        return manifest
    check_id("manifest.model_id", model_id)
    version, sha256 = body.get("version", str), body.get("sha256", str)
    check_version("manifest.version", version)
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ProtocolError("manifest.sha256: expected 64 lowercase hex digits")
    return ModelManifest(
        tenant=tenant, device_id=device_id, counter=manifest.counter, issued_at=manifest.issued_at,
        model_id=model_id, version=version, sha256=sha256,
        size_bytes=seq_in_range(body.get("size_bytes", int), "manifest.size_bytes"), settings=manifest.settings,
    )
