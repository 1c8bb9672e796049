"""Which `set_desired_state` the agent accepts: a manifest signed by the trusted key, for this device, not older.

Checked in this order when a command arrives (each refusal is `failed:<reason>`, and nothing
pending is replaced):

1. it carries `manifest` (the text, at most 8 KiB) and `manifest_signature` (base64 of 64
   bytes): else `unsigned`;
2. `signing_key_id`, when given, names the trusted key: else `unknown_signing_key` (a key
   the device was not given: a rotation needs the new key provisioned);
3. the Ed25519 signature of `DOMAIN + text` verifies with it (`edge.updates.signature`):
   else `bad_signature`; only then is the text parsed (else `invalid_command`);
4. its tenant and device id are this agent's: else `wrong_device` (a manifest signed for
   another device, replayed here);
5. its counter is above the highest accepted, or equal with the very same text (the cloud
   re-sending a wish): else `stale_manifest` (anti-rollback: an old, signed manifest
   cannot bring an old model back);
6. its settings are known and in range, and a model comes with an http(s) `artifact_url`:
   else `invalid_command`.

Then the counter and the text's digest are recorded in `STATE_DIR/updates/manifest.json`
(atomically: temp file, fsync, rename), before the wish is saved, so a restart never
forgets what was accepted. Every other param of the command (the model id, sha256,
signature and settings older agents read) is ignored: the device acts on signed text only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.errors import ProtocolError
from contract.manifest import (
    KEY_ID_PARAM,
    MANIFEST_PARAM,
    MAX_MANIFEST_BYTES,
    SIGNATURE_PARAM,
    ModelManifest,
    parse_manifest,
    signed_bytes,
)
from edge.errors import UpdateError
from edge.updates.atomic_file import read_json, write_json
from edge.updates.desired import ARTIFACT_URL_PARAM, DesiredState
from edge.updates.signature import verify
from edge.updates.signing_key import TrustedKey

ACCEPTED_NAME = "manifest.json"


@dataclass(frozen=True)
class Accepted:
    """The highest manifest accepted so far: its counter and the digest of its text."""

    counter: int = -1
    text_sha256: str = ""


class ManifestGate:
    """Admits `set_desired_state` params for one device (`tenant`, `device_id`) whose state is in `updates_dir`."""

    def __init__(self, tenant: str, device_id: str, updates_dir: Path) -> None:
        self.tenant, self.device_id = tenant, device_id
        self._path = updates_dir / ACCEPTED_NAME

    def accepted(self) -> Accepted:
        value = read_json(self._path) or {}
        counter, digest = value.get("counter"), value.get("text_sha256")
        if isinstance(counter, int) and not isinstance(counter, bool) and isinstance(digest, str):
            return Accepted(counter, digest)
        return Accepted()

    def admit(self, params: dict[str, Any], trusted: Callable[[], TrustedKey], message_id: str = "") -> DesiredState:
        """The wish of a verified, fresh manifest for this device, recorded as accepted; `UpdateError` otherwise.

        `trusted()` gives the key (edge.updates.signing_key), asked only once the command is signed at all.
        """
        text, signature = _signed_parts(params)
        key = trusted()
        claimed = params.get(KEY_ID_PARAM)
        if claimed is not None and claimed != key.key_id:
            raise UpdateError("unknown_signing_key", f"signed with key {str(claimed)[:40]!r}, "
                                                     f"this device trusts {key.key_id!r} ({key.source})")
        if not verify(key.raw, signed_bytes(text), signature):
            raise UpdateError("bad_signature", f"the manifest's signature does not verify with key {key.key_id}")
        try:
            manifest = parse_manifest(text)
        except ProtocolError as exc:
            raise UpdateError("invalid_command", f"the signed manifest is malformed: {exc}") from None
        self._check_device(manifest)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self._check_fresh(manifest, digest)
        desired = DesiredState.from_manifest(manifest, str(params.get(ARTIFACT_URL_PARAM) or ""), message_id)
        write_json(self._path, {"counter": manifest.counter, "text_sha256": digest, "device_id": self.device_id})
        return desired

    def _check_device(self, manifest: ModelManifest) -> None:
        if (manifest.tenant, manifest.device_id) != (self.tenant, self.device_id):
            raise UpdateError("wrong_device", f"the manifest is for {manifest.tenant}/{manifest.device_id}, "
                                              f"this is {self.tenant}/{self.device_id}")

    def _check_fresh(self, manifest: ModelManifest, digest: str) -> None:
        last = self.accepted()
        if manifest.counter > last.counter or (manifest.counter == last.counter and digest == last.text_sha256):
            return
        same = "another manifest with the same counter" if manifest.counter == last.counter else "an older manifest"
        raise UpdateError("stale_manifest", f"counter {manifest.counter} is {same}; this device accepted "
                                            f"counter {last.counter} (anti-rollback)")


def _signed_parts(params: dict[str, Any]) -> tuple[str, bytes]:
    text, encoded = params.get(MANIFEST_PARAM), params.get(SIGNATURE_PARAM)
    if not isinstance(text, str) or not isinstance(encoded, str) or not text or not encoded:
        raise UpdateError("unsigned", f"the desired state carries no signed manifest "
                                      f"('{MANIFEST_PARAM}' and '{SIGNATURE_PARAM}')")
    if len(text.encode("utf-8")) > MAX_MANIFEST_BYTES:
        raise UpdateError("invalid_command", f"the manifest is over {MAX_MANIFEST_BYTES} bytes")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise UpdateError("bad_signature", "the manifest's signature is not base64") from None
    return text, signature
