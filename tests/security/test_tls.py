"""Generated certificates and the server context (kafkasim.security.tls), with in-process handshakes."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509

from kafkasim.security.principal import PrincipalMapper, subject_dn
from kafkasim.security.tls import CLIENT_AUTH, client_certificate, generate_certificates, server_context

FILES = ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem")
DEADLINE = 10.0


def snapshot(d: Path) -> dict[str, bytes]:
    return {name: (d / name).read_bytes() for name in FILES}


@pytest.fixture
def certs(tmp_path):
    return generate_certificates(str(tmp_path), ["localhost"])


def test_files_written(certs, tmp_path):
    assert certs.directory == tmp_path
    assert (certs.ca, certs.ca_key, certs.cert, certs.key) == tuple(tmp_path / f for f in FILES)
    for name in FILES:
        assert (tmp_path / name).read_bytes().startswith(b"-----BEGIN ")
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o077 == 0
    assert (tmp_path / "server-key.pem").stat().st_mode & 0o077 == 0
    assert not list(tmp_path.glob("*.tmp"))


def test_server_certificate_names_and_issuer(certs):
    cert = x509.load_pem_x509_certificate(certs.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    assert cert.issuer == ca.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_second_call_keeps_the_files(certs, tmp_path):
    before = snapshot(tmp_path)
    again = generate_certificates(str(tmp_path), ["localhost"])
    assert again == certs
    assert snapshot(tmp_path) == before
    generate_certificates(str(tmp_path), ["127.0.0.1", "localhost", "0.0.0.0", ""])  # covered already
    assert snapshot(tmp_path) == before


def test_new_host_remakes_the_server_certificate_only(certs, tmp_path):
    before = snapshot(tmp_path)
    generate_certificates(str(tmp_path), ["localhost", "kafka.example", "10.1.2.3"])
    after = snapshot(tmp_path)
    assert after["ca.pem"] == before["ca.pem"] and after["ca-key.pem"] == before["ca-key.pem"]
    assert after["server.pem"] != before["server.pem"] and after["server-key.pem"] != before["server-key.pem"]
    san = x509.load_pem_x509_certificate(after["server.pem"]).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "kafka.example" in san.get_values_for_type(x509.DNSName)
    assert "10.1.2.3" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    # and then it is kept
    generate_certificates(str(tmp_path), ["kafka.example"])
    assert snapshot(tmp_path) == after


def test_missing_server_key_is_remade(certs, tmp_path):
    before = snapshot(tmp_path)
    certs.key.unlink()
    generate_certificates(str(tmp_path), ["localhost"])
    after = snapshot(tmp_path)
    assert after["ca.pem"] == before["ca.pem"] and after["server.pem"] != before["server.pem"]


def test_broken_ca_is_remade(certs, tmp_path):
    before = snapshot(tmp_path)
    certs.ca.write_bytes(b"not a certificate")
    generate_certificates(str(tmp_path), ["localhost"])
    after = snapshot(tmp_path)
    assert after["ca.pem"] != before["ca.pem"] and after["server.pem"] != before["server.pem"]
    ca = x509.load_pem_x509_certificate(after["ca.pem"])
    assert x509.load_pem_x509_certificate(after["server.pem"]).issuer == ca.subject


def test_creates_the_directory(tmp_path):
    gen = generate_certificates(str(tmp_path / "a" / "b"), [])
    assert gen.ca.exists() and gen.cert.exists()


@pytest.mark.parametrize(("client_auth", "mode"), [("none", ssl.CERT_NONE), ("requested", ssl.CERT_OPTIONAL),
                                                   ("required", ssl.CERT_REQUIRED)])
def test_server_context_client_auth(certs, client_auth, mode):
    assert CLIENT_AUTH[client_auth] == mode
    ctx = server_context(str(certs.cert), str(certs.key), str(certs.ca), client_auth)
    assert ctx.verify_mode == mode
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_server_context_without_a_ca(certs):
    assert server_context(str(certs.cert), str(certs.key), None).verify_mode == ssl.CERT_NONE
    with pytest.raises(ValueError):
        server_context(str(certs.cert), str(certs.key), None, "required")
    with pytest.raises(KeyError):
        server_context(str(certs.cert), str(certs.key), str(certs.ca), "sometimes")


def test_server_context_wrong_files(certs, tmp_path):
    with pytest.raises((ssl.SSLError, OSError)):
        server_context(str(certs.ca), str(certs.key), None)  # the key is not the CA's
    with pytest.raises(OSError):
        server_context(str(tmp_path / "missing.pem"), None, None)


# ---------------------------------------------------------------------- handshakes


def client_context(certs, cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str = "localhost"):
    """A TLS handshake over a socketpair, the server on a thread; (server result, client result): the peer
    certificate (DER) each side saw and a byte exchanged, or the exception it raised."""
    a, b = socket.socketpair()
    a.settimeout(DEADLINE)
    b.settimeout(DEADLINE)
    result: dict[str, object] = {}

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                peer = s.getpeercert(binary_form=True)
                data = s.recv(1)
                s.sendall(data.upper())
                result["server"] = (peer, s.version())
        except Exception as exc:  # noqa: BLE001 - reported to the test
            result["server"] = exc

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=server_hostname) as c:
            c.sendall(b"k")
            answer = c.recv(1)
            client = (c.getpeercert(binary_form=True), answer)
    except Exception as exc:  # noqa: BLE001
        client = exc
        b.close()
    t.join(DEADLINE)
    assert not t.is_alive(), "the server side did not finish before the deadline"
    a.close()
    return result["server"], client


def test_handshake(certs):
    server, client = handshake(server_context(str(certs.cert), str(certs.key), str(certs.ca)), client_context(certs))
    assert not isinstance(client, Exception), client
    peer, answer = client
    assert answer == b"K"
    assert subject_dn(peer) == "CN=kafkasim"
    assert server[0] is None and server[1] in ("TLSv1.2", "TLSv1.3")


def test_handshake_by_ip(certs):
    _server, client = handshake(server_context(str(certs.cert), str(certs.key), None), client_context(certs),
                                server_hostname="127.0.0.1")
    assert not isinstance(client, Exception), client


def test_handshake_with_a_wrong_hostname_fails(certs):
    _server, client = handshake(server_context(str(certs.cert), str(certs.key), None), client_context(certs),
                                server_hostname="elsewhere.example")
    assert isinstance(client, ssl.SSLCertVerificationError)


def test_handshake_untrusted_ca_fails(certs, tmp_path):
    other = generate_certificates(str(tmp_path / "other"), ["localhost"])
    _server, client = handshake(server_context(str(certs.cert), str(certs.key), None), client_context(other))
    assert isinstance(client, ssl.SSLCertVerificationError)


def test_client_certificate_required(certs):
    ctx = server_context(str(certs.cert), str(certs.key), str(certs.ca), "required")
    server, client = handshake(ctx, client_context(certs, client_certificate(str(certs.directory), "alice")))
    assert not isinstance(server, Exception), server
    assert PrincipalMapper().principal_for_dn(subject_dn(server[0])) == "User:CN=alice"
    assert client[1] == b"K"


def test_client_certificate_required_but_absent(certs):
    ctx = server_context(str(certs.cert), str(certs.key), str(certs.ca), "required")
    server, _client = handshake(ctx, client_context(certs))
    assert isinstance(server, ssl.SSLError)


def test_client_certificate_requested(certs):
    ctx = server_context(str(certs.cert), str(certs.key), str(certs.ca), "requested")
    server, _client = handshake(ctx, client_context(certs))
    assert not isinstance(server, Exception), server
    assert server[0] is None
    server, _client = handshake(ctx, client_context(certs, client_certificate(str(certs.directory), "bob")))
    assert subject_dn(server[0]) == "CN=bob"


def test_client_certificate_of_another_ca_is_refused(certs, tmp_path):
    other = generate_certificates(str(tmp_path / "other"), ["localhost"])
    ctx = server_context(str(certs.cert), str(certs.key), str(certs.ca), "required")
    server, _client = handshake(ctx, client_context(certs, client_certificate(str(other.directory), "eve")))
    assert isinstance(server, ssl.SSLError)
