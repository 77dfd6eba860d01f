"""A SASL listener over real sockets: before authentication only ApiVersions, SaslHandshake and
SaslAuthenticate are served, frames are capped at sasl.server.max.receive.size, failures are answered as
Kafka answers them (after the failed-authentication delay), and nothing of it disturbs other connections."""

from __future__ import annotations

import struct
import time

import pytest

from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import metadata, sasl_handshake
from kafkasim.testing.cluster import Cluster
from kafkasim.testing.wire import WireClient
from tests.server.test_robustness import closed_by_peer

LISTENERS = ("PLAINTEXT://127.0.0.1:0", "SASL_PLAINTEXT://127.0.0.1:0")
ALL_TOPICS = metadata.MetadataRequest(topics=None)


@pytest.fixture
def secured():
    with Cluster(listeners=LISTENERS, users=("alice:pw",), connection_failed_authentication_delay_ms=0
                 ).run_in_thread() as c:
        yield c


def sasl(c: Cluster) -> WireClient:
    return WireClient(c.listener_bootstrap("SASL_PLAINTEXT"))  # its ApiVersions comes first, as clients send it


def test_sasl_listener_authenticates_then_serves(secured: Cluster) -> None:
    with sasl(secured) as w:
        auth = w.authenticate_plain("alice", "pw")
        assert auth.error_code == 0 and auth.session_lifetime_ms == 0
        assert w.request(ApiKey.METADATA, ALL_TOPICS).cluster_id == secured.cluster_id
        assert [(x.listener, x.principal, x.mechanism) for x in secured.connections()] == [
            ("SASL_PLAINTEXT", "User:alice", "PLAIN")]


def test_sasl_listener_closes_on_other_requests_before_authentication(secured: Cluster) -> None:
    with sasl(secured) as w:
        with pytest.raises(ConnectionError):
            w.request(ApiKey.METADATA, ALL_TOPICS)


def test_sasl_listener_unknown_mechanism_and_wrong_password(secured: Cluster) -> None:
    with sasl(secured) as w:
        hs = w.request(ApiKey.SASL_HANDSHAKE, sasl_handshake.SaslHandshakeRequest(mechanism="GSSAPI"), 1)
        assert hs.error_code == ErrorCode.UNSUPPORTED_SASL_MECHANISM
        assert hs.mechanisms == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
        assert closed_by_peer(w.sock)
    with sasl(secured) as w:
        auth = w.authenticate_plain("alice", "wrong")
        assert auth.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
        assert auth.error_message == "Authentication failed: Invalid username or password"
        assert closed_by_peer(w.sock)
    with WireClient(secured.bootstrap_servers) as plain:  # on a listener without SASL: ILLEGAL_SASL_STATE
        hs = plain.request(ApiKey.SASL_HANDSHAKE, sasl_handshake.SaslHandshakeRequest(mechanism="PLAIN"), 1)
        assert hs.error_code == ErrorCode.ILLEGAL_SASL_STATE


def test_sasl_listener_caps_frames_before_authentication_for_that_connection_only(secured: Cluster) -> None:
    with sasl(secured) as big, WireClient(secured.bootstrap_servers) as other:
        big.send_raw(struct.pack(">i", 600_000) + b"\0" * 64)  # over sasl.server.max.receive.size (512 KiB)
        assert closed_by_peer(big.sock)
        assert other.request(ApiKey.METADATA, ALL_TOPICS).cluster_id == secured.cluster_id


def test_sasl_listener_answers_a_failure_after_the_delay() -> None:
    with Cluster(listeners=LISTENERS, users=("alice:pw",), connection_failed_authentication_delay_ms=300
                 ).run_in_thread() as c, sasl(c) as w:
        t0 = time.monotonic()
        assert w.authenticate_plain("bob", "x").error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
        assert time.monotonic() - t0 >= 0.3
        assert closed_by_peer(w.sock)


def test_sasl_session_expires_on_the_virtual_clock() -> None:
    with Cluster(listeners=LISTENERS, users=("alice:pw",), connections_max_reauth_ms=5000, clock="virtual"
                 ).run_in_thread() as c, sasl(c) as w:
        assert w.authenticate_plain("alice", "pw").session_lifetime_ms == 5000
        assert w.request(ApiKey.METADATA, ALL_TOPICS).cluster_id == c.cluster_id
        c.clock.advance(5000)
        with pytest.raises(ConnectionError):  # not re-authenticated: closed on its next request
            w.request(ApiKey.METADATA, ALL_TOPICS)
