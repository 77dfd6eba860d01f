"""TLS for the listeners: a server context from PEM files, and a CA with server and client certificates
generated with ``cryptography`` for tests and local development (EC P-256 keys: fast to make).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

#: ssl.client.auth -> what the server asks of client certificates
CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_VALID_DAYS = 825


@dataclass(frozen=True, slots=True)
class GeneratedCerts:
    directory: Path
    ca: Path
    ca_key: Path
    cert: Path
    key: Path


def server_context(certfile: str, keyfile: str | None, cafile: str | None, client_auth: str = "none"
                   ) -> ssl.SSLContext:
    """The server side of TLS 1.2+ with this certificate and key; client certificates per ``client_auth``,
    checked against ``cafile``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    ctx.verify_mode = CLIENT_AUTH[client_auth]
    if client_auth != "none":
        if cafile is None:
            raise ValueError("ssl.client.auth needs a CA file (ssl_cafile) to check client certificates with")
        ctx.load_verify_locations(cafile)
    return ctx


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _names(hosts: list[str]) -> list:
    from cryptography import x509

    out: list = []
    for h in dict.fromkeys([*hosts, "localhost", "127.0.0.1"]):
        if not h or h in ("0.0.0.0", "::"):
            continue
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _issue(subject: str, public_key, issuer_name, issuer_key, *, ca: bool, names: list | None = None,
           client: bool = False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name).public_key(public_key)
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if not ca:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _load_ca(directory: Path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((directory / "ca-key.pem").read_bytes(), None)
    return cert, key


def _covers(cert_path: Path, names: list) -> bool:
    """Whether the certificate there is still valid for a while and names every one of ``names``."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        have = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    return cert.not_valid_after_utc > soon and all(n in have for n in names)


def generate_certificates(directory: str, hosts: list[str]) -> GeneratedCerts:
    """A CA (``ca.pem``, ``ca-key.pem``) and a server certificate for ``hosts`` (and localhost, 127.0.0.1:
    ``server.pem``, ``server-key.pem``) in ``directory``. What is there already and still covers the hosts
    is kept, so clients configured with the CA keep working across restarts."""
    from cryptography.hazmat.primitives.asymmetric import ec

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = GeneratedCerts(d, d / "ca.pem", d / "ca-key.pem", d / "server.pem", d / "server-key.pem")
    names = _names(hosts)
    try:
        ca_cert, ca_key = _load_ca(d)
    except (OSError, ValueError, TypeError):
        from cryptography.hazmat.primitives import serialization

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _issue("kafkasim CA", ca_key.public_key(), None, ca_key, ca=True)
        _write(out.ca_key, _key_pem(ca_key), private=True)
        _write(out.ca, ca_cert.public_bytes(serialization.Encoding.PEM))
        _write(out.cert, b"")  # the server certificate must be remade under the new CA
    if not _covers(out.cert, names) or not out.key.exists():
        from cryptography.hazmat.primitives import serialization

        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue("kafkasim", key.public_key(), ca_cert.subject, ca_key, ca=False, names=names)
        _write(out.key, _key_pem(key), private=True)
        _write(out.cert, cert.public_bytes(serialization.Encoding.PEM))
    return out


def client_certificate(directory: str, common_name: str, *, subject: str | None = None) -> tuple[str, str]:
    """A client certificate for ``common_name``, signed by the CA in ``directory`` (made by
    :func:`generate_certificates`): (certfile, keyfile) paths ``client-<CN>.pem`` and ``client-<CN>-key.pem``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    d = Path(directory)
    ca_cert, ca_key = _load_ca(d)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(common_name, key.public_key(), ca_cert.subject, ca_key, ca=False, client=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in common_name)
    certfile, keyfile = d / f"client-{safe}.pem", d / f"client-{safe}-key.pem"
    _write(keyfile, _key_pem(key), private=True)
    _write(certfile, cert.public_bytes(serialization.Encoding.PEM))
    return str(certfile), str(keyfile)
