"""Metadata (key 3), versions 0-13.

Behaviour: brokers (those not fenced: a stopped broker leaves the list), cluster id, controller, and topics
with partitions, leaders, epochs, replicas, in-sync replicas and offline replicas (those on fenced brokers);
a partition without a leader answers LEADER_NOT_AVAILABLE with leader -1. A
null topic list (v1+; empty in v0) means all topics. Unknown topics are created when the broker allows
auto-creation (auto.create.topics.enable) and the request does (allow_auto_topic_creation, v4+; always
in v0-3); an illegal name then answers INVALID_TOPIC_EXCEPTION, otherwise UNKNOWN_TOPIC_OR_PARTITION.
Auto-created topics are ready at once.
Internal topics (__consumer_offsets, __transaction_state) are listed, with is_internal, once they exist: a
FindCoordinator of their key type creates them, as does a Metadata request that may auto-create them; their
partitions are the coordinators'. One that does not exist yet, asked for by name, is UNKNOWN_TOPIC_OR_PARTITION. With the authorizer (handlers/authz.py), as Kafka: all topics
means those the principal may DESCRIBE; a topic asked for by name without DESCRIBE is
TOPIC_AUTHORIZATION_FAILED (whether it exists or not), and auto-creation needs CREATE on the cluster or the
topic. Authorized operations (v8+) are the principal's (everything, without an authorizer).
Version notes: v10+ topic ids; v12 lookup by topic id (null name); v13 top-level error code.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, R, allowed, authorized_operations, topic_allowed
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.metadata import (
    MetadataRequest,
    MetadataResponse,
    MetadataResponseMetadataResponseBroker,
    MetadataResponseMetadataResponsePartition,
    MetadataResponseMetadataResponseTopic,
)
from kafkasim.protocol.primitives import ZERO_UUID
from kafkasim.state.acls import NOT_REQUESTED
from kafkasim.state.cluster import ClusterState
from kafkasim.state.leadership import GROUP_KEY, INTERNAL_TOPIC, TRANSACTION_KEY
from kafkasim.state.partitions import INTERNAL_TOPICS, NO_LEADER, Topic


def _partitions(state: ClusterState, parts: list) -> list[MetadataResponseMetadataResponsePartition]:
    fenced = {b.node_id for b in state.brokers.values() if b.fenced}
    return [MetadataResponseMetadataResponsePartition(
        error_code=ErrorCode.LEADER_NOT_AVAILABLE if p.leader == NO_LEADER else 0,
        partition_index=i, leader_id=p.leader, leader_epoch=p.leader_epoch, replica_nodes=list(p.replicas),
        isr_nodes=list(p.isr), offline_replicas=[r for r in p.replicas if r in fenced]) for i, p in enumerate(parts)]


def topic_metadata(state: ClusterState, t: Topic, ops: int) -> MetadataResponseMetadataResponseTopic:
    parts = t.cache.get("metadata")  # built once per partition layout: 10,000 partitions cost ~25 ms each time
    if parts is None:
        parts = t.cache["metadata"] = _partitions(state, t.partitions)
    return MetadataResponseMetadataResponseTopic(
        name=t.name, topic_id=t.topic_id, is_internal=t.internal, partitions=parts,
        topic_authorized_operations=ops)


def internal_topic_metadata(state: ClusterState, name: str, ops: int) -> MetadataResponseMetadataResponseTopic:
    """An internal topic that exists: its partitions are the coordinators' (``Leadership.coordinator_parts``)."""
    key_type = GROUP_KEY if name == INTERNAL_TOPIC[GROUP_KEY] else TRANSACTION_KEY
    return MetadataResponseMetadataResponseTopic(
        name=name, topic_id=state.topic_registry.internal[name], is_internal=True,
        partitions=_partitions(state, state.leadership.coordinator_parts(key_type)), topic_authorized_operations=ops)


