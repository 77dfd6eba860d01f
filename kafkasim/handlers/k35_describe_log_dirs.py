"""DescribeLogDirs (key 35), versions 1-5.

Behaviour: the broker's one log directory (the data directory, or a stable pseudo path in memory, see
state/log_dirs.py) with every replica it holds among the topics asked for (null: all), each with its size
in bytes and offset lag (0: replicas share one log); partitions it does not hold, and unknown topics, are
left out without an error, as Kafka does.
Version notes: v2 flexible; v3 adds the top-level error_code; v4 total_bytes and usable_bytes; v5 is_cordoned
(never: kafkasim's log directory takes new replicas).
"""

from __future__ import annotations

from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.describe_log_dirs import (
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
    DescribeLogDirsResponseDescribeLogDirsPartition,
    DescribeLogDirsResponseDescribeLogDirsResult,
    DescribeLogDirsResponseDescribeLogDirsTopic,
)
from kafkasim.state.log_dirs import describe_log_dir


def error_response(req: DescribeLogDirsRequest, version: int, code: int) -> DescribeLogDirsResponse:
    return DescribeLogDirsResponse(error_code=code, results=[])


@handler(ApiKey.DESCRIBE_LOG_DIRS, (1, 5), error_response=error_response)
def describe_log_dirs(ctx, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse:
    topics = None if req.topics is None else [(t.topic, list(t.partitions)) for t in req.topics]
    d = describe_log_dir(ctx.state, ctx.node_id, topics)
    return DescribeLogDirsResponse(results=[DescribeLogDirsResponseDescribeLogDirsResult(
        log_dir=d.path, total_bytes=d.total_bytes, usable_bytes=d.usable_bytes,
        topics=[DescribeLogDirsResponseDescribeLogDirsTopic(name=name, partitions=[
            DescribeLogDirsResponseDescribeLogDirsPartition(partition_index=i, partition_size=size, offset_lag=lag)
            for i, size, lag in parts]) for name, parts in sorted(d.partitions.items())])])
