"""Metadata (key 3), versions 0-13.

Behaviour: brokers (those not fenced: a stopped broker leaves the list), cluster id, controller, and topics
with partitions, leaders, epochs, replicas, in-sync replicas and offline replicas (those on fenced brokers);
a partition without a leader answers LEADER_NOT_AVAILABLE with leader -1. A
null topic list (v1+; empty in v0) means all topics. Unknown topics are created when the broker allows
auto-creation (auto.create.topics.enable) and the request does (allow_auto_topic_creation, v4+; always
in v0-3); an illegal name then answers INVALID_TOPIC_EXCEPTION, otherwise UNKNOWN_TOPIC_OR_PARTITION.
Auto-created topics are ready at once. Authorized operations (v8+) report everything allowed, as on a
broker without an authorizer.
Version notes: v10+ topic ids; v12 lookup by topic id (null name); v13 top-level error code.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.metadata import (
    MetadataRequest,
    MetadataResponse,
    MetadataResponseMetadataResponseBroker,
    MetadataResponseMetadataResponsePartition,
    MetadataResponseMetadataResponseTopic,
)
from kafkasim.protocol.primitives import ZERO_UUID
from kafkasim.state.cluster import ClusterState
from kafkasim.state.partitions import NO_LEADER, Topic

NOT_REQUESTED = -2147483648
# READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS
TOPIC_OPERATIONS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))
# CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE
CLUSTER_OPERATIONS = sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))


def topic_metadata(state: ClusterState, t: Topic, include_ops: bool) -> MetadataResponseMetadataResponseTopic:
    parts = t.cache.get("metadata")  # built once per partition layout: 10,000 partitions cost ~25 ms each time
    if parts is None:
        fenced = {b.node_id for b in state.brokers.values() if b.fenced}
        parts = t.cache["metadata"] = [MetadataResponseMetadataResponsePartition(
            error_code=ErrorCode.LEADER_NOT_AVAILABLE if p.leader == NO_LEADER else 0,
            partition_index=p.index, leader_id=p.leader, leader_epoch=p.leader_epoch, replica_nodes=list(p.replicas),
            isr_nodes=list(p.isr), offline_replicas=[r for r in p.replicas if r in fenced]) for p in t.partitions]
    return MetadataResponseMetadataResponseTopic(
        name=t.name, topic_id=t.topic_id, is_internal=t.internal, partitions=parts,
        topic_authorized_operations=TOPIC_OPERATIONS if include_ops else NOT_REQUESTED)


@handler(ApiKey.METADATA, (0, 13))
def metadata(ctx, req: MetadataRequest) -> MetadataResponse:
    state = ctx.state
    version = ctx.api_version
    include_ops = version >= 8 and req.include_topic_authorized_operations
    allow_create = state.config.auto_create_topics and (req.allow_auto_topic_creation or version < 4)
    topics = []
    if req.topics is None or (version == 0 and not req.topics):
        topics = [topic_metadata(state, t, include_ops) for t in state.topics.values()]
    else:
        for rt in req.topics:
            name = rt.name
            if name is None:
                tid = rt.topic_id
                t = state.topics_by_id.get(bytes(tid)) if tid != ZERO_UUID else None
                if t is None:
                    topics.append(MetadataResponseMetadataResponseTopic(
                        name=None, topic_id=tid, error_code=ErrorCode.UNKNOWN_TOPIC_ID))
                else:
                    topics.append(topic_metadata(state, t, include_ops))
                continue
            t = state.topics.get(name)
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
                topics.append(topic_metadata(state, t, include_ops))
    brokers = [MetadataResponseMetadataResponseBroker(node_id=b.node_id, host=host, port=port, rack=b.rack)
               for b in state.live_brokers() for host, port in (b.address(ctx.listener),)]
    return MetadataResponse(
        brokers=brokers, cluster_id=state.cluster_id, controller_id=state.controller_id, topics=topics,
        cluster_authorized_operations=(CLUSTER_OPERATIONS if 8 <= version <= 10
                                       and req.include_cluster_authorized_operations else NOT_REQUESTED))
