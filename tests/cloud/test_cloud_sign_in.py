"""Sign-in, tokens and keys through the real API, the secret's start-up policy, and the HTTP hardening.

The service runs on a manual clock, so expiry and the sign-in throttle's window are
crossed by moving time on, not by waiting. Each test signs in afresh: moving the clock
ages every token issued before.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from authtest_support import TEST_PASSWORD, api_key, bearer, service_database, sign_in, user
from cloudtest_support import T0, service_settings
from pydantic import SecretStr
from service_support import private_mosquitto

from cloud.auth.roles import Role
from cloud.auth.secret_key import load_auth_secret
from cloud.auth.secrets import split_api_key
from cloud.auth.tokens import TokenIssuer
from cloud.broker import MosquittoBroker
from cloud.errors import ConfigError
from cloud.server import CloudService
from cloud.settings import CloudSettings, Environment
from contract.clock import ManualClock

TENANT = "acme"
MAX_FAILURES = 3
WINDOW_S = 600.0
MAX_BODY = 4096


@dataclass
class Api:
    service: CloudService
    broker: MosquittoBroker
    clock: ManualClock
    http: httpx.Client
    admin: dict[str, str]
    data_dir: Path

    def token(self, username: str, password: str = TEST_PASSWORD) -> dict[str, Any]:
        response = sign_in(self.service, username, password)
        assert response.status_code == 200, response.text
        pair: dict[str, Any] = response.json()
        return pair

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.http.post("/api/v1/auth/token", data={"grant_type": "refresh_token",
                                                          "refresh_token": refresh_token})

    def me(self, access_token: str) -> httpx.Response:
        return self.http.get("/api/v1/auth/me", headers=bearer(access_token))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data = tmp_path_factory.mktemp("sign-in")
    clock = ManualClock(T0)
    with private_mosquitto(data) as broker:
        settings = service_settings(broker.url, data / "cloud", sign_in_max_failures=MAX_FAILURES,
                                    sign_in_window_s=WINDOW_S, max_request_bytes=MAX_BODY)
        with CloudService(settings, clock=clock) as service, \
                httpx.Client(base_url=service.api_url, timeout=20.0) as http:
            database = service_database(service)
            for username, role in (("alice", Role.PLANNER), ("bob", Role.VIEWER), ("carol", Role.VIEWER),
                                   ("dave", Role.VIEWER), ("erin", Role.VIEWER)):
                user(database, username, TENANT, role)
            admin = bearer(api_key(database, TENANT, Role.ADMIN, "acme-admin"))
            yield Api(service, broker, clock, http, admin, data / "cloud")


def test_a_password_grant_gives_an_access_and_a_refresh_token_for_the_user(api: Api) -> None:
    pair = api.token("alice")
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 900
    assert pair["access_token"] != pair["refresh_token"]
    me = api.me(pair["access_token"]).json()
    assert (me["kind"], me["name"], me["tenant"], me["role"]) == ("user", "alice", TENANT, "planner")
    assert "work_orders:decide" in me["permissions"] and "accounts:write" not in me["permissions"]


def test_a_refresh_token_works_once_and_its_reuse_ends_the_whole_sign_in(api: Api) -> None:
    first = api.token("bob")
    rotated = api.refresh(first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert api.me(second["access_token"]).json()["name"] == "bob"
    replayed = api.refresh(first["refresh_token"])  # a copy of the used token: someone else has it
    assert replayed.status_code == 401 and replayed.headers["www-authenticate"] == "Bearer"
    assert api.refresh(second["refresh_token"]).status_code == 401  # the family is revoked, the thief's copy too
    other = api.token("bob")  # a new sign-in is a new family
    assert api.refresh(other["refresh_token"]).status_code == 200


def test_logout_ends_the_sign_in(api: Api) -> None:
    pair = api.token("carol")
    out = api.http.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]},
                        headers=bearer(pair["access_token"]))
    assert out.status_code == 204, out.text
    assert api.refresh(pair["refresh_token"]).status_code == 401


def test_an_access_token_expires_with_the_service_clock(api: Api) -> None:
    pair = api.token("alice")
    assert api.me(pair["access_token"]).status_code == 200
    api.clock.advance(api.service.settings.access_token_ttl_s + 60)  # past expiry and the 30 s of allowed skew
    expired = api.me(pair["access_token"])
    assert expired.status_code == 401 and expired.headers["www-authenticate"] == "Bearer"
    assert api.refresh(pair["refresh_token"]).status_code == 200  # what the refresh token is for


def test_a_deactivated_users_token_stops_working_at_once(api: Api) -> None:
    pair = api.token("dave")
    assert api.me(pair["access_token"]).status_code == 200
    users = {u["username"]: u["id"] for u in api.http.get("/api/v1/users", headers=api.admin).json()}
    assert api.http.post(f"/api/v1/users/{users['dave']}/deactivate", headers=api.admin).status_code == 200
    assert api.me(pair["access_token"]).status_code == 401
    assert api.refresh(pair["refresh_token"]).status_code == 401
    assert sign_in(api.service, "dave").status_code == 401


def test_wrong_passwords_are_401_then_429_until_the_window_passes(api: Api) -> None:
    wrong = sign_in(api.service, "erin", "not the password at all")
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert sign_in(api.service, "nobody-by-this-name", "whatever").status_code == 401  # same answer, no user list
    for _ in range(MAX_FAILURES - 1):
        assert sign_in(api.service, "erin", "still not it").status_code == 401
    throttled = sign_in(api.service, "erin")  # the right password, too late
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == str(int(WINDOW_S))
    api.clock.advance(WINDOW_S - 1)
    assert sign_in(api.service, "erin").status_code == 429
    api.clock.advance(2)
    assert sign_in(api.service, "erin").status_code == 200


def test_passwords_are_argon2id_and_keys_and_tokens_are_stored_only_as_digests(api: Api) -> None:
    database = service_database(api.service)
    key = api_key(database, TENANT, Role.VIEWER, "digest-check")
    pair = api.token("alice")
    assert api.http.get("/api/v1/auth/me", headers=bearer(key)).status_code == 200
    with database.session() as session:
        hashes = session.scalars(sa.text("SELECT password_hash FROM users")).all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    parts = split_api_key(key)
    assert parts is not None
    stored = b"".join(path.read_bytes() for path in sorted(api.data_dir.glob("cloud.db*")))  # with the WAL
    assert hashlib.sha256(parts[1].encode()).hexdigest().encode() in stored  # the digest is: we read the right bytes
    for secret in (key, parts[1], pair["refresh_token"], pair["access_token"], TEST_PASSWORD):
        assert secret.encode() not in stored


def test_a_revoked_api_key_is_refused(api: Api) -> None:
    key = api_key(service_database(api.service), TENANT, Role.VIEWER, "short-lived")
    assert api.http.get("/api/v1/assets", headers=bearer(key)).status_code == 200
    parts = split_api_key(key)
    assert parts is not None
    assert api.http.delete(f"/api/v1/api-keys/{parts[0]}", headers=api.admin).status_code == 200
    assert api.http.get("/api/v1/assets", headers=bearer(key)).status_code == 401
    assert api.http.get("/api/v1/assets", headers=bearer(key[:-2] + "xx")).status_code == 401  # a guessed variant


def test_only_the_services_own_tokens_of_the_right_kind_and_place_are_accepted(api: Api) -> None:
    users = {u["username"]: u["id"] for u in api.http.get("/api/v1/users", headers=api.admin).json()}
    forger = TokenIssuer(b"another secret that is long enough to look real", api.clock, 900.0, 3600.0)
    forged, _ttl = forger.access_token(users["alice"])
    assert api.me(forged).status_code == 401
    tokens = api.service.tokens
    assert tokens is not None
    link = tokens.artifact_token(TENANT, "pump-1", "pump-ae", "1")
    assert api.me(link).status_code == 401  # an artifact link is not an access token
    access = api.token("alice")["access_token"]
    assert api.me(access).status_code == 200
    assert api.http.get("/api/v1/auth/me", params={"token": access}).status_code == 401  # not in a URL
    assert api.http.get("/api/v1/models/signing-key", params={"token": access}).status_code == 401


def test_the_auth_secret_is_generated_owner_only_in_local_and_required_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = CloudSettings(db_url=f"sqlite:///{tmp_path / 'cloud.db'}", tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}")
    assert local.env is Environment.LOCAL
    made = load_auth_secret(local)
    assert len(made) >= 32
    assert stat.S_IMODE(os.stat(tmp_path / "auth-secret").st_mode) == 0o600
    assert load_auth_secret(local) == made  # kept: tokens survive a restart
    monkeypatch.setenv("PAAS_ENV", "production")
    monkeypatch.setenv("PAAS_DB", f"sqlite:///{tmp_path / 'prod' / 'cloud.db'}")
    monkeypatch.setenv("PAAS_TSDB", f"sqlite:///{tmp_path / 'prod' / 'ts.db'}")
    assert CloudSettings().env is Environment.PRODUCTION
    with pytest.raises(ConfigError, match="PAAS_AUTH_SECRET"):
        load_auth_secret(CloudSettings())
    for weak, why in (("changeme", "placeholder"), ("CHANGEME", "placeholder"), ("s3cr3t-but-short", "shorter")):
        with pytest.raises(ConfigError, match=why):
            load_auth_secret(CloudSettings(auth_secret=SecretStr(weak)))
    strong = "kQ9v2-" + os.urandom(24).hex()
    assert load_auth_secret(CloudSettings(auth_secret=SecretStr(strong))) == strong.encode()
    secret_file = tmp_path / "prod-secret"
    secret_file.write_text("changeme\n")
    with pytest.raises(ConfigError, match="placeholder"):
        load_auth_secret(CloudSettings(auth_secret_file=secret_file))


def test_the_service_refuses_to_start_in_production_without_a_secret(api: Api, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAAS_ENV", "production")
    settings = service_settings(api.broker.url, tmp_path / "prod", ingest_client_id="prod-ingest",
                                command_client_id="prod-commands")
    service = CloudService(settings)
    with pytest.raises(ConfigError, match="PAAS_ENV=production needs PAAS_AUTH_SECRET"):
        service.start()
    assert not service.running
    assert not (tmp_path / "prod" / "auth-secret").exists()


def test_a_request_for_another_host_is_refused(api: Api) -> None:
    assert api.http.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
    assert api.http.get("/api/v1/assets", headers={**api.admin, "Host": "evil.example"}).status_code == 400
    assert api.http.get("/healthz", headers={"Host": "localhost"}).status_code == 200


def test_bodies_over_the_limit_are_413_declared_or_streamed(api: Api) -> None:
    small = api.http.post("/api/v1/customers", json={"name": "Small Co"}, headers=api.admin)
    assert small.status_code == 201
    oversized = {"name": "x" * (MAX_BODY + 100)}
    declared = api.http.post("/api/v1/customers", json=oversized, headers=api.admin)
    assert declared.status_code == 413, declared.text

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(MAX_BODY // 512 + 2):
            yield b"y" * 512
        yield b'"}'

    streamed = api.http.post("/api/v1/customers", content=chunks(),
                             headers={**api.admin, "Content-Type": "application/json"})
    assert streamed.request.headers.get("transfer-encoding") == "chunked"
    assert streamed.status_code == 413, streamed.text
    names = {c["name"] for c in api.http.get("/api/v1/customers", headers=api.admin).json()}
    assert names == {"Small Co"}


def test_cors_is_off_unless_origins_are_configured(api: Api, tmp_path: Path) -> None:
    cross = {"Origin": "http://evil.example"}
    plain = api.http.get("/healthz", headers=cross)
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers
    preflight = api.http.options("/api/v1/assets", headers={**cross, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers
    settings = service_settings(api.broker.url, tmp_path / "cors", cors_origins="https://dash.example",
                                ingest_client_id="cors-ingest", command_client_id="cors-commands")
    with CloudService(settings, clock=api.clock) as service:
        allowed = httpx.get(f"{service.api_url}/healthz", headers={"Origin": "https://dash.example"})
        assert allowed.headers.get("access-control-allow-origin") == "https://dash.example"
        refused = httpx.get(f"{service.api_url}/healthz", headers=cross)
        assert "access-control-allow-origin" not in refused.headers
