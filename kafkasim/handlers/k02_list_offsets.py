"""ListOffsets (key 2), versions 1-8.

Behaviour: timestamp -2 earliest (log start), -1 latest (high watermark, or last stable offset for
read_committed), -3 the record with the largest timestamp (v7+), -4 earliest local (= log start, v8+);
a timestamp >= 0 finds the first offset whose record timestamp is >= it (offset -1 and timestamp -1 when
there is none). current_leader_epoch (v4+) is checked as in Fetch. Only the leader answers (consumers'
requests); other brokers answer NOT_LEADER_OR_FOLLOWER.
Version notes: v0 (several offsets per partition) was dropped by Kafka 4 and is not served; v2 adds
isolation_level; v4 leader epochs; v6 flexible.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, require_topic
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.list_offsets import (
    ListOffsetsRequest,
    ListOffsetsResponse,
    ListOffsetsResponseListOffsetsPartitionResponse,
    ListOffsetsResponseListOffsetsTopicResponse,
)
from kafkasim.state.log_ops import EARLIEST_LOCAL_TIMESTAMP, MAX_TIMESTAMP


def error_response(req: ListOffsetsRequest, version: int, code: int) -> ListOffsetsResponse:
    return ListOffsetsResponse(topics=[ListOffsetsResponseListOffsetsTopicResponse(name=t.name, partitions=[
        ListOffsetsResponseListOffsetsPartitionResponse(partition_index=p.partition_index, error_code=code,
                                                       offset=-1, timestamp=-1)
        for p in t.partitions]) for t in req.topics])


@handler(ApiKey.LIST_OFFSETS, (1, 8), error_response=error_response)
def list_offsets(ctx, req: ListOffsetsRequest) -> ListOffsetsResponse:
    state = ctx.state
    version = ctx.api_version
    topics = []
    for t in req.topics:
        parts = []
        for lp in t.partitions:
            r = ListOffsetsResponseListOffsetsPartitionResponse(partition_index=lp.partition_index, offset=-1,
                                                                timestamp=-1)
            parts.append(r)
            try:
                require_topic(ctx, Op.DESCRIBE, t.name)
                p = state.leader_partition(t.name, lp.partition_index, ctx.node_id)
                if lp.current_leader_epoch not in (-1, p.leader_epoch):
                    r.error_code = (ErrorCode.FENCED_LEADER_EPOCH if lp.current_leader_epoch < p.leader_epoch
                                    else ErrorCode.UNKNOWN_LEADER_EPOCH)
                    continue
                if lp.timestamp == MAX_TIMESTAMP and version < 7 or lp.timestamp == EARLIEST_LOCAL_TIMESTAMP and version < 8:
                    raise KafkaError(ErrorCode.UNSUPPORTED_VERSION)
                r.offset, r.timestamp = state.list_offset(p, lp.timestamp, req.isolation_level == 1)
                r.leader_epoch = p.leader_epoch
            except KafkaError as exc:
                r.error_code = exc.code
        topics.append(ListOffsetsResponseListOffsetsTopicResponse(name=t.name, partitions=parts))
    return ListOffsetsResponse(topics=topics)
