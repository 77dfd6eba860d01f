"""A minimal blocking Kafka client on kafkasim's own codec: for the CLI, tools and raw-protocol tests."""

from __future__ import annotations

import itertools
import socket
import struct

from kafkasim.protocol import api
from kafkasim.protocol.frame import encode_request_header, read_response_header
from kafkasim.protocol.messages import api_versions

_SIZE = struct.Struct(">i")


def parse_bootstrap(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"bootstrap must be HOST:PORT, got {bootstrap!r}")
    return host.strip("[]"), int(port)


class WireClient:
    """One connection; ``request(key, msg)`` picks the highest version both sides serve."""

    def __init__(self, bootstrap: str, timeout: float = 10.0, client_id: str = "kafkasim-cli") -> None:
        host, port = parse_bootstrap(bootstrap)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.client_id = client_id
        self._corr = itertools.count(1)
        self.versions: dict[int, tuple[int, int]] = {}
        resp = self.request_at(api.ApiKey.API_VERSIONS, 3, api_versions.ApiVersionsRequest(
            client_software_name="kafkasim-cli", client_software_version="1"))
        self.versions = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_frame(self) -> bytes:
        (size,) = _SIZE.unpack(self._recv_exact(4))
        return self._recv_exact(size)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            buf += chunk
        return bytes(buf)

    def version_for(self, key: int) -> int:
        mod = api.module(key)
        lo, hi = self.versions.get(key, (None, None))
        if lo is None:
            raise RuntimeError(f"broker does not serve {api.api_name(key)}")
        mine = mod.REQUEST_VERSIONS
        v = min(hi, mine[1])
        if v < max(lo, mine[0]):
            raise RuntimeError(f"no common version for {api.api_name(key)}")
        return v

    def authenticate_plain(self, user: str, password: str):
        """SASL/PLAIN on a SASL listener (SaslHandshake v1, then SaslAuthenticate): the SaslAuthenticate
        response (error_code 0 once authenticated). An unsupported mechanism raises RuntimeError."""
        from kafkasim.protocol.messages import sasl_authenticate, sasl_handshake

        hs = self.request(api.ApiKey.SASL_HANDSHAKE, sasl_handshake.SaslHandshakeRequest(mechanism="PLAIN"), 1)
        if hs.error_code:
            raise RuntimeError(f"SaslHandshake answered error {hs.error_code} (enabled: {hs.mechanisms})")
        token = f"\0{user}\0{password}".encode()
        return self.request(api.ApiKey.SASL_AUTHENTICATE, sasl_authenticate.SaslAuthenticateRequest(auth_bytes=token))

    def request(self, key: int, msg, version: int | None = None):
        return self.request_at(key, self.version_for(key) if version is None else version, msg)

    def request_at(self, key: int, version: int, msg):
        corr = next(self._corr)
        data = encode_request_header(key, version, corr, self.client_id) + api.encode_request(key, version, msg)
        self.sock.sendall(_SIZE.pack(len(data)) + data)
        frame = self.recv_frame()
        got, pos = read_response_header(key, version, frame)
        if got != corr:
            raise RuntimeError(f"correlation id mismatch: sent {corr}, got {got}")
        resp, _ = api.decode_response(key, version, memoryview(frame), pos)
        return resp


class WireCluster:
    """A connection to every broker of a cluster, found through one bootstrap broker's Metadata, so that each
    request goes to the broker that serves it: a partition's leader, a key's coordinator, or each broker in
    turn (ListGroups and ListTransactions answer for the broker asked)."""

    def __init__(self, bootstrap: str, timeout: float = 10.0, client_id: str = "kafkasim-cli") -> None:
        from kafkasim.protocol.messages import metadata as md

        self.timeout = timeout
        self.client_id = client_id
        self.any = WireClient(bootstrap, timeout, client_id)
        self._conns: dict[int, WireClient] = {}
        try:
            meta = self.any.request(api.ApiKey.METADATA, md.MetadataRequest(topics=[], allow_auto_topic_creation=False))
        except BaseException:
            self.any.close()
            raise
        self.brokers = {b.node_id: f"{b.host}:{b.port}" for b in meta.brokers}

    def close(self) -> None:
        self.any.close()
        for c in self._conns.values():
            c.close()
        self._conns.clear()

    def __enter__(self) -> WireCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def node(self, node_id: int) -> WireClient:
        """The connection to broker ``node_id`` (opened on first use)."""
        c = self._conns.get(node_id)
        if c is None:
            if node_id not in self.brokers:
                raise ConnectionError(f"broker {node_id} is not in the cluster's metadata (brokers: "
                                      f"{sorted(self.brokers)})")
            c = self._conns[node_id] = WireClient(self.brokers[node_id], self.timeout, self.client_id)
        return c

    def each(self) -> list[WireClient]:
        """A connection to every broker, by node id."""
        return [self.node(n) for n in sorted(self.brokers)]

    def coordinator(self, key: str, key_type: int = 0) -> WireClient:
        """The connection to the coordinator of a group (key type 0) or transactional id (1)."""
        from kafkasim.protocol.messages import find_coordinator as fc

        resp = self.any.request(api.ApiKey.FIND_COORDINATOR, fc.FindCoordinatorRequest(
            key=key, key_type=key_type, coordinator_keys=[key]))
        found = resp.coordinators[0] if resp.coordinators else resp
        if found.error_code:
            from kafkasim.errors import ErrorCode

            raise ConnectionError(f"no coordinator for {key!r}: {ErrorCode(found.error_code).name}")
        self.brokers.setdefault(found.node_id, f"{found.host}:{found.port}")
        return self.node(found.node_id)
