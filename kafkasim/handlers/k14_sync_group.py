"""SyncGroup (key 14), versions 0-5.

Behaviour: in CompletingRebalance every member waits until the leader sends the assignments, then each
gets its own; in Stable a member gets its current assignment at once. REBALANCE_IN_PROGRESS while
preparing a rebalance, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID and
INCONSISTENT_GROUP_PROTOCOL (v5 protocol type/name) as Kafka returns them. Members that do not sync
within the rebalance timeout are removed and the group rebalances.
Version notes: v3 group_instance_id; v4 flexible; v5 protocol_type/protocol_name.
"""

from __future__ import annotations

import asyncio

from kafkasim.handlers import BY_GROUP, handler
from kafkasim.handlers.k11_join_group import resolver
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.sync_group import SyncGroupRequest, SyncGroupResponse
from kafkasim.state.group_model import SyncResult


@handler(ApiKey.SYNC_GROUP, (0, 5), coordinator=BY_GROUP)
async def sync_group(ctx, req: SyncGroupRequest) -> SyncGroupResponse:
    v = ctx.api_version
    fut = asyncio.get_running_loop().create_future()
    ctx.state.groups.sync(
        req.group_id, req.generation_id, req.member_id, req.group_instance_id if v >= 3 else None,
        req.protocol_type if v >= 5 else None, req.protocol_name if v >= 5 else None,
        {a.member_id: bytes(a.assignment) for a in req.assignments}, resolver(fut))
    r: SyncResult = await fut
    return SyncGroupResponse(error_code=r.error, protocol_type=r.protocol_type, protocol_name=r.protocol_name,
                             assignment=r.assignment)
