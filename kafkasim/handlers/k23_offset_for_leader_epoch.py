"""OffsetForLeaderEpoch (key 23), versions 2-4.

Behaviour: for each partition and leader epoch, the end offset of that epoch as the leader's epoch cache
knows it (the log end offset for the current epoch; else the first offset of the next epoch it knows,
with the latest epoch at or before the requested one), so a consumer that saw a leader change can check
its position for truncation (KIP-320). An unknown or later epoch answers epoch -1 and offset -1 without
an error, as Kafka does. current_leader_epoch is checked as in Fetch (FENCED_LEADER_EPOCH,
UNKNOWN_LEADER_EPOCH); only the partition's leader answers (NOT_LEADER_OR_FOLLOWER elsewhere).
ACLs: DESCRIBE per topic (TOPIC_AUTHORIZATION_FAILED); a follower's request needs CLUSTER_ACTION.
Version notes: Kafka 4 serves v2+ (v2 current_leader_epoch; v3 replica_id; v4 flexible). Followers'
requests (replica_id >= 0) are answered like consumers'.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import (
    cluster_allowed,
    denied_topics,
)
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import offset_for_leader_epoch as ofle
from kafkasim.state.acls import AclOperation


def _partition(ctx, topic: str, rp: ofle.OffsetForLeaderEpochRequestOffsetForLeaderPartition
               ) -> ofle.OffsetForLeaderEpochResponseEpochEndOffset:
    r = ofle.OffsetForLeaderEpochResponseEpochEndOffset(partition=rp.partition)
    try:
        p = ctx.state.leader_partition(topic, rp.partition, ctx.node_id)
    except KafkaError as exc:
        r.error_code = exc.code
        return r
    current = rp.current_leader_epoch
    if current != -1 and current != p.leader_epoch:
        r.error_code = ErrorCode.FENCED_LEADER_EPOCH if current < p.leader_epoch else ErrorCode.UNKNOWN_LEADER_EPOCH
        return r
    r.leader_epoch, r.end_offset = p.epoch_end_offset(rp.leader_epoch)
    return r


@handler(ApiKey.OFFSET_FOR_LEADER_EPOCH, (2, 4))
def offset_for_leader_epoch(ctx, req: ofle.OffsetForLeaderEpochRequest) -> ofle.OffsetForLeaderEpochResponse:
    if ctx.state.acls.enabled:  # consumers DESCRIBE per topic; followers CLUSTER_ACTION
        names = {t.topic for t in req.topics}
        if req.replica_id >= 0:
            denied = set() if cluster_allowed(ctx, AclOperation.CLUSTER_ACTION) else names
        else:
            denied = denied_topics(ctx, AclOperation.DESCRIBE, names)
        if denied:
            return ofle.OffsetForLeaderEpochResponse(topics=[
                ofle.OffsetForLeaderEpochResponseOffsetForLeaderTopicResult(topic=t.topic, partitions=[
                    ofle.OffsetForLeaderEpochResponseEpochEndOffset(
                        partition=p.partition, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                    if t.topic in denied else _partition(ctx, t.topic, p) for p in t.partitions])
                for t in req.topics])
    return ofle.OffsetForLeaderEpochResponse(topics=[ofle.OffsetForLeaderEpochResponseOffsetForLeaderTopicResult(
        topic=t.topic, partitions=[_partition(ctx, t.topic, p) for p in t.partitions]) for t in req.topics])
