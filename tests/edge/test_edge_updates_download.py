"""Resumable artifact download against a local HTTP server with Range support and signed links."""

from __future__ import annotations

import hashlib
import logging
import os
import random
from pathlib import Path

import pytest
from updatetest_support import artifact_server

from contract.backoff import Backoff
from edge.errors import UpdateError
from edge.updates.download import DownloadPolicy, fetch_artifact

CONTENT = os.urandom(300_000)
SHA = hashlib.sha256(CONTENT).hexdigest()
SECRET = "SECRET-TOKEN-123"


def quick_backoff() -> Backoff:
    return Backoff(base_s=0.001, cap_s=0.01, rng=random.Random(1))


def test_a_download_is_verified_and_named_by_its_digest(tmp_path: Path) -> None:
    with artifact_server() as server:
        url = server.add("model.onnx", CONTENT)
        path = fetch_artifact(url, SHA, tmp_path, quick_backoff())
    assert path == tmp_path / f"{SHA}.onnx" and path.read_bytes() == CONTENT
    assert server.ranges == [None] and not (tmp_path / f"{SHA}.part").exists()


def test_a_partial_file_is_resumed_with_a_range_request(tmp_path: Path) -> None:
    (tmp_path / f"{SHA}.part").write_bytes(CONTENT[:123_456])
    with artifact_server() as server:
        path = fetch_artifact(server.add("m.onnx", CONTENT), SHA, tmp_path, quick_backoff())
    assert server.ranges == ["bytes=123456-"]
    assert path.read_bytes() == CONTENT


def test_a_dropped_connection_is_retried_from_where_it_broke(tmp_path: Path) -> None:
    with artifact_server() as server:
        server.cut_after = 100_000
        path = fetch_artifact(server.add("m.onnx", CONTENT), SHA, tmp_path, quick_backoff(),
                              DownloadPolicy(chunk_bytes=8192))
    assert path.read_bytes() == CONTENT
    assert server.ranges[0] is None and server.ranges[1] is not None
    assert int(server.ranges[1].removeprefix("bytes=").rstrip("-")) >= 90_000  # what arrived was kept


def test_a_server_ignoring_the_range_restarts_the_file(tmp_path: Path) -> None:
    (tmp_path / f"{SHA}.part").write_bytes(CONTENT[:5000])
    with artifact_server() as server:
        server.ignore_range = True
        path = fetch_artifact(server.add("m.onnx", CONTENT), SHA, tmp_path, quick_backoff())
    assert path.read_bytes() == CONTENT


def test_a_complete_part_left_by_a_crash_is_accepted_on_416(tmp_path: Path) -> None:
    (tmp_path / f"{SHA}.part").write_bytes(CONTENT)
    with artifact_server() as server:
        path = fetch_artifact(server.add("m.onnx", CONTENT), SHA, tmp_path, quick_backoff())
    assert path.read_bytes() == CONTENT


def test_wrong_bytes_are_deleted_and_refused(tmp_path: Path) -> None:
    with artifact_server() as server, pytest.raises(UpdateError) as refused:
        fetch_artifact(server.add("m.onnx", CONTENT[:-1] + b"!"), SHA, tmp_path, quick_backoff())
    assert refused.value.reason == "sha256_mismatch"
    assert list(tmp_path.iterdir()) == []


def test_the_size_cap_and_http_errors_are_final(tmp_path: Path) -> None:
    with artifact_server() as server:
        url = server.add("m.onnx", CONTENT)
        with pytest.raises(UpdateError) as too_large:
            fetch_artifact(url, SHA, tmp_path, quick_backoff(), DownloadPolicy(max_bytes=1000))
        with pytest.raises(UpdateError) as missing:
            fetch_artifact(f"{server.url}/nothing.onnx", SHA, tmp_path, quick_backoff())
    assert too_large.value.reason == "too_large" and missing.value.reason == "download"
    assert server.ranges == [None]  # the 404 was not retried (it never reached the recorder either)


def test_an_unreachable_server_fails_after_the_attempts(tmp_path: Path) -> None:
    with pytest.raises(UpdateError) as failed:
        fetch_artifact("http://127.0.0.1:9/m.onnx", SHA, tmp_path, quick_backoff(), DownloadPolicy(attempts=3))
    assert failed.value.reason == "download" and "after 3 attempts" in str(failed.value)
    with pytest.raises(UpdateError, match="bad_url"):
        fetch_artifact("file:///etc/passwd", SHA, tmp_path, quick_backoff())


@pytest.mark.parametrize("code", [401, 403])
def test_a_refused_link_is_final_and_says_so_without_its_token(tmp_path: Path, code: int) -> None:
    with artifact_server() as server:
        server.token = SECRET
        url = server.add("m.onnx", CONTENT)
        server.token, server.refuse_code = "rotated", code  # the link expired or was revoked
        with pytest.raises(UpdateError) as refused:
            fetch_artifact(url, SHA, tmp_path, quick_backoff())
    assert refused.value.reason == "link_refused"
    assert f"HTTP {code}: expired or revoked" in str(refused.value) and "new desired state" in str(refused.value)
    assert SECRET not in str(refused.value)
    assert server.requests == [f"/m.onnx?token={SECRET}"]  # asked once: not retried


def test_no_download_outcome_shows_the_links_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="edge")
    messages: list[str] = []

    def fails(url: str, reason: str, sha: str = SHA) -> None:
        with pytest.raises(UpdateError) as failed:
            fetch_artifact(url, sha, tmp_path / "failed", quick_backoff(), DownloadPolicy(attempts=2))
        assert failed.value.reason == reason
        messages.append(str(failed.value))

    with artifact_server() as server:
        server.token = SECRET
        url = server.add("api/v1/models/m/versions/2/artifact", CONTENT)
        fails(f"{server.url}/api/v1/models/m/versions/9/artifact?token={SECRET}", "download")  # 404
        fails(f"http://127.0.0.1:9/artifact?token={SECRET}", "download")  # unreachable, retried
        fails(f"{url} x", "download")  # a space: http.client's InvalidURL quotes the path and query
        fails(f"ftp://127.0.0.1/artifact?token={SECRET}", "bad_url")
        fails(url, "sha256_mismatch", hashlib.sha256(b"other").hexdigest())
        server.token = "rotated"
        fails(url, "link_refused")
        server.token, server.cut_after = SECRET, 100_000  # a dropped connection, then a success
        assert fetch_artifact(url, SHA, tmp_path / "ok", quick_backoff()).read_bytes() == CONTENT
    shown = "\n".join([*messages, caplog.text])
    assert SECRET not in shown
    assert f"{server.url}/api/v1/models/m/versions/9/artifact?…: HTTP 404" in shown  # still says which link
    assert sum("download_retry" in r.getMessage() for r in caplog.records) >= 3  # the logs were captured
