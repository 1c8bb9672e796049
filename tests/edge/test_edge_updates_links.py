"""How an artifact link is shown to people: the signed link's token never is."""

from __future__ import annotations

import pytest

from edge.updates.links import redact_url, scrub
from edge.updates.signing_key import signing_key_url

LINK = "https://cloud.example:8443/api/v1/models/pump/versions/2/artifact?token=eyJhbGciOi.eyJzdWIi.c2ln"


@pytest.mark.parametrize(("url", "shown"), [
    (LINK, "https://cloud.example:8443/api/v1/models/pump/versions/2/artifact?…"),
    ("http://127.0.0.1:8000/m.onnx", "http://127.0.0.1:8000/m.onnx"),
    ("https://user:pass@host/m.onnx?a=1#frag", "https://…@host/m.onnx?…#…"),
    ("https://host/m.onnx?", "https://host/m.onnx?…"),
    ("http://[::1/m.onnx?token=x", "<unparsable URL…>"),
])
def test_a_link_is_shown_without_its_query_user_info_or_fragment(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_message_quoting_the_link_or_its_parts_is_scrubbed() -> None:
    message = f"failed: {LINK}; URL can't contain control characters. '/artifact?token=eyJhbGciOi.eyJzdWIi.c2ln'"
    assert scrub(message, LINK) == (
        "failed: https://cloud.example:8443/api/v1/models/pump/versions/2/artifact?…; "
        "URL can't contain control characters. '/artifact?…'"
    )
    assert scrub("token%3D and eyJhbGciOi.eyJzdWIi.c2ln alone", LINK) == "token%3D and … alone"
    assert scrub("HTTP 404 Not Found", "http://host/m.onnx") == "HTTP 404 Not Found"


def test_the_signing_key_is_fetched_with_the_links_query() -> None:
    assert signing_key_url(LINK) == "https://cloud.example:8443/api/v1/models/signing-key?token=eyJhbGciOi.eyJzdWIi.c2ln"
    assert signing_key_url("http://127.0.0.1:8000/m.onnx") == "http://127.0.0.1:8000/api/v1/models/signing-key"
