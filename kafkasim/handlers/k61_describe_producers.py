"""DescribeProducers (key 61), version 0.

Behaviour: the active producers of each requested partition, from its producer state: producer id,
epoch, last sequence and timestamp of its last appended batch, and the first offset of its open
transaction (-1 when none). UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist,
NOT_LEADER_OR_FOLLOWER from a broker that does not lead it.
ACLs: READ per topic (TOPIC_AUTHORIZATION_FAILED on its partitions).
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import denied_topics
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import describe_producers as dp
from kafkasim.state.acls import AclOperation


def _partition(ctx, topic: str, index: int) -> dp.DescribeProducersResponsePartitionResponse:
    r = dp.DescribeProducersResponsePartitionResponse(partition_index=index)
    try:
        p = ctx.state.leader_partition(topic, index, ctx.node_id)
    except KafkaError as exc:
        r.error_code = exc.code
        r.error_message = exc.message
        return r
    r.active_producers = [dp.DescribeProducersResponseProducerState(
        producer_id=pid, producer_epoch=e.epoch, last_sequence=e.last_seq,
        last_timestamp=e.batches[-1].timestamp if e.batches else -1, coordinator_epoch=0,
        current_txn_start_offset=p.open_txns.get(pid, -1)) for pid, e in sorted(p.producers.entries.items())]
    return r


@handler(ApiKey.DESCRIBE_PRODUCERS, (0, 0))
def describe_producers(ctx, req: dp.DescribeProducersRequest) -> dp.DescribeProducersResponse:
    denied = denied_topics(ctx, AclOperation.READ, (t.name for t in req.topics))
    return dp.DescribeProducersResponse(topics=[dp.DescribeProducersResponseTopicResponse(
        name=t.name, partitions=[dp.DescribeProducersResponsePartitionResponse(
            partition_index=i, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED) if t.name in denied
            else _partition(ctx, t.name, i) for i in t.partition_indexes]) for t in req.topics])
