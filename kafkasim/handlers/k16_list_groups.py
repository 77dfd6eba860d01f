"""ListGroups (key 16), versions 0-5.

Behaviour: every group this broker coordinates (as in Kafka, admin clients ask every broker) with its
protocol type, optionally filtered by state (v4+, case-insensitive) and type (v5+; "classic", or
"consumer" for KIP-848 groups).
Version notes: v3 flexible; v4 states_filter and group_state; v5 types_filter and group_type.
"""

from __future__ import annotations

from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, R, allowed
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.list_groups import ListGroupsRequest, ListGroupsResponse, ListGroupsResponseListedGroup
from kafkasim.state.leadership import GROUP_KEY

CLASSIC = "classic"
CONSUMER = "consumer"


@handler(ApiKey.LIST_GROUPS, (0, 5))
def list_groups(ctx, req: ListGroupsRequest) -> ListGroupsResponse:
    states = {s.lower() for s in req.states_filter} if ctx.api_version >= 4 else set()
    types = {t.lower() for t in req.types_filter} if ctx.api_version >= 5 else set()
    out = []
    state = ctx.state
    # Kafka: DESCRIBE on the cluster lists every group; else only the groups the principal may describe
    every = not state.acls.enabled or allowed(ctx, Op.DESCRIBE, R.CLUSTER)
    for g in state.groups.groups.values():
        if not state.coordinates(GROUP_KEY, g.group_id, ctx.node_id):
            continue
        if not every and not allowed(ctx, Op.DESCRIBE, R.GROUP, g.group_id):
            continue
        if states and g.state.value.lower() not in states:
            continue
        if types and CLASSIC not in types:
            continue
        if g.group_id in ctx.state.groups.consumer.groups:
            continue  # offsets of a consumer group live here; it is listed below
        out.append(ListGroupsResponseListedGroup(group_id=g.group_id, protocol_type=g.protocol_type or "",
                                                 group_state=g.state.value, group_type=CLASSIC))
    for cg in state.groups.consumer.groups.values():
        if not state.coordinates(GROUP_KEY, cg.group_id, ctx.node_id):
            continue
        if not every and not allowed(ctx, Op.DESCRIBE, R.GROUP, cg.group_id):
            continue
        if (states and cg.state.value.lower() not in states) or (types and CONSUMER not in types):
            continue
        out.append(ListGroupsResponseListedGroup(group_id=cg.group_id, protocol_type=CONSUMER,
                                                 group_state=cg.state.value, group_type=CONSUMER))
    return ListGroupsResponse(groups=out)
