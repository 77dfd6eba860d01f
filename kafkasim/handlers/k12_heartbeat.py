"""Heartbeat (key 12), versions 0-4.

Behaviour: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin, ILLEGAL_GENERATION,
UNKNOWN_MEMBER_ID and FENCED_INSTANCE_ID as in Kafka's coordinator.
Version notes: v3 group_instance_id; v4 flexible.
"""

from __future__ import annotations

from kafkasim.handlers import BY_GROUP, handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.heartbeat import HeartbeatRequest, HeartbeatResponse


@handler(ApiKey.HEARTBEAT, (0, 4), coordinator=BY_GROUP)
def heartbeat(ctx, req: HeartbeatRequest) -> HeartbeatResponse:
    instance = req.group_instance_id if ctx.api_version >= 3 else None
    return HeartbeatResponse(error_code=ctx.state.groups.heartbeat(req.group_id, req.generation_id,
                                                                   req.member_id, instance))
