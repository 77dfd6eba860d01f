"""ListPartitionReassignments (key 46), version 0.

Behaviour: the ongoing reassignments (replicas, adding and removing replicas) of the partitions asked for
(null topics: all); partitions without one, and unknown ones, are left out, as Kafka does. Reassignments
complete at once unless a test sets a delay (control API), so this is usually empty.
"""

from __future__ import annotations

from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.list_partition_reassignments import (
    ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
    ListPartitionReassignmentsResponseOngoingPartitionReassignment,
    ListPartitionReassignmentsResponseOngoingTopicReassignment,
)


def error_response(req: ListPartitionReassignmentsRequest, version: int, code: int
                   ) -> ListPartitionReassignmentsResponse:
    return ListPartitionReassignmentsResponse(error_code=code)


@handler(ApiKey.LIST_PARTITION_REASSIGNMENTS, (0, 0), error_response=error_response)
def list_partition_reassignments(ctx, req: ListPartitionReassignmentsRequest) -> ListPartitionReassignmentsResponse:
    wanted = None if req.topics is None else [(t.name, t.partition_indexes) for t in req.topics]
    topics: dict[str, ListPartitionReassignmentsResponseOngoingTopicReassignment] = {}
    for topic, index, replicas, adding, removing in ctx.state.reassignments.listing(wanted):
        t = topics.setdefault(topic, ListPartitionReassignmentsResponseOngoingTopicReassignment(name=topic))
        t.partitions.append(ListPartitionReassignmentsResponseOngoingPartitionReassignment(
            partition_index=index, replicas=replicas, adding_replicas=adding, removing_replicas=removing))
    return ListPartitionReassignmentsResponse(topics=list(topics.values()))
