"""PlainServer (kafkasim.security.sasl), with a test CredentialSource and with the broker's Credentials."""

from __future__ import annotations

import pytest

from kafkasim.config import BrokerConfig
from kafkasim.security.sasl import AuthenticationFailed, PlainServer, invalid_credentials
from kafkasim.state.credentials import Credentials

INVALID = "Authentication failed: Invalid username or password"
GENERIC = "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN"
AUTHZID = "Authentication failed: Client requested an authorization id that is different from username"


def failure(server, token: bytes) -> str:
    with pytest.raises(AuthenticationFailed) as exc:
        server.evaluate(token, 0)
    assert str(exc.value) == exc.value.message
    return exc.value.message


def test_good_password(users):
    server = PlainServer(users)
    assert server.mechanism == "PLAIN"
    assert server.evaluate(b"\0alice\0alice-secret", 0) == b""
    assert server.complete and server.principal == "User:alice" and server.expires_at_ms is None


def test_authzid_same_as_user(users):
    server = PlainServer(users)
    assert server.evaluate(b"alice\0alice\0alice-secret", 0) == b""
    assert server.principal == "User:alice"


def test_authzid_different_from_user(users):
    server = PlainServer(users)
    assert failure(server, b"bob\0alice\0alice-secret") == AUTHZID
    assert not server.complete and server.principal is None


def test_authzid_different_with_wrong_password_is_invalid_password(users):
    assert failure(PlainServer(users), b"bob\0alice\0nope") == INVALID


def test_unicode_user_and_password():
    creds = Credentials(BrokerConfig(users=("jürgen:pässwörd✓",)))
    server = PlainServer(creds)
    server.evaluate("\0jürgen\0pässwörd✓".encode(), 0)
    assert server.principal == "User:jürgen"


@pytest.mark.parametrize("token", [
    b"\0alice\0wrong",
    b"\0alice\0alice-secre",
    b"\0alice\0alice-secret ",
    b"\0alice\0ALICE-SECRET",
    b"\0alice\0bob-secret",
])
def test_wrong_password(users, token):
    server = PlainServer(users)
    assert failure(server, token) == INVALID
    assert not server.complete and server.principal is None


@pytest.mark.parametrize("token", [b"\0mallory\0alice-secret", b"\0Alice\0alice-secret", b"\0alice \0alice-secret"])
def test_unknown_user(users, token):
    assert failure(PlainServer(users), token) == INVALID


@pytest.mark.parametrize("token", [
    b"",
    b"alice",  # no NULs
    b"alicealice-secret",
    b"\0alice",  # 2 parts
    b"\0alice\0alice-secret\0",  # 4 parts
    b"\0alice\0alice\0secret",
    b"\0\0alice-secret",  # empty user
    b"\0alice\0",  # empty password
    b"\0\0",
    b"\xff\0alice\0alice-secret",  # not UTF-8
    b"\0alice\0alice-secret\xc3",
])
def test_malformed(users, token):
    server = PlainServer(users)
    assert failure(server, token) == GENERIC
    assert not server.complete


def test_invalid_credentials_message():
    assert invalid_credentials("PLAIN").message == GENERIC


def test_evaluate_after_completion(users):
    server = PlainServer(users)
    server.evaluate(b"\0alice\0alice-secret", 0)
    assert failure(server, b"\0alice\0alice-secret") == GENERIC
    assert server.principal == "User:alice"


def test_broker_credentials():
    creds = Credentials(BrokerConfig(users=("alice:pw", "bob:pw:with:colons")))
    server = PlainServer(creds)
    server.evaluate(b"\0alice\0pw", 0)
    assert server.principal == "User:alice"
    server = PlainServer(creds)
    server.evaluate(b"\0bob\0pw:with:colons", 0)
    assert server.principal == "User:bob"
    assert failure(PlainServer(creds), b"\0carol\0pw") == INVALID
