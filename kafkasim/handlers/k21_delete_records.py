"""DeleteRecords (key 21), versions 0-2.

Behaviour: moves each partition's log start offset (low watermark) to the given offset; -1 means the high
watermark. Records before it are no longer served (Fetch answers OFFSET_OUT_OF_RANGE, ListOffsets
EARLIEST answers the new start) and whole segments below it are deleted, as in Kafka. An offset past the
high watermark answers OFFSET_OUT_OF_RANGE; an unknown partition UNKNOWN_TOPIC_OR_PARTITION; a topic whose
cleanup.policy is only "compact" POLICY_VIOLATION; a broker that does not lead the partition
NOT_LEADER_OR_FOLLOWER. The low watermark is -1 with an error.
Version notes: v2 is the flexible version; nothing else differs.
"""

from __future__ import annotations

from kafkasim.errors import KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, require_topic
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.delete_records import (
    DeleteRecordsRequest,
    DeleteRecordsResponse,
    DeleteRecordsResponseDeleteRecordsPartitionResult,
    DeleteRecordsResponseDeleteRecordsTopicResult,
)


@handler(ApiKey.DELETE_RECORDS, (0, 2))
def delete_records(ctx, req: DeleteRecordsRequest) -> DeleteRecordsResponse:
    topics = []
    for t in req.topics:
        parts = []
        for p in t.partitions:
            r = DeleteRecordsResponseDeleteRecordsPartitionResult(partition_index=p.partition_index, low_watermark=-1)
            try:
                require_topic(ctx, Op.DELETE, t.name)
                r.low_watermark = ctx.state.delete_records(t.name, p.partition_index, p.offset, ctx.node_id)
            except KafkaError as exc:
                r.error_code = exc.code
            parts.append(r)
        topics.append(DeleteRecordsResponseDeleteRecordsTopicResult(name=t.name, partitions=parts))
    return DeleteRecordsResponse(topics=topics)
