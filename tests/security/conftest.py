"""Fixtures and a small SCRAM client for the security unit tests."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from kafkasim.security.scram import ScramCredential, hash_name, salted_password, scram_credential


class Users:
    """A CredentialSource of a few users (PLAIN passwords, SCRAM credentials of both mechanisms)."""

    def __init__(self, users: dict[str, str]) -> None:
        self.passwords = dict(users)
        self.scram = {(u, m): scram_credential(m, p) for u, p in users.items()
                      for m in ("SCRAM-SHA-256", "SCRAM-SHA-512")}

    def plain_password(self, user: str) -> str | None:
        return self.passwords.get(user)

    def scram_credential(self, user: str, mechanism: str) -> ScramCredential | None:
        return self.scram.get((user, mechanism))


@pytest.fixture(scope="session")
def users() -> Users:
    return Users({"alice": "alice-secret", "bob": "bob-secret", "a,b=c": "odd"})


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


class ScramClient:
    """The client side of SCRAM (RFC 5802 section 3), to drive ScramServer with."""

    def __init__(self, mechanism: str, user: str, password: str, nonce: str = "fyko+d2lbbFgONRv9qkxdawL",
                 gs2: str = "n,,") -> None:
        self.mechanism, self.password, self.nonce, self.gs2 = mechanism, password, nonce, gs2
        self.hash = hash_name(mechanism)
        name = user.replace("=", "=3D").replace(",", "=2C")
        self.client_first_bare = f"n={name},r={nonce}"
        self.server_first = ""
        self.auth_message = b""
        self.salted = b""

    def first(self) -> bytes:
        return (self.gs2 + self.client_first_bare).encode()

    def final(self, server_first: bytes, *, nonce: str | None = None, cbind: bytes | None = None,
              password: str | None = None) -> bytes:
        self.server_first = server_first.decode()
        attrs = dict(a.split("=", 1) for a in self.server_first.split(","))
        assert attrs["r"].startswith(self.nonce)
        salt, iterations = base64.b64decode(attrs["s"]), int(attrs["i"])
        pw = self.password if password is None else password
        self.salted = salted_password(self.mechanism, pw, salt, iterations)
        c = base64.b64encode(self.gs2.encode() if cbind is None else cbind).decode()
        without_proof = f"c={c},r={attrs['r'] if nonce is None else nonce}"
        self.auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        client_key = hmac.new(self.salted, b"Client Key", self.hash).digest()
        stored_key = hashlib.new(self.hash, client_key).digest()
        signature = hmac.new(stored_key, self.auth_message, self.hash).digest()
        proof = base64.b64encode(xor(client_key, signature)).decode()
        return f"{without_proof},p={proof}".encode()

    def expected_server_final(self) -> bytes:
        server_key = hmac.new(self.salted, b"Server Key", self.hash).digest()
        return b"v=" + base64.b64encode(hmac.new(server_key, self.auth_message, self.hash).digest())


@pytest.fixture
def scram_client():
    return ScramClient
