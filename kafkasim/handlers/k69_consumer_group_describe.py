"""ConsumerGroupDescribe (key 69), versions 0-1: KIP-848 consumer groups.

Behaviour: each group's state, group and assignment epochs, assignor and members with their subscriptions,
current and target assignments. GROUP_ID_NOT_FOUND for unknown groups and for classic groups;
NOT_COORDINATOR from a broker that is not the group's coordinator.
ACLs: DESCRIBE per group (GROUP_AUTHORIZATION_FAILED); a group whose members' topics the principal may not
DESCRIBE answers TOPIC_AUTHORIZATION_FAILED; authorized_operations are the authorizer's.
Version notes: v1 member_type (1, consumer).
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.handlers.authz import (
    allowed,
    authorized_operations,
    denied_topics,
)
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import consumer_group_describe as cgd
from kafkasim.state.acls import NOT_REQUESTED, AclOperation, ResourceType
from kafkasim.state.leadership import GROUP_KEY

CONSUMER_MEMBER = 1


def _assignment(state, tps) -> cgd.ConsumerGroupDescribeResponseAssignment:
    by_topic: dict[str, list[int]] = {}
    for topic, p in sorted(tps):
        by_topic.setdefault(topic, []).append(p)
    return cgd.ConsumerGroupDescribeResponseAssignment(topic_partitions=[
        cgd.ConsumerGroupDescribeResponseTopicPartitions(topic_id=state.topics[t].topic_id, topic_name=t,
                                                         partitions=ps)
        for t, ps in by_topic.items() if t in state.topics])


@handler(ApiKey.CONSUMER_GROUP_DESCRIBE, (0, 1))
def consumer_group_describe(ctx, req: cgd.ConsumerGroupDescribeRequest) -> cgd.ConsumerGroupDescribeResponse:
    state = ctx.state
    include_ops = req.include_authorized_operations
    authz = state.acls.enabled
    out = []
    for gid in req.group_ids:
        if not allowed(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, gid):
            out.append(cgd.ConsumerGroupDescribeResponseDescribedGroup(
                error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, group_id=gid))
            continue
        ops = authorized_operations(ctx, ResourceType.GROUP, gid) if include_ops else NOT_REQUESTED
        if not state.coordinates(GROUP_KEY, gid, ctx.node_id):
            out.append(cgd.ConsumerGroupDescribeResponseDescribedGroup(
                error_code=ErrorCode.NOT_COORDINATOR, group_id=gid, authorized_operations=ops))
            continue
        g = state.groups.consumer.groups.get(gid)
        if g is None:
            msg = (f"Group {gid} is not a consumer group." if gid in state.groups.groups
                   else f"Group {gid} not found.")
            out.append(cgd.ConsumerGroupDescribeResponseDescribedGroup(
                error_code=ErrorCode.GROUP_ID_NOT_FOUND, error_message=msg, group_id=gid,
                group_state="Dead", authorized_operations=ops))
            continue
        if authz:  # the members' topics must all be describable, as Kafka checks them
            names = {t for m in g.members.values() for t in m.subscribed} | {
                t for m in g.members.values() for t, _ in m.assigned}
            if denied_topics(ctx, AclOperation.DESCRIBE, names):
                out.append(cgd.ConsumerGroupDescribeResponseDescribedGroup(
                    error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, group_id=gid,
                    error_message="The group has described topic(s) that the client is not authorized to describe.",
                    authorized_operations=ops))
                continue
        out.append(cgd.ConsumerGroupDescribeResponseDescribedGroup(
            group_id=gid, group_state=g.state.value, group_epoch=g.epoch, assignment_epoch=g.assignment_epoch,
            assignor_name=g.assignor, authorized_operations=ops, members=[
                cgd.ConsumerGroupDescribeResponseMember(
                    member_id=m.member_id, instance_id=m.instance_id, rack_id=m.rack_id, member_epoch=m.epoch,
                    client_id=m.client_id, client_host=m.client_host, subscribed_topic_names=sorted(m.subscribed),
                    assignment=_assignment(state, m.assigned),
                    target_assignment=_assignment(state, g.target.get(m.member_id, set())),
                    member_type=CONSUMER_MEMBER)
                for m in g.members.values()]))
    return cgd.ConsumerGroupDescribeResponse(groups=out)
