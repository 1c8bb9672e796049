"""The pure-Python Ed25519 verifier against RFC 8032's test vectors and signatures made by `cryptography`."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.updates.ed25519 import verify

# RFC 8032, section 7.1: TEST 1, 2 and 3 (secret key, public key, message, signature; hex).
RFC8032_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]
_L = 2**252 + 27742317777372353535851937790883648493


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032_VECTORS)
def test_rfc8032_vectors_verify_and_match_cryptography(secret: str, public: str, message: str, signature: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw.hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature  # Ed25519 signatures are deterministic
    assert verify(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature))


def test_signatures_of_cryptography_verify_and_tampering_is_refused() -> None:
    for size in (0, 1, 32, 200):
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        message = os.urandom(size)
        signature = key.sign(message)
        assert verify(public, message, signature)
        assert not verify(public, message + b"x", signature)
        for index in (0, 31, 32, 63):  # R and S halves
            bad = bytearray(signature)
            bad[index] ^= 0x01
            assert not verify(public, message, bytes(bad))
        other = Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert not verify(other, message, signature)


def test_malformed_inputs_are_refused_not_raised() -> None:
    secret, public, message, signature = (bytes.fromhex(v) for v in RFC8032_VECTORS[1])
    assert not verify(public[:31], message, signature)
    assert not verify(public, message, signature[:63])
    # S + L is the same scalar mod L, but RFC 8032 requires S < L (no malleability).
    s = int.from_bytes(signature[32:], "little") + _L
    assert not verify(public, message, signature[:32] + s.to_bytes(32, "little"))
    # A y coordinate with no point on the curve (y = 2) cannot be decoded.
    assert not verify((2).to_bytes(32, "little"), message, signature)
    assert secret  # the vector's secret is unused here
