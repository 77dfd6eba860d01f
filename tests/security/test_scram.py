"""SCRAM credentials (kafkasim.security.scram) and ScramServer exchanges (kafkasim.security.sasl)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from kafkasim.security import sasl
from kafkasim.security.sasl import AuthenticationFailed, ScramServer
from kafkasim.security.scram import (
    MIN_ITERATIONS,
    ScramCredential,
    credential_from_salted_password,
    hash_name,
    salted_password,
    scram_credential,
)

# RFC 7677 section 3
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_SUFFIX = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_CLIENT_FINAL = (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

GENERIC = "Authentication failed during authentication due to invalid credentials with SASL mechanism {}"


class OneUser:
    def __init__(self, user: str, mechanism: str, credential: ScramCredential) -> None:
        self.user, self.mechanism, self.credential = user, mechanism, credential

    def plain_password(self, user: str) -> str | None:
        return None

    def scram_credential(self, user: str, mechanism: str) -> ScramCredential | None:
        return self.credential if (user, mechanism) == (self.user, self.mechanism) else None


def rfc_credential() -> ScramCredential:
    return scram_credential("SCRAM-SHA-256", "pencil", 4096, RFC_SALT)


# ---------------------------------------------------------------------- credentials


def test_rfc7677_credential_keys():
    cred = rfc_credential()
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", RFC_SALT, 4096)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    assert cred == ScramCredential(RFC_SALT, hashlib.sha256(client_key).digest(),
                                   hmac.new(salted, b"Server Key", "sha256").digest(), 4096)
    assert len(cred.stored_key) == len(cred.server_key) == 32


def test_credential_from_salted_password_matches_scram_credential():
    for mechanism, size in (("SCRAM-SHA-256", 32), ("SCRAM-SHA-512", 64)):
        salt = b"0123456789abcdef"
        salted = salted_password(mechanism, "pw", salt, 4096)
        assert len(salted) == size
        cred = credential_from_salted_password(mechanism, salted, salt, 4096)
        assert cred == scram_credential(mechanism, "pw", 4096, salt)
        assert len(cred.stored_key) == len(cred.server_key) == size


def test_scram_credential_defaults_random_salt_min_iterations():
    a = scram_credential("SCRAM-SHA-256", "pw")
    b = scram_credential("SCRAM-SHA-256", "pw")
    assert a.iterations == b.iterations == MIN_ITERATIONS
    assert len(a.salt) == 32 and a.salt != b.salt
    assert a.stored_key != b.stored_key


def test_credential_salt_is_bytes():
    cred = credential_from_salted_password("SCRAM-SHA-512", b"x" * 64, bytearray(b"salt"), 5000)
    assert type(cred.salt) is bytes and cred.salt == b"salt" and cred.iterations == 5000


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-1", "scram-sha-256", ""])
def test_not_a_scram_mechanism(mechanism):
    with pytest.raises(ValueError):
        hash_name(mechanism)
    with pytest.raises(ValueError):
        scram_credential(mechanism, "pw")
    with pytest.raises(ValueError):
        ScramServer(mechanism, OneUser("u", "SCRAM-SHA-256", rfc_credential()))


# ---------------------------------------------------------------------- the RFC 7677 exchange


def test_rfc7677_exchange(monkeypatch):
    """The server, its nonce suffix fixed to the RFC's, answers the RFC's messages with the RFC's."""
    sentinel = b"\x00" * 24
    real = sasl.base64

    class FixedNonce:
        b64decode = staticmethod(real.b64decode)

        @staticmethod
        def b64encode(data):
            return RFC_SERVER_SUFFIX.encode() if data == sentinel else real.b64encode(data)

    monkeypatch.setattr(sasl.os, "urandom", lambda n: sentinel)
    monkeypatch.setattr(sasl, "base64", FixedNonce)
    server = ScramServer("SCRAM-SHA-256", OneUser("user", "SCRAM-SHA-256", rfc_credential()))
    assert server.evaluate(RFC_CLIENT_FIRST, 0) == RFC_SERVER_FIRST
    assert not server.complete
    assert server.evaluate(RFC_CLIENT_FINAL, 0) == RFC_SERVER_FINAL
    assert server.complete and server.principal == "User:user"
    assert server.expires_at_ms is None


