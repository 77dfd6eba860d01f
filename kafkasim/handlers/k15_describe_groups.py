"""DescribeGroups (key 15), versions 0-6.

Behaviour: state, protocol type and, for a Stable group, the chosen protocol and each member's metadata
and assignment (as Kafka's group summary: other states list members without them). An unknown group is
reported as Dead with no error (v0-5) or GROUP_ID_NOT_FOUND (v6, KIP-1043). A KIP-848 consumer group is not
a classic group: as Kafka 4.4 answers (checked against the reference broker), v0-5 describe it as Dead with no
protocol and no members, v6 answers GROUP_ID_NOT_FOUND with "Group <id> is not a classic group."
(ConsumerGroupDescribe describes it.)
NOT_COORDINATOR comes from a broker that is not the group's coordinator.
Version notes: v3 authorized operations; v4 group_instance_id; v5 flexible; v6 GROUP_ID_NOT_FOUND.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, R, allowed, authorized_operations
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.describe_groups import (
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    DescribeGroupsResponseDescribedGroup,
    DescribeGroupsResponseDescribedGroupMember,
)
from kafkasim.state.group_model import GroupState
from kafkasim.state.leadership import GROUP_KEY

# READ, DELETE, DESCRIBE
GROUP_OPERATIONS = sum(1 << op for op in (3, 6, 8))


@handler(ApiKey.DESCRIBE_GROUPS, (0, 6))
def describe_groups(ctx, req: DescribeGroupsRequest) -> DescribeGroupsResponse:
    out = []
    include_ops = req.include_authorized_operations
    authorizing = ctx.state.acls.enabled
    for gid in req.groups:
        ops = (authorized_operations(ctx, R.GROUP, gid) if authorizing else GROUP_OPERATIONS) if include_ops \
            else -2147483648
        if authorizing and not allowed(ctx, Op.DESCRIBE, R.GROUP, gid):
            out.append(DescribeGroupsResponseDescribedGroup(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED,
                                                            group_id=gid, authorized_operations=ops))
            continue
        if not ctx.state.coordinates(GROUP_KEY, gid, ctx.node_id):
            out.append(DescribeGroupsResponseDescribedGroup(error_code=ErrorCode.NOT_COORDINATOR, group_id=gid,
                                                            authorized_operations=ops))
            continue
        consumer_group = gid in ctx.state.groups.consumer.groups  # (its offsets may sit in a classic record)
        g = None if consumer_group else ctx.state.groups.group(gid)
        if g is None:
            err = ErrorCode.GROUP_ID_NOT_FOUND if ctx.api_version >= 6 else 0
            why = "is not a classic group" if consumer_group else "not found"
            out.append(DescribeGroupsResponseDescribedGroup(
                error_code=err, error_message=f"Group {gid} {why}." if err else None, group_id=gid,
                group_state=GroupState.DEAD.value, authorized_operations=ops))
            continue
        stable = g.state == GroupState.STABLE
        members = [DescribeGroupsResponseDescribedGroupMember(
            member_id=m.member_id, group_instance_id=m.group_instance_id, client_id=m.client_id,
            client_host=m.client_host, member_metadata=m.metadata_for(g.protocol_name) if stable else b"",
            member_assignment=m.assignment if stable else b"") for m in g.members.values()]
        out.append(DescribeGroupsResponseDescribedGroup(
            group_id=gid, group_state=g.state.value, protocol_type=g.protocol_type or "",
            protocol_data=(g.protocol_name or "") if stable else "", members=members, authorized_operations=ops))
    return DescribeGroupsResponse(groups=out)
