"""Bad input over real sockets: Kafka's answer (error or closed connection), never a crash, and other
connections keep working."""

from __future__ import annotations

import socket
import struct
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkasim.errors import ErrorCode
from kafkasim.protocol import api
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.frame import encode_request_header
from kafkasim.protocol.messages import api_versions, metadata
from kafkasim.testing.cluster import Cluster
from kafkasim.testing.wire import WireClient, parse_bootstrap


def raw(cluster: Cluster) -> socket.socket:
    s = socket.create_connection(parse_bootstrap(cluster.bootstrap_servers), timeout=5)
    return s


def frame(key: int, version: int, corr: int, body: bytes, client_id: str | None = "t") -> bytes:
    data = encode_request_header(key, version, corr, client_id) + body
    return struct.pack(">i", len(data)) + data


def closed_by_peer(s: socket.socket, deadline_s: float = 5.0) -> bool:
    """True when the broker closes the socket (EOF or reset) before the deadline."""
    s.settimeout(0.2)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if s.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


def healthy(cluster: Cluster) -> None:
    with WireClient(cluster.bootstrap_servers) as c:
        resp = c.request(ApiKey.METADATA, metadata.MetadataRequest(topics=None))
        assert resp.cluster_id == cluster.cluster_id


def test_server_unknown_api_key_closes_connection(running: Cluster) -> None:
    with raw(running) as s:
        body = struct.pack(">hhi", 9999, 0, 1) + b"\xff\xff"
        s.sendall(struct.pack(">i", len(body)) + body)
        assert closed_by_peer(s)
    healthy(running)


def test_server_unsupported_apiversions_version_answers_v0(running: Cluster) -> None:
    with raw(running) as s:
        s.sendall(frame(ApiKey.API_VERSIONS, 99, 42, b""))
        s.settimeout(5)
        size = struct.unpack(">i", s.recv(4))[0]
        body = b""
        while len(body) < size:
            body += s.recv(size - len(body))
    corr = struct.unpack_from(">i", body)[0]
    resp, _ = api.decode_response(ApiKey.API_VERSIONS, 0, memoryview(body), 4)
    assert corr == 42
    assert resp.error_code == ErrorCode.UNSUPPORTED_VERSION
    assert any(k.api_key == ApiKey.API_VERSIONS and k.max_version >= 3 for k in resp.api_keys)


def test_server_unsupported_version_of_other_api_closes_connection(running: Cluster) -> None:
    with raw(running) as s:
        s.sendall(frame(ApiKey.PRODUCE, 2, 1, b"\x00" * 16))
        assert closed_by_peer(s)
    healthy(running)


def test_server_oversized_frame_closes_before_reading_it() -> None:
    with Cluster(socket_request_max_bytes=4096).run_in_thread() as c:
        with raw(c) as s:
            s.sendall(struct.pack(">i", 4097) + b"\x00" * 16)
            assert closed_by_peer(s)
        with raw(c) as s:
            s.sendall(struct.pack(">i", -5))
            assert closed_by_peer(s)
        healthy(c)


def test_server_truncated_body_closes_connection(running: Cluster) -> None:
    body = api.encode_request(ApiKey.METADATA, 12, metadata.MetadataRequest(
        topics=[metadata.MetadataRequestMetadataRequestTopic(name="x" * 50)]))
    with raw(running) as s:
        s.sendall(frame(ApiKey.METADATA, 12, 7, body[:10]))
        assert closed_by_peer(s)
    healthy(running)


def test_server_array_length_beyond_frame_closes_connection(running: Cluster) -> None:
    # Metadata v4: topics array claims 2**31-1 entries in a tiny frame
    with raw(running) as s:
        s.sendall(frame(ApiKey.METADATA, 4, 3, struct.pack(">i", 0x7FFFFFFF) + b"\x01"))
        assert closed_by_peer(s)
    healthy(running)


