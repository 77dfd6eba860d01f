"""AlterPartitionReassignments (key 45), versions 0-1.

Behaviour: per partition, start (or replace) a reassignment to the given replicas, or (null replicas) cancel
the ongoing one, as Kafka's controller does (state/reassignments.py): UNKNOWN_TOPIC_OR_PARTITION,
INVALID_REPLICA_ASSIGNMENT (empty, duplicate or unregistered replicas), NO_REASSIGNMENT_IN_PROGRESS (a
cancellation without one). A reassignment completes at once (replicas share one log), or after the delay a
test sets through the control API, moving the leader if it was removed.
Version notes: v1 adds allow_replication_factor_change (false: a target of another size is
INVALID_REPLICATION_FACTOR), echoed in the response.
"""

from __future__ import annotations

from kafkasim.errors import KafkaError
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse,
    AlterPartitionReassignmentsResponseReassignablePartitionResponse,
    AlterPartitionReassignmentsResponseReassignableTopicResponse,
)


def error_response(req: AlterPartitionReassignmentsRequest, version: int, code: int
                   ) -> AlterPartitionReassignmentsResponse:
    return AlterPartitionReassignmentsResponse(
        error_code=code, allow_replication_factor_change=req.allow_replication_factor_change, responses=[
            AlterPartitionReassignmentsResponseReassignableTopicResponse(name=t.name, partitions=[
                AlterPartitionReassignmentsResponseReassignablePartitionResponse(partition_index=p.partition_index,
                                                                                 error_code=code)
                for p in t.partitions]) for t in req.topics])


@handler(ApiKey.ALTER_PARTITION_REASSIGNMENTS, (0, 1), error_response=error_response)
def alter_partition_reassignments(ctx, req: AlterPartitionReassignmentsRequest
                                  ) -> AlterPartitionReassignmentsResponse:
    reassignments = ctx.state.reassignments
    allow = req.allow_replication_factor_change if ctx.api_version >= 1 else True
    topics = []
    for t in req.topics:
        parts = []
        for p in t.partitions:
            r = AlterPartitionReassignmentsResponseReassignablePartitionResponse(partition_index=p.partition_index)
            try:
                reassignments.alter(t.name, p.partition_index,
                                    None if p.replicas is None else list(p.replicas), allow)
            except KafkaError as exc:
                r.error_code, r.error_message = exc.code, exc.message
            parts.append(r)
        topics.append(AlterPartitionReassignmentsResponseReassignableTopicResponse(name=t.name, partitions=parts))
    return AlterPartitionReassignmentsResponse(allow_replication_factor_change=allow, responses=topics)
