"""LeaveGroup (key 13), versions 0-5.

Behaviour: removes members (batched, v3+, by member id or group instance id) and rebalances the rest;
per-member UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID (v3+), or the single member's error as the top-level
code (v0-2).
Version notes: v3 members array; v4 flexible; v5 reason.
"""

from __future__ import annotations

from kafkasim.handlers import BY_GROUP, handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.leave_group import (
    LeaveGroupRequest,
    LeaveGroupResponse,
    LeaveGroupResponseMemberResponse,
)


@handler(ApiKey.LEAVE_GROUP, (0, 5), coordinator=BY_GROUP)
def leave_group(ctx, req: LeaveGroupRequest) -> LeaveGroupResponse:
    if ctx.api_version < 3:
        error, errors = ctx.state.groups.leave(req.group_id, [(req.member_id, None)])
        return LeaveGroupResponse(error_code=error or errors[0])
    members = [(m.member_id, m.group_instance_id) for m in req.members]
    error, errors = ctx.state.groups.leave(req.group_id, members)
    return LeaveGroupResponse(error_code=error, members=[
        LeaveGroupResponseMemberResponse(member_id=m.member_id, group_instance_id=m.group_instance_id, error_code=e)
        for m, e in zip(req.members, errors, strict=True)])
