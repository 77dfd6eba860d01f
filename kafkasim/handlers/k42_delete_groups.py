"""DeleteGroups (key 42), versions 0-2.

Behaviour: deletes empty groups and their committed offsets; NON_EMPTY_GROUP while members remain,
GROUP_ID_NOT_FOUND for unknown groups, INVALID_GROUP_ID for an empty id, NOT_COORDINATOR from a broker
that is not the group's coordinator.
Version notes: v2 flexible.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, R, allowed
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.delete_groups import (
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    DeleteGroupsResponseDeletableGroupResult,
)
from kafkasim.state.leadership import GROUP_KEY


@handler(ApiKey.DELETE_GROUPS, (0, 2))
def delete_groups(ctx, req: DeleteGroupsRequest) -> DeleteGroupsResponse:
    out = []
    for gid in req.groups_names:
        r = DeleteGroupsResponseDeletableGroupResult(group_id=gid)
        try:
            if not allowed(ctx, Op.DELETE, R.GROUP, gid):
                raise KafkaError(ErrorCode.GROUP_AUTHORIZATION_FAILED)
            if gid:
                ctx.state.check_coordinator(GROUP_KEY, gid, ctx.node_id)
            ctx.state.groups.delete_group(gid)
        except KafkaError as exc:
            r.error_code = exc.code
        out.append(r)
    return DeleteGroupsResponse(results=out)
