"""SCRAM credentials (RFC 5802, RFC 7677) as Kafka stores them: salt, stored key, server key, iterations.

Kafka keeps SCRAM-SHA-256 and SCRAM-SHA-512 credentials per user; AlterUserScramCredentials sends a salted
password (the client derives it), a user's password never reaches the broker there.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

#: Kafka's iteration bounds (ScramMechanism.minIterations / maxIterations)
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
#: mechanism name -> (hashlib name, Kafka's ScramMechanism type code in DescribeUserScramCredentials)
MECHANISMS = {"SCRAM-SHA-256": ("sha256", 1), "SCRAM-SHA-512": ("sha512", 2)}


@dataclass(frozen=True, slots=True)
class ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


def hash_name(mechanism: str) -> str:
    entry = MECHANISMS.get(mechanism)
    if entry is None:
        raise ValueError(f"not a SCRAM mechanism: {mechanism}")
    return entry[0]


def salted_password(mechanism: str, password: str, salt: bytes, iterations: int) -> bytes:
    """Hi(Normalize(password), salt, i): PBKDF2 with the mechanism's HMAC (RFC 5802 section 2.2)."""
    return hashlib.pbkdf2_hmac(hash_name(mechanism), password.encode("utf-8"), salt, iterations)


def credential_from_salted_password(mechanism: str, salted: bytes, salt: bytes, iterations: int) -> ScramCredential:
    """The stored credential of a salted password: StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
    ServerKey = HMAC(SaltedPassword, "Server Key")."""
    name = hash_name(mechanism)
    client_key = hmac.new(salted, b"Client Key", name).digest()
    stored_key = hashlib.new(name, client_key).digest()
    server_key = hmac.new(salted, b"Server Key", name).digest()
    return ScramCredential(bytes(salt), stored_key, server_key, iterations)


def scram_credential(mechanism: str, password: str, iterations: int = MIN_ITERATIONS,
                     salt: bytes | None = None) -> ScramCredential:
    """The credential of a password (a fresh random salt unless given)."""
    salt = os.urandom(32) if salt is None else salt
    return credential_from_salted_password(mechanism, salted_password(mechanism, password, salt, iterations), salt,
                                           iterations)
