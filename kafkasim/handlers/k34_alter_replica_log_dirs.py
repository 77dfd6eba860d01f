"""AlterReplicaLogDirs (key 34), versions 1-2.

Behaviour: per replica, as Kafka's ReplicaManager answers it for a broker with one log directory: a path
that is not the broker's log directory is LOG_DIR_NOT_FOUND; an unknown topic or partition
UNKNOWN_TOPIC_OR_PARTITION; a partition this broker does not hold NOT_LEADER_OR_FOLLOWER; moving a replica
to the directory it is in is done at once (NONE).
Version notes: v2 flexible.
"""

from __future__ import annotations

from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.alter_replica_log_dirs import (
    AlterReplicaLogDirsRequest,
    AlterReplicaLogDirsResponse,
    AlterReplicaLogDirsResponseAlterReplicaLogDirPartitionResult,
    AlterReplicaLogDirsResponseAlterReplicaLogDirTopicResult,
)
from kafkasim.state.log_dirs import alter_replica_log_dir


def _results(req: AlterReplicaLogDirsRequest, code_of) -> AlterReplicaLogDirsResponse:
    topics: dict[str, list[AlterReplicaLogDirsResponseAlterReplicaLogDirPartitionResult]] = {}
    for d in req.dirs:
        for t in d.topics:
            for i in t.partitions:
                topics.setdefault(t.name, []).append(AlterReplicaLogDirsResponseAlterReplicaLogDirPartitionResult(
                    partition_index=i, error_code=code_of(d.path, t.name, i)))
    return AlterReplicaLogDirsResponse(results=[
        AlterReplicaLogDirsResponseAlterReplicaLogDirTopicResult(topic_name=name, partitions=parts)
        for name, parts in topics.items()])


def error_response(req: AlterReplicaLogDirsRequest, version: int, code: int) -> AlterReplicaLogDirsResponse:
    return _results(req, lambda path, topic, partition: code)


@handler(ApiKey.ALTER_REPLICA_LOG_DIRS, (1, 2), error_response=error_response)
def alter_replica_log_dirs(ctx, req: AlterReplicaLogDirsRequest) -> AlterReplicaLogDirsResponse:
    return _results(req, lambda path, topic, partition: alter_replica_log_dir(ctx.state, ctx.node_id, path, topic,
                                                                              partition))
