"""One module per API key (``kNN_<api>.py``); the @handler registry is the single source for ApiVersions.

A handler is ``fn(ctx, request) -> response``: a plain function, or ``async`` where it must wait (Fetch
long-poll). Returning :data:`NO_RESPONSE` sends nothing (Produce acks=0); :data:`CLOSE` closes the
connection (where Kafka does). State raises :class:`~kafkasim.errors.KafkaError`; handlers map it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kafkasim.state.cluster import ClusterState
from kafkasim.state.leadership import GROUP_KEY, TRANSACTION_KEY
from kafkasim.state.partitions import PartitionState

NO_RESPONSE = object()
CLOSE = object()


class RequestContext(Protocol):
    """What a handler may use of the server: state, the request's identity, the broker it reached (its node
    id), the API versions that broker serves, and waiting for appends."""

    state: ClusterState
    api_version: int
    client_id: str | None
    client_host: str
    conn_id: int
    node_id: int
    versions: dict[int, tuple[int, int, int]]  # api key -> (advertised min, served min, max)
    principal: str  # the authenticated principal, Kafka's form: "User:alice"; "User:ANONYMOUS" without SASL/mTLS
    listener: str  # the name of the listener the request came in on (endpoints in responses are that listener's)

    def throttle(self, ms: int) -> None:
        """Mute the connection for ``ms`` of cluster time after this response (KIP-219 quota throttling)."""

    async def wait_for_append(self, partitions: list[PartitionState], timeout_s: float) -> None: ...


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    api_key: int
    min_version: int
    max_version: int
    fn: Callable[..., Any]
    advertised_min: int
    error_response: Callable[[Any, int, int], Any] | None
    # (key type, key of the request or None) of APIs only a group's or transaction's coordinator serves:
    # another broker answers NOT_COORDINATOR without running the handler
    coordinator: tuple[int, Callable[[Any, int], str | None]] | None = None


HANDLERS: dict[int, HandlerSpec] = {}

#: ``coordinator=`` of APIs that name one group (``group_id``) or one transactional id (``transactional_id``)
BY_GROUP = (GROUP_KEY, lambda req, version: req.group_id or None)
BY_TRANSACTION = (TRANSACTION_KEY, lambda req, version: req.transactional_id or None)

#: Kafka features kafkasim does not serve yet (kfake-style list; README links here).
SKIPPED_FEATURES = [
    "Produce v0-2 (dropped by Kafka 4; advertised for librdkafka as Kafka 4 does, connection closed on use)",
    "Fetch sessions (KIP-227): every fetch is answered as a full, sessionless fetch (session id 0)",
    "DescribeConfigs documentation is returned null (include_documentation)",
    "dynamic broker configs other than the broker-level topic defaults (num.io.threads and the like are kept, "
    "not applied); a broker's own dynamic value applies to every topic",
    "per-record errors (record_errors) in Produce responses for bad timestamps and oversized records (served for "
    "keyless records on compacted topics and for schema-at-producer)",
    "transaction version 2 (KIP-890 part 2: EndTxn v5, AddPartitionsToTxn v5, implicit partition adds in Produce v12)",
    "KIP-848 regex subscriptions use Python's re rather than RE2/J",
    "OffsetCommit v10 / OffsetFetch v10 (topic ids)",
    "AddPartitionsToTxn v4 (broker to broker) is served by any broker, not only the transaction coordinator",
    "ElectLeaders: only the preferred and unclean elections of the test-control model",
    "automatic preferred-leader rebalancing (auto.leader.rebalance.enable): elect leaders with ElectLeaders",
    "__consumer_offsets and __transaction_state hold no records (Fetch and ListOffsets do not know them) and "
    "DeleteTopics does not delete them",
    "SASL/GSSAPI (Kerberos) and delegation tokens (CreateDelegationToken and the SCRAM tokenauth extension)",
    "the connection_creation_rate and controller_mutation_rate quotas are stored and described, not enforced",
    "TLS: PEM files only (no JKS/PKCS12 keystores), no ssl.cipher.suites / ssl.enabled.protocols settings",
]


def handler(api_key: int, versions: tuple[int, int], *, advertised_min: int | None = None,
            error_response: Callable[[Any, int, int], Any] | None = None,
            coordinator: tuple[int, Callable[[Any, int], str | None]] | None = None) -> Callable:
    """Register ``fn`` as the handler of ``api_key`` for the inclusive version range ``versions``.
    ``coordinator=(key type, key_of)``: only the coordinator of ``key_of(request, version)`` serves it."""

    def deco(fn: Callable) -> Callable:
        if api_key in HANDLERS:
            raise RuntimeError(f"two handlers for API key {api_key}")
        lo, hi = versions
        HANDLERS[api_key] = HandlerSpec(api_key, lo, hi, fn, lo if advertised_min is None else advertised_min,
                                        error_response, coordinator)
        return fn

    return deco


def supported_versions() -> list[tuple[int, int, int]]:
    """(api_key, min, max) as advertised in ApiVersions."""
    return [(k, s.advertised_min, s.max_version) for k, s in sorted(HANDLERS.items())]


def served_versions(kafka_version: str | None = None) -> dict[int, tuple[int, int, int]]:
    """Per API key: (advertised min, served min, max), capped to what Kafka release ``kafka_version`` had
    (``--kafka-version``): its APIs only, each within that release's range."""
    advertised = supported_versions()
    if kafka_version is not None:
        from kafkasim.protocol.versions import cap_versions, parse_release

        advertised = cap_versions(advertised, parse_release(kafka_version))  # ValueError: no such release
    return {k: (lo, max(lo, HANDLERS[k].min_version), hi) for k, lo, hi in advertised}


def _register_all() -> None:
    from kafkasim.handlers import (  # noqa: F401
        k00_produce,
        k01_fetch,
        k02_list_offsets,
        k03_metadata,
        k08_offset_commit,
        k09_offset_fetch,
        k10_find_coordinator,
        k11_join_group,
        k12_heartbeat,
        k13_leave_group,
        k14_sync_group,
        k15_describe_groups,
        k16_list_groups,
        k17_sasl_handshake,
        k18_api_versions,
        k19_create_topics,
        k20_delete_topics,
        k21_delete_records,
        k22_init_producer_id,
        k23_offset_for_leader_epoch,
        k24_add_partitions_to_txn,
        k25_add_offsets_to_txn,
        k26_end_txn,
        k28_txn_offset_commit,
        k29_describe_acls,
        k30_create_acls,
        k31_delete_acls,
        k32_describe_configs,
        k33_alter_configs,
        k34_alter_replica_log_dirs,
        k35_describe_log_dirs,
        k36_sasl_authenticate,
        k37_create_partitions,
        k42_delete_groups,
        k43_elect_leaders,
        k44_incremental_alter_configs,
        k45_alter_partition_reassignments,
        k46_list_partition_reassignments,
        k47_offset_delete,
        k48_describe_client_quotas,
        k49_alter_client_quotas,
        k50_describe_user_scram_credentials,
        k51_alter_user_scram_credentials,
        k60_describe_cluster,
        k61_describe_producers,
        k65_describe_transactions,
        k66_list_transactions,
        k68_consumer_group_heartbeat,
        k69_consumer_group_describe,
    )


_register_all()