def test_rfc7677_vector_with_our_client(scram_client):
    """The test's client reproduces the RFC's proof and server signature from the RFC's server-first."""
    client = scram_client("SCRAM-SHA-256", "user", "pencil", nonce=RFC_CLIENT_NONCE)
    assert client.first() == RFC_CLIENT_FIRST
    assert client.final(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    assert client.expected_server_final() == RFC_SERVER_FINAL


def test_rfc7677_user_real_nonce(scram_client):
    server = ScramServer("SCRAM-SHA-256", OneUser("user", "SCRAM-SHA-256", rfc_credential()))
    client = scram_client("SCRAM-SHA-256", "user", "pencil", nonce=RFC_CLIENT_NONCE)
    server_first = server.evaluate(client.first(), 0)
    nonce = server_first.decode().split(",")[0][2:]
    assert nonce.startswith(RFC_CLIENT_NONCE) and len(nonce) > len(RFC_CLIENT_NONCE)
    assert server_first.endswith(b",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    assert server.evaluate(client.final(server_first), 0) == client.expected_server_final()
    assert server.principal == "User:user"


# ---------------------------------------------------------------------- full exchanges


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_exchange(users, scram_client, mechanism):
    server = ScramServer(mechanism, users)
    assert server.mechanism == mechanism
    client = scram_client(mechanism, "alice", "alice-secret")
    server_first = server.evaluate(client.first(), 1000)
    assert not server.complete and server.principal is None
    server_final = server.evaluate(client.final(server_first), 1000)
    assert server_final == client.expected_server_final()
    assert server.complete and server.principal == "User:alice"


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_server_nonces_differ(users, scram_client, mechanism):
    firsts = {ScramServer(mechanism, users).evaluate(scram_client(mechanism, "alice", "x").first(), 0)
              for _ in range(3)}
    assert len(firsts) == 3


def test_gs2_y_and_authzid_of_the_user(users, scram_client):
    for gs2 in ("y,,", "n,a=alice,"):
        server = ScramServer("SCRAM-SHA-256", users)
        client = scram_client("SCRAM-SHA-256", "alice", "alice-secret", gs2=gs2)
        assert server.evaluate(client.final(server.evaluate(client.first(), 0)), 0) == client.expected_server_final()
        assert server.principal == "User:alice"


def test_saslname_escapes(users, scram_client):
    """n=a=2Cb=3Dc is the user "a,b=c"."""
    server = ScramServer("SCRAM-SHA-512", users)
    client = scram_client("SCRAM-SHA-512", "a,b=c", "odd")
    assert client.first() == b"n,,n=a=2Cb=3Dc,r=fyko+d2lbbFgONRv9qkxdawL"
    assert server.evaluate(client.final(server.evaluate(client.first(), 0)), 0) == client.expected_server_final()
    assert server.principal == "User:a,b=c"


def fail(server, token, mechanism="SCRAM-SHA-256"):
    with pytest.raises(AuthenticationFailed) as exc:
        server.evaluate(token, 0)
    assert exc.value.message == GENERIC.format(mechanism)
    assert str(exc.value) == exc.value.message
    return exc.value


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_wrong_password(users, scram_client, mechanism):
    server = ScramServer(mechanism, users)
    client = scram_client(mechanism, "alice", "alice-secret")
    server_first = server.evaluate(client.first(), 0)
    fail(server, client.final(server_first, password="wrong"), mechanism)
    assert not server.complete and server.principal is None


def test_unknown_user(users, scram_client):
    server = ScramServer("SCRAM-SHA-256", users)
    fail(server, scram_client("SCRAM-SHA-256", "mallory", "x").first())


def test_user_without_credential_of_that_mechanism(scram_client):
    server = ScramServer("SCRAM-SHA-512", OneUser("user", "SCRAM-SHA-256", rfc_credential()))
    fail(server, scram_client("SCRAM-SHA-512", "user", "pencil").first(), "SCRAM-SHA-512")


def test_wrong_nonce(users, scram_client):
    server = ScramServer("SCRAM-SHA-256", users)
    client = scram_client("SCRAM-SHA-256", "alice", "alice-secret")
    server_first = server.evaluate(client.first(), 0)
    fail(server, client.final(server_first, nonce=client.nonce + "forged"))


def test_client_nonce_only(users, scram_client):
    server = ScramServer("SCRAM-SHA-256", users)
    client = scram_client("SCRAM-SHA-256", "alice", "alice-secret")
    server_first = server.evaluate(client.first(), 0)
    fail(server, client.final(server_first, nonce=client.nonce))


@pytest.mark.parametrize("cbind", [b"y,,", b"n,a=alice,", b"", b"p=tls-unique,,"])
def test_tampered_channel_binding(users, scram_client, cbind):
    server = ScramServer("SCRAM-SHA-256", users)
    client = scram_client("SCRAM-SHA-256", "alice", "alice-secret")
    server_first = server.evaluate(client.first(), 0)
    fail(server, client.final(server_first, cbind=cbind))


def test_tampered_proof(users, scram_client):
    server = ScramServer("SCRAM-SHA-256", users)
    client = scram_client("SCRAM-SHA-256", "alice", "alice-secret")
    final = client.final(server.evaluate(client.first(), 0))
    without, _, proof = final.rpartition(b",p=")
    raw = bytearray(base64.b64decode(proof))
    raw[0] ^= 1
    fail(server, without + b",p=" + base64.b64encode(bytes(raw)))


def test_short_proof(users, scram_client):
    server = ScramServer("SCRAM-SHA-256", users)
    client = scram_client("SCRAM-SHA-256", "alice", "alice-secret")
    final = client.final(server.evaluate(client.first(), 0))
    without, _, _ = final.rpartition(b",p=")
    fail(server, without + b",p=" + base64.b64encode(b"short"))


def test_evaluate_after_completion(users, scram_client):
    server = ScramServer("SCRAM-SHA-256", users)
    client = scram_client("SCRAM-SHA-256", "alice", "alice-secret")
    server_first = server.evaluate(client.first(), 0)
    final = client.final(server_first)
    server.evaluate(final, 0)
    assert server.complete
    for token in (final, client.first(), b""):
        fail(server, token)
    assert server.principal == "User:alice"


def test_evaluate_after_failure(users, scram_client):
    server = ScramServer("SCRAM-SHA-256", users)
    client = scram_client("SCRAM-SHA-256", "alice", "alice-secret")
    server_first = server.evaluate(client.first(), 0)
    fail(server, b"garbage")
    fail(server, client.final(server_first))  # the exchange is over once it failed
    assert not server.complete


@pytest.mark.parametrize("first", [
    b"",
    b"n,,",
    b"p=tls-unique,,n=alice,r=abc",  # channel binding is refused
    b"x,,n=alice,r=abc",
    b"n,z=alice,n=alice,r=abc",  # authzid without a=
    b"n,a=bob,n=alice,r=abc",  # authzid of another user
    b"n,,r=abc,n=alice",  # wrong order
    b"n,,n=alice",  # no nonce
    b"n,,n=alice,r=",  # empty nonce
    b"n,,n=alice,r=abc,m=ext",  # mandatory extension
    b"n,,n=alice,r=abc,tokenauth=true",  # delegation token
    b"n,,n=al=2Xice,r=abc",  # bad saslname escape
    b"n,,n=alice=,r=abc",
    b"n,,n=alice,r=abc,",  # empty attribute
    b"n,,n=alice,rr=abc",
    b"\xff\xfe",
])
def test_malformed_client_first(users, first):
    server = ScramServer("SCRAM-SHA-256", users)
    fail(server, first)
    assert not server.complete and server.principal is None


@pytest.mark.parametrize("mutate", [
    lambda f: f.replace(b"c=", b"x=", 1),  # no c=
    lambda f: f.rpartition(b",p=")[0],  # no proof
    lambda f: f.rpartition(b",p=")[0] + b",p=not base64!",
    lambda f: f.replace(b"c=", b"c=***", 1),  # channel binding not base64
    lambda f: b"r=" + f,  # order
    lambda f: f + b"\xff",
])
def test_malformed_client_final(users, scram_client, mutate):
    server = ScramServer("SCRAM-SHA-256", users)
    client = scram_client("SCRAM-SHA-256", "alice", "alice-secret")
    final = client.final(server.evaluate(client.first(), 0))
    fail(server, mutate(final))


def test_extension_in_final_is_ignored(users, scram_client):
    """An extension between r= and p= is part of the AuthMessage, and accepted."""
    server = ScramServer("SCRAM-SHA-256", users)
    client = scram_client("SCRAM-SHA-256", "alice", "alice-secret")
    server_first = server.evaluate(client.first(), 0)
    # compute the proof over an AuthMessage with the extension
    client.server_first = server_first.decode()
    nonce = client.server_first.split(",")[0][2:]
    without_proof = f"c=biws,r={nonce},x=ext"
    auth_message = f"{client.client_first_bare},{client.server_first},{without_proof}".encode()
    cred = users.scram_credential("alice", "SCRAM-SHA-256")
    salted = salted_password("SCRAM-SHA-256", "alice-secret", cred.salt, cred.iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    sig = hmac.new(hashlib.sha256(client_key).digest(), auth_message, "sha256").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig, strict=True))).decode()
    out = server.evaluate(f"{without_proof},p={proof}".encode(), 0)
    server_sig = hmac.new(hmac.new(salted, b"Server Key", "sha256").digest(), auth_message, "sha256").digest()
    assert out == b"v=" + base64.b64encode(server_sig)
