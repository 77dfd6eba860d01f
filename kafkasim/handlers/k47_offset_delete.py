"""OffsetDelete (key 47), version 0.

Behaviour: deletes a group's committed offsets for the given partitions; GROUP_ID_NOT_FOUND for an
unknown group; GROUP_SUBSCRIBED_TO_TOPIC for partitions of a topic the (non-empty) group's members
subscribe to, read from their consumer-protocol subscriptions.
"""

from __future__ import annotations

from kafkasim.errors import KafkaError
from kafkasim.handlers import BY_GROUP, handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.offset_delete import (
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetDeleteResponseOffsetDeleteResponsePartition,
    OffsetDeleteResponseOffsetDeleteResponseTopic,
)


@handler(ApiKey.OFFSET_DELETE, (0, 0), coordinator=BY_GROUP)
def offset_delete(ctx, req: OffsetDeleteRequest) -> OffsetDeleteResponse:
    flat = [(t.name, p.partition_index) for t in req.topics for p in t.partitions]
    try:
        errors = iter(ctx.state.groups.delete_offsets(req.group_id, flat))
    except KafkaError as exc:
        return OffsetDeleteResponse(error_code=exc.code)
    return OffsetDeleteResponse(topics=[OffsetDeleteResponseOffsetDeleteResponseTopic(name=t.name, partitions=[
        OffsetDeleteResponseOffsetDeleteResponsePartition(partition_index=p.partition_index, error_code=next(errors))
        for p in t.partitions]) for t in req.topics])
