"""JoinGroup (key 11), versions 0-9.

Behaviour: Kafka's classic group coordinator (state/groups.py): a new member without a member id gets
MEMBER_ID_REQUIRED and its id first (v4+); the request waits until the rebalance completes (all members
rejoined, or the rebalance timeout), then every member learns the generation, the chosen protocol and
the leader, and the leader the members' metadata. Static members (group.instance.id, v5+) replace their
previous incarnation (FENCED_INSTANCE_ID for it) and rejoin a stable group without a rebalance.
Errors: INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT, INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID,
REBALANCE_IN_PROGRESS, GROUP_MAX_SIZE_REACHED, as Kafka returns them.
Version notes: v1 rebalance_timeout_ms (v0 uses the session timeout); v4 MEMBER_ID_REQUIRED; v5
group_instance_id; v6 flexible; v7 protocol_type in the response, nullable protocol_name; v8 reason;
v9 skip_assignment (KIP-814) for a returning static leader.
"""

from __future__ import annotations

import asyncio

from kafkasim.handlers import BY_GROUP, handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.join_group import (
    JoinGroupRequest,
    JoinGroupResponse,
    JoinGroupResponseJoinGroupResponseMember,
)
from kafkasim.state.group_model import JoinResult


def resolver(fut: asyncio.Future):
    """A callback for state/ that completes ``fut`` unless the request was abandoned."""

    def done(result) -> None:
        if not fut.done():
            fut.set_result(result)

    return done


@handler(ApiKey.JOIN_GROUP, (0, 9), coordinator=BY_GROUP)
async def join_group(ctx, req: JoinGroupRequest) -> JoinGroupResponse:
    v = ctx.api_version
    fut = asyncio.get_running_loop().create_future()
    ctx.state.groups.join(
        req.group_id, req.member_id, req.group_instance_id if v >= 5 else None, ctx.client_id or "",
        ctx.client_host, req.session_timeout_ms, req.rebalance_timeout_ms if v >= 1 else -1, req.protocol_type,
        [(p.name, bytes(p.metadata)) for p in req.protocols], v >= 4, resolver(fut))
    r: JoinResult = await fut
    name = r.protocol_name if r.protocol_name is not None or v >= 7 else ""
    return JoinGroupResponse(
        error_code=r.error, generation_id=r.generation, protocol_type=r.protocol_type, protocol_name=name,
        leader=r.leader, skip_assignment=r.skip_assignment, member_id=r.member_id,
        members=[JoinGroupResponseJoinGroupResponseMember(member_id=m, group_instance_id=i, metadata=meta)
                 for m, i, meta in r.members])
