"""Where a device fetches an artifact: the artifact's path, and the signed, expiring link a device is sent.

A device has no account; the link it receives in `set_desired_state` carries a token
(cloud.auth.tokens) that lets this one device fetch this one model version (and the
signing key) until it expires. Responses to people show the plain path, never a link.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from cloud.auth.tokens import TokenIssuer
from cloud.store.tables import AssetRow, ModelArtifactRow

API_PREFIX = "/api/v1"
LINK_PARAM = "token"


def artifact_path(model_id: str, version: str) -> str:
    return f"{API_PREFIX}/models/{quote(model_id, safe='')}/versions/{quote(version, safe='')}/artifact"


@dataclass(frozen=True)
class ArtifactLinks:
    """Mints artifact links under `base_url` (PAAS_PUBLIC_API_URL, or the URL the API answers on)."""

    base_url: str
    tokens: TokenIssuer

    def plain_url(self, model_id: str, version: str) -> str:
        return self.base_url.rstrip("/") + artifact_path(model_id, version)

    def link(self, asset: AssetRow, model: ModelArtifactRow) -> str:
        token = self.tokens.artifact_token(asset.tenant, asset.device_id, model.model_id, model.version)
        return f"{self.plain_url(model.model_id, model.version)}?{urlencode({LINK_PARAM: token})}"
