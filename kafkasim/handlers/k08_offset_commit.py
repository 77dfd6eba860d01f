"""OffsetCommit (key 8), versions 2-9.

Behaviour: members commit with their generation; a client outside any group (manual assignment) commits
with generation -1 and no member id while the group is Empty, as Kafka allows. Per partition:
UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE (offset.metadata.max.bytes); for the request:
ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS (while completing a rebalance),
FENCED_INSTANCE_ID, INVALID_GROUP_ID. Metadata and leader epoch are kept.
ACLs: READ on the group (GROUP_AUTHORIZATION_FAILED on every partition), then READ per topic
(TOPIC_AUTHORIZATION_FAILED; those partitions are not committed).
Version notes: v2-4 retention_time_ms is ignored (Kafka 2.0+ too); v6 committed_leader_epoch; v7
group_instance_id; v8 flexible; v9 member epoch (the generation for classic groups); v10 (topic ids)
is not served.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import BY_GROUP, handler
from kafkasim.handlers.authz import allowed, denied_topics
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.offset_commit import (
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetCommitResponseOffsetCommitResponsePartition,
    OffsetCommitResponseOffsetCommitResponseTopic,
)
from kafkasim.state.acls import AclOperation, ResourceType


def error_response(req: OffsetCommitRequest, version: int, code: int) -> OffsetCommitResponse:
    return OffsetCommitResponse(topics=[OffsetCommitResponseOffsetCommitResponseTopic(name=t.name, partitions=[
        OffsetCommitResponseOffsetCommitResponsePartition(partition_index=p.partition_index, error_code=code)
        for p in t.partitions]) for t in req.topics])


@handler(ApiKey.OFFSET_COMMIT, (2, 9), error_response=error_response, coordinator=BY_GROUP)
def offset_commit(ctx, req: OffsetCommitRequest) -> OffsetCommitResponse:
    v = ctx.api_version
    denied: set[str] = set()
    if ctx.state.acls.enabled:
        if not allowed(ctx, AclOperation.READ, ResourceType.GROUP, req.group_id):
            return error_response(req, v, ErrorCode.GROUP_AUTHORIZATION_FAILED)
        denied = denied_topics(ctx, AclOperation.READ, (t.name for t in req.topics))
    flat = [(t.name, p.partition_index, p.committed_offset, p.committed_leader_epoch if v >= 6 else -1,
             p.committed_metadata) for t in req.topics if t.name not in denied for p in t.partitions]
    results = iter(ctx.state.groups.commit_offsets(
        req.group_id, req.generation_id_or_member_epoch, req.member_id,
        req.group_instance_id if v >= 7 else None, flat))
    errors = (ErrorCode.TOPIC_AUTHORIZATION_FAILED if t.name in denied else next(results)
              for t in req.topics for p in t.partitions)
    return OffsetCommitResponse(topics=[OffsetCommitResponseOffsetCommitResponseTopic(name=t.name, partitions=[
        OffsetCommitResponseOffsetCommitResponsePartition(partition_index=p.partition_index, error_code=next(errors))
        for p in t.partitions]) for t in req.topics])
