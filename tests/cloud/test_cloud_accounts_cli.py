"""`python -m cloud users|api-keys|customers|technicians` as an operator runs them, against SQLite and PostgreSQL.

What the CLI prints is tried against a running service on the same database: the key
and the password must sign in as the right tenant and role, and a revoked key must not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from authtest_support import bearer
from cloudtest_support import service_settings

from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from cloud.store.account_tables import AuditRow
from cloud.store.database import Database

PASSWORD = "an operator's chosen passphrase"


def cloud_cli(*args: str, cwd: Path, db: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m cloud ARGS [--db DB]` with no PAAS_* variable from the test's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_")}
    command = [sys.executable, "-m", "cloud", *args, *(["--db", db] if db else [])]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def service(sql_url: str, mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[CloudService]:
    """The cloud service on the database the CLI writes to (its key files in the test's folder)."""
    data = tmp_path / "cloud"
    settings = service_settings(mosquitto.url, data, db_url=sql_url, signing_key_file=data / "signing-key.pem",
                                auth_secret_file=data / "auth-secret")
    with CloudService(settings) as cloud:
        yield cloud


def me(service: CloudService, credential: str) -> httpx.Response:
    return httpx.get(f"{service.api_url}/api/v1/auth/me", headers=bearer(credential), timeout=10)


def sign_in(service: CloudService, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{service.api_url}/api/v1/auth/token", timeout=10,
                      data={"grant_type": "password", "username": username, "password": password})


def audit(sql_url: str) -> list[AuditRow]:
    database = Database(sql_url)
    try:
        with database.session() as session:
            return list(session.scalars(sa.select(AuditRow).order_by(AuditRow.id)))
    finally:
        database.close()


def test_a_printed_api_key_works_until_it_is_revoked(service: CloudService, sql_url: str, tmp_path: Path) -> None:
    created = cloud_cli("api-keys", "create", "--tenant", "acme", "--role", "operator", "--name", "ci-bot",
                        cwd=tmp_path, db=sql_url)
    key = last_line(created)
    assert key.startswith("paas_") and key not in created.stderr
    answer = me(service, key)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["tenant"], answer.json()["role"], answer.json()["name"]) == ("acme", "operator", "ci-bot")
    listed = cloud_cli("api-keys", "list", "--tenant", "acme", cwd=tmp_path, db=sql_url)
    key_id = key.split("_")[1]
    assert key_id in listed.stdout and key.split("_", 2)[2] not in listed.stdout  # the id, never the secret

    revoked = cloud_cli("api-keys", "revoke", key, cwd=tmp_path, db=sql_url)  # the whole key works as well as its id
    assert revoked.returncode == 0 and f"revoked API key {key_id}" in revoked.stdout, revoked.stderr
    assert me(service, key).status_code == 401
    again = cloud_cli("api-keys", "revoke", key_id, cwd=tmp_path, db=sql_url)
    assert again.returncode == 0 and "already revoked" in again.stdout
    entries = [(e.action, e.object_type, e.object_id, e.actor_kind) for e in audit(sql_url)]
    assert ("create", "api_key", key_id, "cli") in entries and entries.count(("revoke", "api_key", key_id, "cli")) == 1
    assert all(key.split("_", 2)[2] not in str((e.before, e.after)) for e in audit(sql_url))


def test_a_user_signs_in_with_the_password_from_its_file_or_the_printed_one(
    service: CloudService, sql_url: str, tmp_path: Path
) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")  # the trailing newline of `echo ... > file` is not part of it
    chosen = cloud_cli("users", "create", "--tenant", "acme", "--role", "planner", "--name", "pia",
                       "--password-file", str(password_file), cwd=tmp_path, db=sql_url)
    assert chosen.returncode == 0 and PASSWORD not in chosen.stdout + chosen.stderr, chosen.stderr
    token = sign_in(service, "pia", PASSWORD)
    assert token.status_code == 200, token.text
    assert me(service, token.json()["access_token"]).json()["role"] == "planner"

    generated = cloud_cli("users", "create", "--tenant", "acme", "--role", "customer", "--name", "carol",
                          cwd=tmp_path, db=sql_url)
    password = last_line(generated)
    assert "created customer 'carol'" in generated.stdout  # a customer account needs its customer record
    carol = me(service, sign_in(service, "carol", password).json()["access_token"]).json()
    assert (carol["tenant"], carol["role"]) == ("acme", "customer") and carol["customer_id"] is not None
    listed = cloud_cli("users", "list", cwd=tmp_path, db=sql_url)
    assert "carol" in listed.stdout and password not in listed.stdout and PASSWORD not in listed.stdout
    made = [(e.action, e.after["username"] if e.after else None, e.actor_kind) for e in audit(sql_url)
            if e.object_type == "user" and e.action == "create"]
    assert made == [("create", "pia", "cli"), ("create", "carol", "cli")]
    assert all(PASSWORD not in str((e.before, e.after)) and password not in str((e.before, e.after))
               for e in audit(sql_url))


