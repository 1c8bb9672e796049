"""The key that signs access tokens and artifact links: configured, or created for a developer.

`PAAS_AUTH_SECRET` (or the file `PAAS_AUTH_SECRET_FILE`, default `auth-secret` beside the
SQLite database) holds it. In `PAAS_ENV=local` a missing key is generated, written with
owner-only permissions and announced as a warning, so `cloud serve` and the demo start
with no set-up. In `staging` and `production` a missing, short or well-known key refuses
to start: tokens signed with a guessable key are forgeries waiting to happen.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from cloud.errors import ConfigError
from cloud.secret_files import create_private
from cloud.settings import CloudSettings, Environment

log = logging.getLogger(__name__)

MIN_SECRET_CHARS = 32
# Placeholders people paste from examples; refused outside `local` whatever their length.
KNOWN_DEFAULTS = frozenset({
    "changeme", "change-me", "changethis", "secret", "default", "password", "paas", "development",
    "change-me-to-a-long-random-string", "please-change-me-to-a-long-random-string",
})


def load_auth_secret(settings: CloudSettings) -> bytes:
    """The signing key as bytes; `ConfigError` naming the variable when it is missing or weak where that matters."""
    if settings.auth_secret is not None:
        return _checked(settings.auth_secret.get_secret_value(), "PAAS_AUTH_SECRET", settings.env)
    path = settings.auth_secret_path
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the auth secret {path}: {exc.strerror}") from None
        return _checked(text, f"the auth secret file {path}", settings.env)
    if settings.env is not Environment.LOCAL:
        raise ConfigError(
            f"PAAS_ENV={settings.env.value} needs PAAS_AUTH_SECRET or PAAS_AUTH_SECRET_FILE ({path} does not exist); "
            "create one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return _generate(path)


def _checked(value: str, where: str, env: Environment) -> bytes:
    if env is not Environment.LOCAL:
        if value.strip().lower() in KNOWN_DEFAULTS:
            raise ConfigError(f"{where} is a well-known placeholder; set a random one (PAAS_ENV={env.value})")
        if len(value) < MIN_SECRET_CHARS:
            raise ConfigError(f"{where} is shorter than {MIN_SECRET_CHARS} characters (PAAS_ENV={env.value})")
    if not value:
        raise ConfigError(f"{where} is empty")
    return value.encode("utf-8")


def _generate(path: Path) -> bytes:
    value = secrets.token_urlsafe(48)
    if not create_private(path, (value + "\n").encode("utf-8"), "the auth secret"):
        return path.read_text(encoding="utf-8").strip().encode("utf-8")  # another process made it first
    log.warning("PAAS_ENV=local: generated the auth secret %s (0600); set PAAS_AUTH_SECRET_FILE in production", path)
    return value.encode("utf-8")
