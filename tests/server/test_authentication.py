"""SaslSession (kafkasim.server.authentication): the handshake, the exchange, session lifetime and
re-authentication, driven without a socket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkasim.protocol.messages.sasl_handshake import SaslHandshakeRequest
from kafkasim.security.scram import salted_password
from kafkasim.server.authentication import AUTHENTICATE, DONE, HANDSHAKE, RAW, SaslFailure, SaslSession
from kafkasim.server.security import ListenerSecurity
from kafkasim.state.credentials import Credentials

NOW = 1_700_000_000_000
ALL = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


def session(**kw) -> SaslSession:
    config = BrokerConfig(listeners=("SASL_PLAINTEXT://127.0.0.1:0",), users=("alice:pw", "bob:pw2"), **kw)
    return SaslSession(config.listener_specs[0], config, ListenerSecurity(config, Credentials(config)))


def plain(user: str = "alice", password: str = "pw") -> SaslAuthenticateRequest:
    return SaslAuthenticateRequest(auth_bytes=f"\0{user}\0{password}".encode())


def login(s: SaslSession, user: str = "alice", password: str = "pw", now: int = NOW):
    hs = s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    assert hs.error_code == ErrorCode.NO_ERROR
    return s.authenticate(plain(user, password), 2, now)


def test_plain():
    s = session()
    assert s.state == HANDSHAKE and not s.authenticated
    assert s.intercepts(ApiKey.SASL_HANDSHAKE) and s.intercepts(ApiKey.SASL_AUTHENTICATE)
    assert s.intercepts(ApiKey.METADATA) and not s.intercepts(ApiKey.API_VERSIONS)
    hs = s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    assert hs.error_code == ErrorCode.NO_ERROR and list(hs.mechanisms) == ALL
    assert s.state == AUTHENTICATE and s.mechanism == "PLAIN"
    resp = s.authenticate(plain(), 2, NOW)
    assert resp.error_code == ErrorCode.NO_ERROR and bytes(resp.auth_bytes) == b""
    assert resp.session_lifetime_ms == 0
    assert s.principal == "User:alice" and s.authenticated and s.state == DONE
    assert s.expires_at is None and not s.expired(NOW + 10**12)
    assert s.authentications == 1
    # authenticated: only a new handshake is the authenticator's
    assert s.intercepts(ApiKey.SASL_HANDSHAKE)
    assert not s.intercepts(ApiKey.METADATA) and not s.intercepts(ApiKey.SASL_AUTHENTICATE)


def test_session_lifetime_with_reauth_ms():
    s = session(connections_max_reauth_ms=60_000)
    resp = login(s)
    assert resp.session_lifetime_ms == 60_000
    assert s.expires_at == NOW + 60_000
    assert not s.expired(NOW + 59_999)
    assert s.expired(NOW + 60_000) and s.expired(NOW + 10**9)


def test_reauthentication_same_principal():
    s = session(connections_max_reauth_ms=1000)
    login(s)
    hs = s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    assert hs.error_code == ErrorCode.NO_ERROR
    assert s.reauthenticating and s.intercepts(ApiKey.SASL_AUTHENTICATE)
    assert not s.expired(NOW + 5000)  # re-authenticating: not expired
    resp = s.authenticate(plain(), 2, NOW + 5000)
    assert resp.session_lifetime_ms == 1000 and s.expires_at == NOW + 6000
    assert s.authentications == 2 and not s.reauthenticating and s.principal == "User:alice"


def test_reauthentication_with_another_principal():
    s = session(connections_max_reauth_ms=1000)
    login(s)
    s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    with pytest.raises(SaslFailure) as exc:
        s.authenticate(plain("bob", "pw2"), 2, NOW + 500)
    resp = exc.value.response
    assert resp.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED == 58
    assert "Cannot change principals during re-authentication from User:alice: User:bob" == resp.error_message
    assert s.principal == "User:alice"


def test_reauthentication_with_another_mechanism():
    s = session()
    login(s)
    with pytest.raises(SaslFailure) as exc:
        s.handshake(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1)
    assert "mechanism" in str(exc.value)


def test_unsupported_mechanism():
    s = session(sasl_enabled_mechanisms=("PLAIN", "SCRAM-SHA-512"))
    with pytest.raises(SaslFailure) as exc:
        s.handshake(SaslHandshakeRequest(mechanism="GSSAPI"), 1)
    resp = exc.value.response
    assert resp.error_code == ErrorCode.UNSUPPORTED_SASL_MECHANISM == 33
    assert list(resp.mechanisms) == ["PLAIN", "SCRAM-SHA-512"]


def test_mechanism_served_but_not_enabled():
    s = session(sasl_enabled_mechanisms=("SCRAM-SHA-256",))
    with pytest.raises(SaslFailure) as exc:
        s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    assert exc.value.response.error_code == 33 and list(exc.value.response.mechanisms) == ["SCRAM-SHA-256"]


def test_authenticate_before_handshake():
    s = session()
    with pytest.raises(SaslFailure) as exc:
        s.authenticate(plain(), 2, NOW)
    assert exc.value.response is None
    assert not s.authenticated


def test_second_handshake_during_exchange():
    s = session()
    s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    with pytest.raises(SaslFailure):
        s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 1)


def test_authenticate_after_done():
    s = session()
    login(s)
    with pytest.raises(SaslFailure):
        s.authenticate(plain(), 2, NOW)


def test_wrong_password():
    s = session()
    s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    with pytest.raises(SaslFailure) as exc:
        s.authenticate(plain("alice", "nope"), 2, NOW)
    resp = exc.value.response
    assert resp.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert resp.error_message == "Authentication failed: Invalid username or password"
    assert bytes(resp.auth_bytes) == b""
    assert not s.authenticated


def test_handshake_v0_raw_token():
    s = session(connections_max_reauth_ms=30_000)
    s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 0)
    assert s.state == RAW
    with pytest.raises(SaslFailure):
        s.authenticate(plain(), 0, NOW)  # v0 is followed by bare tokens, not SaslAuthenticate
    s = session(connections_max_reauth_ms=30_000)
    s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 0)
    assert s.raw_token(b"\0alice\0pw", NOW) == b""
    assert s.principal == "User:alice" and s.state == DONE and s.expires_at == NOW + 30_000


def test_raw_token_failure():
    s = session()
    s.handshake(SaslHandshakeRequest(mechanism="PLAIN"), 0)
    with pytest.raises(SaslFailure) as exc:
        s.raw_token(b"\0alice\0wrong", NOW)
    assert exc.value.response is None
    assert str(exc.value) == "Authentication failed: Invalid username or password"


def test_raw_token_before_handshake():
    with pytest.raises(SaslFailure):
        session().raw_token(b"\0alice\0pw", NOW)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram(mechanism):
    s = session()
    s.handshake(SaslHandshakeRequest(mechanism=mechanism), 1)
    h = mechanism.rsplit("-", 1)[1].lower()
    h = "sha" + h
    bare = "n=alice,r=clientnonce"
    first = s.authenticate(SaslAuthenticateRequest(auth_bytes=f"n,,{bare}".encode()), 2, NOW)
    assert first.error_code == 0 and first.session_lifetime_ms == 0 and not s.authenticated
    server_first = bytes(first.auth_bytes).decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = salted_password(mechanism, "pw", base64.b64decode(attrs["s"]), int(attrs["i"]))
    without = f"c=biws,r={attrs['r']}"
    auth_message = f"{bare},{server_first},{without}".encode()
    client_key = hmac.new(salted, b"Client Key", h).digest()
    sig = hmac.new(hashlib.new(h, client_key).digest(), auth_message, h).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig, strict=True))).decode()
    final = s.authenticate(SaslAuthenticateRequest(auth_bytes=f"{without},p={proof}".encode()), 2, NOW)
    server_sig = hmac.new(hmac.new(salted, b"Server Key", h).digest(), auth_message, h).digest()
    assert bytes(final.auth_bytes) == b"v=" + base64.b64encode(server_sig)
    assert s.principal == "User:alice"


def _unsecured(exp_s: int) -> str:
    def part(o):
        return base64.urlsafe_b64encode(json.dumps(o).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'sub': 'tok', 'exp': exp_s})}."


@pytest.mark.parametrize(("reauth", "lifetime"), [(0, 120_000), (60_000, 60_000), (500_000, 120_000)])
def test_oauthbearer_lifetime_is_the_sooner(reauth, lifetime):
    s = session(connections_max_reauth_ms=reauth)
    s.handshake(SaslHandshakeRequest(mechanism="OAUTHBEARER"), 1)
    token = _unsecured(NOW // 1000 + 120)
    resp = s.authenticate(SaslAuthenticateRequest(auth_bytes=f"n,,\x01auth=Bearer {token}\x01\x01".encode()), 2, NOW)
    assert resp.session_lifetime_ms == lifetime and s.expires_at == NOW + lifetime
    assert s.principal == "User:tok"


def test_oauthbearer_invalid_token_then_failure():
    s = session()
    s.handshake(SaslHandshakeRequest(mechanism="OAUTHBEARER"), 1)
    token = _unsecured(NOW // 1000 - 3600)
    resp = s.authenticate(SaslAuthenticateRequest(auth_bytes=f"n,,\x01auth=Bearer {token}\x01\x01".encode()), 2, NOW)
    assert resp.error_code == 0 and bytes(resp.auth_bytes) == b'{"status":"invalid_token"}'
    with pytest.raises(SaslFailure) as exc:
        s.authenticate(SaslAuthenticateRequest(auth_bytes=b"\x01"), 2, NOW)
    assert exc.value.response.error_code == 58
    assert exc.value.response.error_message == '{"status":"invalid_token"}'
