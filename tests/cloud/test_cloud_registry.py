"""The model registry through the real HTTP API, on SQLite and PostgreSQL: register, list, download, verify."""

from __future__ import annotations

import base64
import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import onnx
import pytest
from cloudtest_support import Stores
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from onnx import TensorProto, helper
from registrytest_support import api_over, artifact, with_metadata

from cloud.api.byte_ranges import ByteRange, UnsatisfiableRangeError, parse_range
from cloud.auth.roles import Role
from cloud.errors import ConfigError
from cloud.registry.signing import load_signer, verify

OCTETS = {"content-type": "application/octet-stream"}


@pytest.fixture
def api(stores: Stores, sql_url: str) -> Iterator[httpx.Client]:
    """An operator: registers models and downloads their artifacts."""
    with api_over(stores, sql_url) as served:
        yield served.as_role(Role.OPERATOR)


def register(api: httpx.Client, content: bytes) -> httpx.Response:
    return api.post("/models", content=content, headers=OCTETS)


def test_a_registered_artifact_downloads_intact_and_its_signature_verifies(api: httpx.Client) -> None:
    content = artifact()
    created = register(api, content)
    assert created.status_code == 201, created.text
    model = created.json()
    assert (model["id"], model["version"], model["kind"], model["asset_kind"]) == ("pump-test", "1", "anomaly", "pump")
    assert model["sha256"] == hashlib.sha256(content).hexdigest()
    assert [c["name"] for c in model["input"]["channels"]][:2] == ["accel1_rms", "accel2_rms"]
    assert model["input"]["window"] == 9 and "mean" in model["input"]["normalisation"]
    assert model["threshold"] > 0 and model["training_fingerprint"] and "calibration_max_score" in model["metrics"]
    assert model["registered_by"] == "api_key:operator-acme"  # the caller's credential
    assert model["artifact_path"] == "/api/v1/models/pump-test/versions/1/artifact"  # a plain path, no link

    download = api.get("/models/pump-test/versions/1/artifact")
    assert download.status_code == 200 and download.content == content
    digest = download.headers["x-content-sha256"]
    assert digest == hashlib.sha256(download.content).hexdigest() == model["sha256"]
    key = api.get("/models/signing-key").json()
    assert key["algorithm"] == "Ed25519" and key["key_id"] == model["signing_key_id"]
    public = base64.b64decode(key["public_key"])
    signature = download.headers["x-signature-ed25519"]
    # What a device does with the pinned key (any Ed25519 implementation): verify over the raw digest.
    Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(signature), bytes.fromhex(digest))
    assert verify(public, digest, signature)
    assert not verify(public, hashlib.sha256(content + b"x").hexdigest(), signature)

    assert api.get("/models/pump-test/versions/1").json() == model
    assert register(api, content).status_code == 200  # a retried upload of the same bytes is harmless


def test_a_download_resumes_with_range_requests(api: httpx.Client) -> None:
    content = artifact()
    register(api, content)
    url = "/models/pump-test/versions/1/artifact"
    first = api.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == content[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{len(content)}"
    etag = first.headers["etag"]
    rest = api.get(url, headers={"Range": "bytes=100-", "If-Range": etag})
    assert rest.status_code == 206 and first.content + rest.content == content
    assert api.get(url, headers={"Range": "bytes=-10"}).content == content[-10:]
    stale = api.get(url, headers={"Range": "bytes=100-", "If-Range": '"something-else"'})
    assert stale.status_code == 200 and stale.content == content
    beyond = api.get(url, headers={"Range": f"bytes={len(content)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(content)}"


def test_versions_are_immutable(api: httpx.Client) -> None:
    assert register(api, artifact(seed=1)).status_code == 201
    conflict = register(api, artifact(seed=2))  # same id and version, other bytes
    assert conflict.status_code == 409 and "immutable" in conflict.json()["detail"]
    assert register(api, artifact(version="2", seed=2)).status_code == 201
    assert api.get("/models/pump-test/versions/1").json()["sha256"] == hashlib.sha256(artifact(seed=1)).hexdigest()


def test_an_invalid_artifact_is_refused_with_the_reason(api: httpx.Client) -> None:
    def refused(content: bytes) -> str:
        response = register(api, content)
        assert response.status_code == 422, response.text
        return str(response.json()["detail"])

    assert "onnxruntime cannot load" in refused(b"not an onnx file")
    assert "no 'paas.model' metadata" in refused(_bare_onnx())
    incomplete = with_metadata(artifact(), {}, drop=("threshold", "normalisation"))
    assert "lacks threshold, normalisation" in refused(incomplete)
    assert "kind 'vibes'" in refused(with_metadata(artifact(), {"kind": "vibes"}))
    assert "metadata says [N, 4, 8]" in refused(with_metadata(artifact(), {"window": 4}))
    assert "id 'bad id'" in refused(with_metadata(artifact(), {"id": "bad id"}))
    assert register(api, b"").status_code == 422
    assert register(api, b"x" * (1024 * 1024 + 1)).status_code == 413
    assert api.post("/models", content=artifact(), headers={"content-type": "application/json"}).status_code == 415
    assert api.get("/models").json() == []


def test_models_are_listed_by_kind_asset_kind_and_device(api: httpx.Client) -> None:
    register(api, artifact("pump-a", "1"))
    register(api, artifact("pump-a", "2"))
    register(api, with_metadata(artifact("turbo", "1"), {"asset_kind": "turbofan", "kind": "rul"}))
    listed = {(m["id"], m["version"]) for m in api.get("/models").json()}
    assert listed == {("pump-a", "1"), ("pump-a", "2"), ("turbo", "1")}
    assert [m["id"] for m in api.get("/models", params={"kind": "rul"}).json()] == ["turbo"]
    assert len(api.get("/models", params={"asset_kind": "pump"}).json()) == 2
    assert api.get("/models", params={"device": "pump-1"}).json() == []  # none was fitted for it
    assert api.get("/models/pump-a/versions/9").status_code == 404
    assert api.get("/models/pump-a/versions/9/artifact").status_code == 404


def test_the_signing_key_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    with pytest.raises(ConfigError, match="does not exist"):
        load_signer(path, create=False)
    first = load_signer(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_signer(path, create=False)
    assert again.public_key.raw == first.public_key.raw
    digest = hashlib.sha256(b"model").hexdigest()
    assert verify(first.public_key.raw, digest, again.sign(digest))
    path.write_text("not a key")
    with pytest.raises(ConfigError, match="cannot read"):
        load_signer(path, create=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=90-", ByteRange(90, 99)),
        ("bytes=95-200", ByteRange(95, 99)),
        ("bytes=-5", ByteRange(95, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole body
        ("items=0-1", None),
    ],
)
def test_range_headers_are_parsed(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=5-3", "bytes=-0"])
def test_unsatisfiable_ranges_are_refused(header: str) -> None:
    with pytest.raises(UnsatisfiableRangeError):
        parse_range(header, 100)


def _bare_onnx() -> bytes:
    """A valid ONNX graph with the platform's input but no `paas.model` metadata."""
    window = helper.make_tensor_value_info("window", TensorProto.FLOAT, [None, 4, 8])
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, [None])
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["window"], ["score"], axes=[1, 2], keepdims=0)], "bare", [window], [score]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