def test_server_unknown_tagged_fields_are_skipped(running: Cluster) -> None:
    body = bytearray(api.encode_request(ApiKey.API_VERSIONS, 3, api_versions.ApiVersionsRequest(
        client_software_name="x", client_software_version="1")))
    assert body[-1] == 0  # empty tag section; replace it with two unknown tags
    body[-1:] = bytes([2, 90, 3]) + b"abc" + bytes([91, 0])
    with raw(running) as s:
        s.sendall(frame(ApiKey.API_VERSIONS, 3, 5, bytes(body)))
        s.settimeout(5)
        size = struct.unpack(">i", s.recv(4))[0]
        data = b""
        while len(data) < size:
            data += s.recv(size - len(data))
    resp, _ = api.decode_response(ApiKey.API_VERSIONS, 3, memoryview(data), 4)
    assert resp.error_code == 0


def test_server_pipelined_requests_answer_in_order(running: Cluster) -> None:
    body = api.encode_request(ApiKey.METADATA, 9, metadata.MetadataRequest(topics=None))
    with raw(running) as s:
        s.sendall(b"".join(frame(ApiKey.METADATA, 9, corr, body) for corr in range(1, 51)))
        s.settimeout(5)
        seen = []
        buf = b""
        while len(seen) < 50:
            buf += s.recv(65536)
            while len(buf) >= 4 and len(buf) - 4 >= struct.unpack_from(">i", buf)[0]:
                size = struct.unpack_from(">i", buf)[0]
                seen.append(struct.unpack_from(">i", buf, 4)[0])
                buf = buf[4 + size:]
    assert seen == list(range(1, 51))


VALID_FRAMES = [frame(ApiKey.METADATA, v, 1, api.encode_request(ApiKey.METADATA, v, metadata.MetadataRequest(
    topics=[metadata.MetadataRequestMetadataRequestTopic(name="fuzz")]))) for v in (1, 4, 9, 12)] + [
    frame(ApiKey.API_VERSIONS, 3, 1, api.encode_request(ApiKey.API_VERSIONS, 3, api_versions.ApiVersionsRequest(
        client_software_name="a", client_software_version="1")))]


@st.composite
def fuzz_frames(draw) -> bytes:
    kind = draw(st.sampled_from(["random", "mutated", "truncated"]))
    if kind == "random":
        body = draw(st.binary(min_size=0, max_size=200))
        key = draw(st.sampled_from([0, 1, 2, 3, 18, 19, 20, 32, 37, 44, 60, 7, 1000]))
        return struct.pack(">ihhi", len(body) + 8, key, draw(st.integers(-1, 20)), 1) + body
    base = bytearray(draw(st.sampled_from(VALID_FRAMES)))
    if kind == "truncated":
        cut = draw(st.integers(4, len(base) - 1))
        body = base[4:cut]
        return struct.pack(">i", len(body)) + bytes(body)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(4, len(base) - 1))
        base[i] = draw(st.integers(0, 255))
    return bytes(base)


def test_server_survives_fuzzed_frames() -> None:
    with Cluster().run_in_thread() as c:
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(fuzz_frames())
        def send(data: bytes) -> None:
            with raw(c) as s:
                s.sendall(data)
                s.settimeout(0.05)
                try:
                    s.recv(65536)
                except (TimeoutError, ConnectionResetError):
                    pass

        send()
        healthy(c)


def test_server_create_topics_partition_count_is_bounded(running: Cluster) -> None:
    from kafkasim.protocol.messages import create_topics as ct

    with WireClient(running.bootstrap_servers) as c:
        resp = c.request(ApiKey.CREATE_TOPICS, ct.CreateTopicsRequest(topics=[
            ct.CreateTopicsRequestCreatableTopic(name="huge", num_partitions=0x7FFFFFFF, replication_factor=1),
            ct.CreateTopicsRequestCreatableTopic(name="small", num_partitions=1, replication_factor=1)]))
    assert [t.error_code for t in resp.topics] == [ErrorCode.POLICY_VIOLATION] * 2
    assert running.state.topics == {}