def _internal_by_name(ctx, name: str, allow_create: bool, ops: int) -> MetadataResponseMetadataResponseTopic:
    """An internal topic asked for by name: as Kafka, one that does not exist yet is UNKNOWN_TOPIC_OR_PARTITION
    (still marked internal) unless the request may auto-create it, which needs CREATE as for any topic; kafkasim
    answers a topic it auto-creates at once (Kafka answers it UNKNOWN_TOPIC_OR_PARTITION while it creates it)."""
    state = ctx.state
    if name not in state.topic_registry.internal and allow_create and (
            not state.acls.enabled or allowed(ctx, Op.CREATE, R.CLUSTER) or topic_allowed(ctx, Op.CREATE, name)):
        state.topic_registry.create_internal(name)
    if name not in state.topic_registry.internal:
        return MetadataResponseMetadataResponseTopic(name=name, is_internal=True,
                                                     error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    return internal_topic_metadata(state, name, ops)


@handler(ApiKey.METADATA, (0, 13))
def metadata(ctx, req: MetadataRequest) -> MetadataResponse:
    state = ctx.state
    version = ctx.api_version
    include_ops = version >= 8 and req.include_topic_authorized_operations
    authorizing = state.acls.enabled

    def ops_of(name: str) -> int:
        return authorized_operations(ctx, R.TOPIC, name) if include_ops else NOT_REQUESTED

    def ops(t: Topic) -> int:
        return ops_of(t.name)

    internal = state.topic_registry.internal

    allow_create = state.config.auto_create_topics and (req.allow_auto_topic_creation or version < 4)
    topics = []
    if req.topics is None or (version == 0 and not req.topics):
        topics = [topic_metadata(state, t, ops(t)) for t in state.topics.values()
                  if not authorizing or topic_allowed(ctx, Op.DESCRIBE, t.name)]
        topics += [internal_topic_metadata(state, name, ops_of(name)) for name in internal
                   if name not in state.topics and (not authorizing or topic_allowed(ctx, Op.DESCRIBE, name))]
    else:
        for rt in req.topics:
            name = rt.name
            if name is None:
                tid = rt.topic_id
                t = state.topics_by_id.get(bytes(tid)) if tid != ZERO_UUID else None
                internal_name = next((n for n, i in internal.items() if i == bytes(tid)), None) if t is None else None
                if internal_name is not None and authorizing and not topic_allowed(ctx, Op.DESCRIBE, internal_name):
                    topics.append(MetadataResponseMetadataResponseTopic(
                        name=None, topic_id=tid, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                elif internal_name is not None:
                    topics.append(internal_topic_metadata(state, internal_name, ops_of(internal_name)))
                elif t is None:
                    topics.append(MetadataResponseMetadataResponseTopic(
                        name=None, topic_id=tid, error_code=ErrorCode.UNKNOWN_TOPIC_ID))
                elif authorizing and not topic_allowed(ctx, Op.DESCRIBE, t.name):
                    topics.append(MetadataResponseMetadataResponseTopic(
                        name=None, topic_id=tid, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                else:
                    topics.append(topic_metadata(state, t, ops(t)))
                continue
            if authorizing and not topic_allowed(ctx, Op.DESCRIBE, name):
                topics.append(MetadataResponseMetadataResponseTopic(name=name,
                                                                    error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                continue
            t = state.topics.get(name)
            if t is None and name in INTERNAL_TOPICS:
                topics.append(_internal_by_name(ctx, name, allow_create, ops_of(name)))
                continue
            if t is None and allow_create and authorizing and not (
                    allowed(ctx, Op.CREATE, R.CLUSTER) or topic_allowed(ctx, Op.CREATE, name)):
                topics.append(MetadataResponseMetadataResponseTopic(name=name,
                                                                    error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                continue
            if t is None and allow_create:
                try:
                    t = state.auto_create(name)  # validates the name too
                except KafkaError as exc:
                    topics.append(MetadataResponseMetadataResponseTopic(name=name, error_code=exc.code))
                    continue
            if t is None:
                topics.append(MetadataResponseMetadataResponseTopic(
                    name=name, error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
            else:
                topics.append(topic_metadata(state, t, ops(t)))
    brokers = [MetadataResponseMetadataResponseBroker(node_id=b.node_id, host=host, port=port, rack=b.rack)
               for b in state.live_brokers() for host, port in (b.address(ctx.listener),)]
    return MetadataResponse(
        brokers=brokers, cluster_id=state.cluster_id, controller_id=state.controller_id, topics=topics,
        cluster_authorized_operations=(authorized_operations(ctx, R.CLUSTER) if 8 <= version <= 10
                                       and req.include_cluster_authorized_operations else NOT_REQUESTED))
