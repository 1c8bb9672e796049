"""E-mail notifications over SMTP: plain (a local relay), STARTTLS or TLS (certificate checked), with a login.

The password is read from a file (`PAAS_SMTP_PASSWORD_FILE`) at each connection, so a
rotated password is picked up without a restart, and it never appears in a setting, a
log line or an error. Each message carries `Message-ID: <delivery id@domain>`, the same
on every attempt: a mail system (or a person's client) can recognise a repeat sent after
a crash between the server's acceptance and the outbox's record of it.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path

from cloud.errors import ConfigError, DeliveryError
from cloud.notify.notifier import OutgoingMessage
from cloud.settings import CloudSettings, SmtpSecurity
from contract.clock import Clock

DEFAULT_PORTS = {SmtpSecurity.NONE: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465}


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to hand mail over; `host` empty means e-mail is not configured."""

    host: str
    port: int
    sender: str
    security: SmtpSecurity = SmtpSecurity.NONE
    username: str = ""
    password_file: Path | None = None
    ca_file: Path | None = None  # None: the system's CA store
    timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> SmtpConfig:
        """The settings' SMTP server; `ConfigError` for a login without a password file or an unreadable one."""
        if settings.smtp_username and settings.smtp_password_file is None:
            raise ConfigError("PAAS_SMTP_USERNAME is set: PAAS_SMTP_PASSWORD_FILE must name the password's file")
        if settings.smtp_password_file is not None and not settings.smtp_password_file.is_file():
            raise ConfigError(f"PAAS_SMTP_PASSWORD_FILE: {settings.smtp_password_file} is not a readable file")
        security = settings.smtp_security
        return cls(settings.smtp_host, settings.smtp_port or DEFAULT_PORTS[security], settings.smtp_from, security,
                   settings.smtp_username, settings.smtp_password_file, settings.smtp_ca_file)


class EmailNotifier:
    """Sends `OutgoingMessage`s as plain-text e-mail through one SMTP server."""

    def __init__(self, config: SmtpConfig, clock: Clock) -> None:
        self._config, self._clock = config, clock
        domain = parseaddr(config.sender)[1].rpartition("@")[2]
        self._domain = domain or "paas.invalid"

    def send(self, message: OutgoingMessage) -> None:
        config = self._config
        if not config.host:
            raise DeliveryError("no SMTP server is configured (PAAS_SMTP_HOST)")
        where = f"SMTP {config.host}:{config.port}"
        try:
            with self._connect() as smtp:
                smtp.send_message(self._mail(message))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            raise DeliveryError(f"{where} refused the recipient ({', '.join(map(str, codes))})",
                                permanent=all(500 <= code < 600 for code in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{where} answered {exc.smtp_code}: {_text(exc.smtp_error)}") from exc
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        config = self._config
        if config.security is SmtpSecurity.TLS:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s,
                                                  context=self._tls())
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
        try:
            if config.security is SmtpSecurity.STARTTLS:
                smtp.starttls(context=self._tls())
            if config.username:
                smtp.login(config.username, self._password())
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _tls(self) -> ssl.SSLContext:
        """Certificate and host name checked, against PAAS_SMTP_CA_FILE or the system's CA store."""
        ca_file = self._config.ca_file
        return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))

    def _password(self) -> str:
        path = self._config.password_file
        if path is None:
            raise DeliveryError("PAAS_SMTP_USERNAME is set but PAAS_SMTP_PASSWORD_FILE is not")
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DeliveryError(f"cannot read PAAS_SMTP_PASSWORD_FILE {path}: {exc.strerror or exc}") from None

    def _mail(self, message: OutgoingMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._config.sender
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(self._clock.time(), usegmt=True)
        mail["Message-ID"] = f"<{message.delivery_id}@{self._domain}>"
        mail["X-Paas-Delivery-Id"] = message.delivery_id
        mail.set_content(message.text)
        return mail


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:300]
