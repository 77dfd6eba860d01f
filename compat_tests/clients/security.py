"""Security settings for every client the compat tests drive: TLS material, unsecured OAUTHBEARER tokens, and one
config builder per client for (protocol, mechanism, user, password, CA, client certificate).

- :class:`Auth` says how a client connects: ``protocol`` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), ``mechanism``
  (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER), ``user``/``password`` (for OAUTHBEARER ``user`` is the
  token's ``sub``), ``cafile`` and a client certificate (``certfile``/``keyfile``).
- ``kafka_python(auth)``, ``aiokafka(auth)``, ``confluent(auth)``, ``kafkajs(auth)``, ``kcat(auth)``: the
  settings each client takes (kwargs for kafka-python and aiokafka, librdkafka properties for confluent-kafka,
  the driver.js ``ssl``/``sasl`` fields for kafkajs, ``-X`` arguments for kcat).
- :func:`unsecured_jws`: Kafka's unsecured JWS (header ``{"alg":"none"}``, claims sub, iat, exp; ``h.p.``).
- TLS: :func:`generate_ca_and_server` writes ``ca.pem``, ``ca-key.pem``, ``server.pem``, ``server-key.pem`` (the
  names kafkasim's ``ssl_generate_dir`` uses) for a reference broker; :func:`client_certificate` makes a client
  certificate signed by the CA of such a directory: kafkasim's own
  ``kafkasim.security.tls.client_certificate`` once it exists, this module's fallback (which needs ``ca-key.pem``)
  until then.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USERS = {"alice": "alice-secret", "admin": "admin-secret"}
SCRAM = ("SCRAM-SHA-256", "SCRAM-SHA-512")
PASSWORD_MECHANISMS = ("PLAIN", *SCRAM)


@dataclass(frozen=True)
class Auth:
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    user: str | None = None
    password: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL")

    def token(self) -> str:
        return unsecured_jws(self.user or "alice")


# --- OAUTHBEARER ---------------------------------------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsecured_jws(sub: str, lifetime_s: int = 3600, **claims: Any) -> str:
    """An unsecured JWS as Kafka's OAuthBearerUnsecuredJws accepts it: ``base64url(header).base64url(claims).``"""
    now = int(time.time())
    body = {"sub": sub, "iat": now, "exp": now + lifetime_s, **claims}
    header = _b64url(json.dumps({"alg": "none"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(body, separators=(",", ":")).encode())
    return f"{header}.{payload}."


# --- kafka-python, aiokafka ---------------------------------------------------------------------------------

def kafka_python(auth: Auth) -> dict[str, Any]:
    from kafka.net.sasl.oauth import AbstractTokenProvider

    class _Token(AbstractTokenProvider):  # type: ignore[misc]
        def token(self) -> str:
            return auth.token()

    cfg: dict[str, Any] = {"security_protocol": auth.protocol}
    if auth.tls:
        cfg.update(ssl_cafile=auth.cafile, ssl_certfile=auth.certfile, ssl_keyfile=auth.keyfile)
    if auth.sasl:
        cfg["sasl_mechanism"] = auth.mechanism
        if auth.mechanism == "OAUTHBEARER":
            cfg["sasl_oauth_token_provider"] = _Token()
        else:
            cfg.update(sasl_plain_username=auth.user, sasl_plain_password=auth.password)
    return cfg


def aiokafka(auth: Auth) -> dict[str, Any]:
    """aiokafka kwargs (build them inside the running event loop's thread: the token provider is async)."""
    from aiokafka.abc import AbstractTokenProvider
    from aiokafka.helpers import create_ssl_context

    class _Token(AbstractTokenProvider):  # type: ignore[misc]
        async def token(self) -> str:
            return auth.token()

    cfg: dict[str, Any] = {"security_protocol": auth.protocol}
    if auth.tls:
        cfg["ssl_context"] = create_ssl_context(cafile=auth.cafile, certfile=auth.certfile, keyfile=auth.keyfile)
    if auth.sasl:
        cfg["sasl_mechanism"] = auth.mechanism
        if auth.mechanism == "OAUTHBEARER":
            cfg["sasl_oauth_token_provider"] = _Token()
        else:
            cfg.update(sasl_plain_username=auth.user, sasl_plain_password=auth.password)
    return cfg


# --- librdkafka: confluent-kafka and kcat -------------------------------------------------------------------

def librdkafka(auth: Auth) -> dict[str, str]:
    """librdkafka properties; OAUTHBEARER through librdkafka's own unsecured JWS builder (principal=USER)."""
    cfg = {"security.protocol": auth.protocol}
    if auth.tls:
        if auth.cafile:
            cfg["ssl.ca.location"] = auth.cafile
        if auth.certfile:
            cfg["ssl.certificate.location"] = auth.certfile
            cfg["ssl.key.location"] = str(auth.keyfile)
    if auth.sasl:
        cfg["sasl.mechanisms"] = str(auth.mechanism)
        if auth.mechanism == "OAUTHBEARER":
            cfg["enable.sasl.oauthbearer.unsecure.jwt"] = "true"
            cfg["sasl.oauthbearer.config"] = f"principal={auth.user} lifeSeconds=3600"
        else:
            cfg.update({"sasl.username": str(auth.user), "sasl.password": str(auth.password)})
    return cfg


def confluent(auth: Auth) -> dict[str, Any]:
    return dict(librdkafka(auth))


def kcat(auth: Auth) -> list[str]:
    """kcat's ``-X name=value`` arguments (pass as ``extra`` to compat_tests/clients/kcat.py)."""
    args: list[str] = []
    for name, value in librdkafka(auth).items():
        args += ["-X", f"{name}={value}"]
    return args


# --- kafkajs --------------------------------------------------------------------------------------------------

def kafkajs(auth: Auth) -> dict[str, Any]:
    """driver.js fields: ``ssl`` {ca, cert, key: PEM file paths} and ``sasl`` {mechanism, username, password} or
    {mechanism: "oauthbearer", token}."""
    cmd: dict[str, Any] = {}
    if auth.tls:
        cmd["ssl"] = {k: v for k, v in (("ca", auth.cafile), ("cert", auth.certfile), ("key", auth.keyfile)) if v}
    if auth.sasl:
        mech = str(auth.mechanism).lower()
        if mech == "oauthbearer":
            cmd["sasl"] = {"mechanism": mech, "token": auth.token()}
        else:
            cmd["sasl"] = {"mechanism": mech, "username": auth.user, "password": auth.password}
    return cmd


# --- TLS material ---------------------------------------------------------------------------------------------

def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    # PKCS#8, unencrypted: what Java's PEM keystore (ssl.keystore.type=PEM) reads without a key password
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, sans: list[x509.GeneralName] | None = None,
          client: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                        critical=True)
    else:
        usage = x509.oid.ExtendedKeyUsageOID
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([usage.CLIENT_AUTH] if client else [usage.SERVER_AUTH, usage.CLIENT_AUTH]),
            critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def generate_ca_and_server(directory: str | Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Path:
    """Write ca.pem, ca-key.pem, server.pem, server-key.pem and server-keystore.pem (key then chain, for Java's
    PEM keystore) into ``directory``; return it."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ca_key, server_key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kafkasim compat test CA")])
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    server = _cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]), server_key, ca_name, ca_key,
                   ca=False, sans=sans)
    (out / "ca.pem").write_bytes(_pem(ca))
    _write_key(out / "ca-key.pem", ca_key)
    (out / "server.pem").write_bytes(_pem(server) + _pem(ca))
    _write_key(out / "server-key.pem", server_key)
    (out / "server-keystore.pem").write_bytes((out / "server-key.pem").read_bytes() + _pem(server) + _pem(ca))
    return out


def _own_client_certificate(directory: str | Path, common_name: str) -> tuple[str, str]:
    d = Path(directory)
    ca = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((d / "ca-key.pem").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = _key()
    cert = _cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]), key, ca.subject, ca_key,
                 ca=False, client=True)
    certfile, keyfile = d / f"client-{common_name}.pem", d / f"client-{common_name}-key.pem"
    certfile.write_bytes(_pem(cert))
    _write_key(keyfile, key)
    return str(certfile), str(keyfile)


def client_certificate(directory: str | Path, common_name: str) -> tuple[str, str]:
    """(certfile, keyfile) of a client certificate CN=common_name signed by the CA in ``directory``."""
    if not (Path(directory) / "ca-key.pem").is_file():
        try:  # kafkasim's generated CA: its own helper knows where the CA key is
            from kafkasim.security.tls import client_certificate as kafkasim_client_certificate
        except ImportError:
            pass
        else:
            certfile, keyfile = kafkasim_client_certificate(str(directory), common_name)
            return str(certfile), str(keyfile)
    return _own_client_certificate(directory, common_name)


def tls_handshake_error(host: str, port: int, cafile: str, timeout: float = 5.0) -> str | None:
    """None when a TLS handshake (no client certificate) plus one read round trip succeeds, else the error. A
    TLS 1.3 server that requires a client certificate rejects it after the client's handshake completes, so a
    plain handshake can "succeed"; the read surfaces the alert."""
    import socket

    ctx = ssl.create_default_context(cafile=cafile)
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            # ApiVersions v0 with a short client id: any broker answers it before authentication
            body = b"\x00\x12\x00\x00\x00\x00\x00\x01\x00\x01x"
            tls.sendall(len(body).to_bytes(4, "big") + body)
            if not tls.recv(4):
                return "connection closed"
    except (OSError, ssl.SSLError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