def test_directory_records_bind_accounts_of_their_tenant_only(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    customer = last_line(cloud_cli("customers", "create", "--tenant", "acme", "--name", "Pumps Ltd", cwd=tmp_path,
                                   db=db))
    technician = last_line(cloud_cli("technicians", "create", "--tenant", "acme", "--name", "Tom", cwd=tmp_path,
                                     db=db))
    assert customer.isdigit() and technician.isdigit()
    bound = cloud_cli("api-keys", "create", "--tenant", "acme", "--role", "customer", "--name", "portal",
                      "--customer", customer, cwd=tmp_path, db=db)
    assert bound.returncode == 0 and "created customer" not in bound.stdout
    assert cloud_cli("users", "create", "--tenant", "acme", "--role", "technician", "--name", "tom",
                     "--technician", technician, cwd=tmp_path, db=db).returncode == 0
    elsewhere = cloud_cli("users", "create", "--tenant", "other", "--role", "customer", "--name", "eve",
                          "--customer", customer, cwd=tmp_path, db=db)
    assert elsewhere.returncode == 2
    assert f"error: customer {customer} does not exist in tenant other" in elsewhere.stderr
    assert "omit --customer" in elsewhere.stderr  # and what to do instead
    users = cloud_cli("users", "list", cwd=tmp_path, db=db).stdout
    assert "tom" in users and "eve" not in users  # the refused command changed nothing


@pytest.mark.parametrize(("args", "says"), [
    (["users", "create", "--tenant", "acme", "--role", "viewer", "--name", "vic"], "the username 'vic' is taken"),
    (["users", "create", "--tenant", "acme", "--role", "viewer", "--name", "x", "--password-file", "short"],
     "the password in short is refused"),
    (["users", "create", "--tenant", "acme", "--role", "viewer", "--name", "x", "--password-file", "empty"],
     "the password file empty is empty"),
    (["users", "create", "--tenant", "acme", "--role", "viewer", "--name", "x", "--password-file", "missing"],
     "cannot read the password file missing"),
    (["users", "create", "--tenant", "acme", "--name", "x"], "give the account's --role"),
    (["users", "create", "--platform-admin", "--role", "viewer", "--name", "x"], "a platform admin is an admin"),
    (["api-keys", "create", "--tenant", "acme", "--role", "viewer", "--name", "k", "--customer", "1"],
     "--customer is only for --role customer"),
    (["api-keys", "revoke", "0123456789ab"], "API key '0123456789ab' does not exist"),
    (["customers", "create", "--tenant", "acme", "--name", "vic"], "a customer named 'vic' already exists"),
])
def test_refusals_say_what_is_wrong_and_exit_2(args: list[str], says: str, refusals_dir: Path) -> None:
    result = cloud_cli(*args, cwd=refusals_dir, db=f"sqlite:///{refusals_dir / 'cloud.db'}")
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("error: ") and says in result.stderr, result.stderr
    assert result.stdout == ""


@pytest.fixture(scope="module")
def refusals_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the customer user 'vic' (and so the customer record 'vic'), and bad password files."""
    folder = tmp_path_factory.mktemp("refusals")
    (folder / "short").write_text("too short\n")
    (folder / "empty").write_text("\n")
    made = cloud_cli("users", "create", "--tenant", "acme", "--role", "customer", "--name", "vic", cwd=folder,
                     db=f"sqlite:///{folder / 'cloud.db'}")
    assert made.returncode == 0, made.stderr
    return folder


def test_without_db_the_cli_uses_the_database_serve_uses(tmp_path: Path) -> None:
    made = cloud_cli("users", "create", "--platform-admin", "--name", "root", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "across every tenant" in made.stdout
    assert (tmp_path / "var" / "cloud" / "cloud.db").is_file()  # serve's default, PAAS_DB unset
    assert "root" in cloud_cli("users", "list", cwd=tmp_path, db=f"sqlite:///{tmp_path}/var/cloud/cloud.db").stdout
