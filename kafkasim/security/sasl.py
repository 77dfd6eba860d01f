"""The server side of SASL mechanisms, as Kafka's SaslServer implementations answer: PLAIN (RFC 4616),
SCRAM-SHA-256/512 (RFC 5802, 7677) and OAUTHBEARER (RFC 7628, see :mod:`kafkasim.security.oauthbearer`).

Each mechanism is a small state machine: ``evaluate(token, now_ms)`` takes the client's next token and
returns the server's answer, until ``complete`` (then ``principal`` is ``User:<name>``). Any failure raises
:class:`AuthenticationFailed` with the message Kafka gives the client: the mechanism's own where Kafka
passes it through (PLAIN's "Invalid username or password", OAUTHBEARER's error), else Kafka's generic
"invalid credentials" message. Every token is bounded by the caller (sasl.server.max.receive.size) and
parsed without trusting any length in it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Protocol

from kafkasim.security.scram import ScramCredential, hash_name


class AuthenticationFailed(Exception):
    """The exchange failed; ``message`` is what Kafka tells the client (SASL_AUTHENTICATION_FAILED)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def invalid_credentials(mechanism: str) -> AuthenticationFailed:
    """Kafka's answer to a SaslException of a mechanism (SaslServerAuthenticator)."""
    return AuthenticationFailed(
        f"Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}")


class CredentialSource(Protocol):
    """Where the mechanisms find users: PLAIN passwords and SCRAM credentials."""

    def plain_password(self, user: str) -> str | None: ...

    def scram_credential(self, user: str, mechanism: str) -> ScramCredential | None: ...


class SaslServer:
    """One exchange of one mechanism."""

    mechanism = ""

    def __init__(self) -> None:
        self.complete = False
        self.principal: str | None = None
        self.expires_at_ms: int | None = None  # when the credential expires (OAUTHBEARER's token), if it does

    def evaluate(self, token: bytes, now_ms: int) -> bytes:
        raise NotImplementedError

    def _done(self, user: str) -> bytes:
        self.complete = True
        self.principal = f"User:{user}"
        return b""


class PlainServer(SaslServer):
    """PLAIN: one message ``authzid NUL authcid NUL passwd``; the authorization id must be empty or the user."""

    mechanism = "PLAIN"

    def __init__(self, credentials: CredentialSource) -> None:
        super().__init__()
        self.credentials = credentials

    def evaluate(self, token: bytes, now_ms: int) -> bytes:
        if self.complete:
            raise invalid_credentials(self.mechanism)
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_credentials(self.mechanism) from None
        parts = text.split("\0")
        if len(parts) != 3:
            raise invalid_credentials(self.mechanism)  # "Invalid SASL/PLAIN response: expected 3 tokens"
        authzid, user, password = parts
        if not user or not password:
            raise invalid_credentials(self.mechanism)
        expected = self.credentials.plain_password(user)
        if expected is None or not hmac.compare_digest(expected.encode("utf-8"), password.encode("utf-8")):
            raise AuthenticationFailed("Authentication failed: Invalid username or password")
        if authzid and authzid != user:
            raise AuthenticationFailed("Authentication failed: Client requested an authorization id that is "
                                       "different from username")
        return self._done(user)


def _scram_name(value: str) -> str:
    """saslname: "=2C" is ",", "=3D" is "="; any other "=" is malformed (RFC 5802)."""
    out = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "=":
            code = value[i + 1:i + 3]
            if code == "2C":
                out.append(",")
            elif code == "3D":
                out.append("=")
            else:
                raise ValueError("invalid saslname")
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _attributes(text: str) -> list[tuple[str, str]]:
    out = []
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or len(key) != 1:
            raise ValueError(f"invalid SCRAM attribute {part[:20]!r}")
        out.append((key, value))
    return out


class ScramServer(SaslServer):
    """SCRAM-SHA-256/512: client-first, server-first, client-final, server-final (RFC 5802 section 3)."""

    def __init__(self, mechanism: str, credentials: CredentialSource) -> None:
        super().__init__()
        self.mechanism = mechanism
        self.credentials = credentials
        self._hash = hash_name(mechanism)
        self._state = "first"
        self._user = ""
        self._nonce = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._gs2 = b""
        self._credential: ScramCredential | None = None

    def evaluate(self, token: bytes, now_ms: int) -> bytes:
        try:
            text = token.decode("utf-8")
            if self._state == "first":
                return self._first(text)
            if self._state == "final":
                return self._final(text)
        except (ValueError, UnicodeDecodeError):
            pass
        self._state = "failed"
        raise invalid_credentials(self.mechanism)

    def _first(self, text: str) -> bytes:
        # gs2-header: "n" (no channel binding) or "y" (client could but thinks we cannot); "p=" is refused
        cbind, _, rest = text.partition(",")
        authzid, _, bare = rest.partition(",")
        if cbind not in ("n", "y") or (authzid and not authzid.startswith("a=")):
            raise ValueError("unsupported channel binding or malformed gs2 header")
        attrs = _attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise ValueError("client-first-message needs n= and r=")
        user = _scram_name(attrs[0][1])
        if authzid and _scram_name(authzid[2:]) != user:
            raise ValueError("authorization id differs from the user")
        for key, _value in attrs[2:]:
            if key == "m":
                raise ValueError("mandatory extension")
        extensions = dict(attrs[2:])
        if extensions.get("t") or "tokenauth" in bare:  # delegation tokens: not served
            raise ValueError("delegation token authentication is not served")
        credential = self.credentials.scram_credential(user, self.mechanism)
        if credential is None:
            raise ValueError("unknown user")
        self._user, self._credential, self._client_first_bare = user, credential, bare
        self._gs2 = text[:len(text) - len(bare)].encode()
        self._nonce = attrs[1][1] + base64.b64encode(os.urandom(24)).decode().rstrip("=").replace("+", "-")
        self._server_first = (f"r={self._nonce},s={base64.b64encode(credential.salt).decode()},"
                              f"i={credential.iterations}")
        self._state = "final"
        return self._server_first.encode()

    def _final(self, text: str) -> bytes:
        attrs = _attributes(text)
        if len(attrs) < 3 or attrs[0][0] != "c" or attrs[1][0] != "r" or attrs[-1][0] != "p":
            raise ValueError("client-final-message needs c=, r= and p=")
        if base64.b64decode(attrs[0][1], validate=True) != self._gs2:
            raise ValueError("channel binding differs")
        if attrs[1][1] != self._nonce:
            raise ValueError("nonce differs")
        proof = base64.b64decode(attrs[-1][1], validate=True)
        credential = self._credential
        assert credential is not None
        without_proof = text[:text.rindex(",p=")]
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = hmac.new(credential.stored_key, auth_message, self._hash).digest()
        if len(proof) != len(signature):
            raise ValueError("proof length")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.new(self._hash, client_key).digest(), credential.stored_key):
            raise ValueError("invalid proof")
        server_signature = hmac.new(credential.server_key, auth_message, self._hash).digest()
        self._state = "done"
        self._done(self._user)
        return b"v=" + base64.b64encode(server_signature)
