"""What a test can see of a cluster's security: its listeners, and who is connected on them as what."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kafkasim.server.cluster import ClusterServer


@dataclasses.dataclass(frozen=True, slots=True)
class ListenerInfo:
    """A listener of every broker: its name, security protocol, SASL mechanisms and bootstrap.servers."""

    name: str
    protocol: str
    mechanisms: tuple[str, ...]
    bootstrap: str


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """An open client connection: where it came in, and who it is. ``principal`` is Kafka's form
    ("User:alice"; "User:ANONYMOUS" on PLAINTEXT, or before SASL completes); ``mechanism`` the SASL mechanism
    (None without SASL); ``session_expires_ms`` when its SASL session ends (cluster time; None: never);
    ``authentications`` its successful SASL authentications, re-authentications included."""

    id: int
    node_id: int
    listener: str
    peer: str
    principal: str
    authenticated: bool
    mechanism: str | None
    session_expires_ms: int | None
    authentications: int


def listeners(server: ClusterServer) -> list[ListenerInfo]:
    return [ListenerInfo(x.name, x.protocol, x.mechanisms, server.listener_bootstrap(x.name))
            for x in server.config.listener_specs]


def connections(server: ClusterServer) -> list[ConnectionInfo]:
    out = []
    for node_id, broker in sorted(server.brokers.items()):
        for conn in sorted(broker.open_connections(), key=lambda c: c.id):
            sasl = conn.sasl
            peer = f"{conn.peer[0]}:{conn.peer[1]}" if conn.peer else ""
            out.append(ConnectionInfo(
                conn.id, node_id, conn.listener.name, peer, conn.principal,
                sasl is None or sasl.authenticated, None if sasl is None else sasl.mechanism,
                None if sasl is None else sasl.expires_at, 0 if sasl is None else sasl.authentications))
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class AclInfo:
    """An ACL binding, with Kafka's names: resource type, pattern type, operation and permission."""

    resource_type: str
    resource_name: str
    pattern_type: str
    principal: str
    host: str
    operation: str
    permission: str


@dataclasses.dataclass(frozen=True, slots=True)
class QuotaInfo:
    """A client quota: its entity ((type, name) pairs; a None name is the default) and values."""

    entity: tuple[tuple[str, str | None], ...]
    values: dict[str, float]


@dataclasses.dataclass(frozen=True, slots=True)
class UserInfo:
    """A SASL user: whether it has a PLAIN password, and its SCRAM mechanisms with their iterations."""

    name: str
    plain: bool
    scram: dict[str, int]


def acls(server: ClusterServer) -> list[AclInfo]:
    from kafkasim.state.acls import AclOperation, AclPermission, PatternType, ResourceType

    return [AclInfo(ResourceType(b.resource_type).name, b.resource_name, PatternType(b.pattern_type).name,
                    b.principal, b.host, AclOperation(b.operation).name, AclPermission(b.permission).name)
            for b in server.state.acls.bindings]


def quotas(server: ClusterServer) -> list[QuotaInfo]:
    return [QuotaInfo(tuple(entity), dict(values)) for entity, values in server.state.quotas.quotas.items()]


def users(server: ClusterServer) -> list[UserInfo]:
    creds = server.state.credentials
    return [UserInfo(u, creds.plain_password(u) is not None,
                     {m: c.iterations for m, c in sorted(creds.scram.get(u, {}).items())}) for u in creds.users]
