"""A development PKI: a private CA and a broker server certificate valid for the broker's host names.

Production brokers should use certificates of the operator's own CA; this one exists so that
every developer and test runs TLS with verification on (hostname check included) instead of
turning verification off. Keys are EC P-256, written 0600; certificates 0644 (public).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud.security.files import write_keeping_owner, write_private
from cloud.security.layout import SecurityLayout
from contract.clock import Clock

DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1")
CA_DAYS = 3650
SERVER_DAYS = 825  # the longest validity clients such as Apple's accept for a server certificate
CERT_MODE = 0o644  # certificates are public: the broker (as `mosquitto`) and the cloud both read them


def ensure_pki(layout: SecurityLayout, clock: Clock, hostnames: Sequence[str] = DEFAULT_HOSTNAMES) -> bool:
    """Create the CA unless it exists, and the server certificate unless one valid for every name of
    `hostnames` exists (a certificate missing a name is issued again, for its names and the new ones);
    True if anything was created."""
    created = False
    if not (layout.ca_cert.exists() and layout.ca_key.exists()):
        _write_ca(layout, clock)
        created = True
    present = _names_of(layout) if not created else None
    if present is None or not set(hostnames) <= set(present):
        names = list(dict.fromkeys([*hostnames, *(present or ())]))
        _write_server_cert(layout, clock, names)
        created = True
    return created


def _names_of(layout: SecurityLayout) -> list[str] | None:
    """The server certificate's names; None when it or its key is missing or unreadable."""
    if not layout.server_key.exists():
        return None
    try:
        cert = x509.load_pem_x509_certificate(layout.server_cert.read_bytes())
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None
    return [*alt.get_values_for_type(x509.DNSName), *(str(ip) for ip in alt.get_values_for_type(x509.IPAddress))]


def _write_ca(layout: SecurityLayout, clock: Clock) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "paas development CA")])
    now = dt.datetime.fromtimestamp(clock.time(), tz=dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(layout.ca_key, _key_pem(key))
    write_keeping_owner(layout.ca_cert, cert.public_bytes(serialization.Encoding.PEM), new_mode=CERT_MODE)


def _write_server_cert(layout: SecurityLayout, clock: Clock, hostnames: Sequence[str]) -> None:
    ca_key = serialization.load_pem_private_key(layout.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{layout.ca_key} is not an EC private key")
    ca_cert = x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.fromtimestamp(clock.time(), tz=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hostnames]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # The broker reads these as its own user: a new certificate keeps the owner the operator gave them.
    write_keeping_owner(layout.server_key, _key_pem(key))
    write_keeping_owner(layout.server_cert, cert.public_bytes(serialization.Encoding.PEM), new_mode=CERT_MODE)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
