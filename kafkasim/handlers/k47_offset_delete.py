"""OffsetDelete (key 47), version 0.

Behaviour: deletes a group's committed offsets for the given partitions; GROUP_ID_NOT_FOUND for an
unknown group; GROUP_SUBSCRIBED_TO_TOPIC for partitions of a topic the (non-empty) group's members
subscribe to, read from their consumer-protocol subscriptions.
ACLs: DELETE on the group (GROUP_AUTHORIZATION_FAILED), READ per topic (TOPIC_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import BY_GROUP, handler
from kafkasim.handlers.authz import allowed, denied_topics
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.offset_delete import (
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetDeleteResponseOffsetDeleteResponsePartition,
    OffsetDeleteResponseOffsetDeleteResponseTopic,
)
from kafkasim.state.acls import AclOperation, ResourceType


@handler(ApiKey.OFFSET_DELETE, (0, 0), coordinator=BY_GROUP)
def offset_delete(ctx, req: OffsetDeleteRequest) -> OffsetDeleteResponse:
    denied: set[str] = set()
    if ctx.state.acls.enabled:
        if not allowed(ctx, AclOperation.DELETE, ResourceType.GROUP, req.group_id):
            return OffsetDeleteResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
        denied = denied_topics(ctx, AclOperation.READ, (t.name for t in req.topics))
    flat = [(t.name, p.partition_index) for t in req.topics if t.name not in denied for p in t.partitions]
    try:
        results = iter(ctx.state.groups.delete_offsets(req.group_id, flat))
    except KafkaError as exc:
        return OffsetDeleteResponse(error_code=exc.code)
    errors = (ErrorCode.TOPIC_AUTHORIZATION_FAILED if t.name in denied else next(results)
              for t in req.topics for p in t.partitions)
    return OffsetDeleteResponse(topics=[OffsetDeleteResponseOffsetDeleteResponseTopic(name=t.name, partitions=[
        OffsetDeleteResponseOffsetDeleteResponsePartition(partition_index=p.partition_index, error_code=next(errors))
        for p in t.partitions]) for t in req.topics])
