"""ConsumerGroupHeartbeat (key 68), versions 0-1: the KIP-848 consumer group protocol.

Behaviour: member epoch 0 joins (v1 clients bring their own member id; v0 gets one), -1 leaves, -2 leaves
as a static member; otherwise the heartbeat reports the partitions the member owns and receives its next
assignment (only when it changed) and epoch, reconciled as state/consumer_groups.py describes. Errors:
INVALID_REQUEST (empty group id, first heartbeat without subscription or rebalance timeout),
UNSUPPORTED_ASSIGNOR, UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH, FENCED_INSTANCE_ID, UNRELEASED_INSTANCE_ID (a
static member's instance id still held by a member that has not left with -2), and GROUP_ID_NOT_FOUND
for a group id in use by a classic group. heartbeat_interval_ms is group.consumer.heartbeat.interval.ms.
ACLs: READ on the group (GROUP_AUTHORIZATION_FAILED), DESCRIBE on every subscribed topic
(TOPIC_AUTHORIZATION_FAILED).
Version notes: v1 adds subscribed_topic_regex (Python's re, full match, re-evaluated against the topics
that exist at every heartbeat of the member; Kafka uses RE2/J, whose syntax is close for common patterns).
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import BY_GROUP, handler
from kafkasim.handlers.authz import allowed, denied_topics
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
    ConsumerGroupHeartbeatResponseAssignment,
    ConsumerGroupHeartbeatResponseTopicPartitions,
)
from kafkasim.state.acls import AclOperation, ResourceType


@handler(ApiKey.CONSUMER_GROUP_HEARTBEAT, (0, 1), coordinator=BY_GROUP)
def consumer_group_heartbeat(ctx, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse:
    state = ctx.state
    if state.acls.enabled:
        if not allowed(ctx, AclOperation.READ, ResourceType.GROUP, req.group_id):
            return ConsumerGroupHeartbeatResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
        if req.subscribed_topic_names:
            denied = denied_topics(ctx, AclOperation.DESCRIBE, req.subscribed_topic_names)
            if denied:
                return ConsumerGroupHeartbeatResponse(
                    error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                    error_message=f"The client is not authorized to describe topics: {', '.join(sorted(denied))}")
    owned = None
    if req.topic_partitions is not None:
        owned = []
        for tp in req.topic_partitions:
            t = state.topics_by_id.get(bytes(tp.topic_id))
            if t is not None:
                owned.extend((t.name, p) for p in tp.partitions)
    subscribed = None if req.subscribed_topic_names is None else list(req.subscribed_topic_names)
    regex = req.subscribed_topic_regex if ctx.api_version >= 1 else None
    r = state.groups.consumer_heartbeat(
        req.group_id, req.member_id, req.member_epoch, instance_id=req.instance_id, rack_id=req.rack_id,
        rebalance_timeout_ms=req.rebalance_timeout_ms, subscribed=subscribed, server_assignor=req.server_assignor,
        owned=owned, client_id=ctx.client_id or "", client_host=ctx.client_host, regex=regex)
    assignment = None
    if r.assignment is not None:
        by_topic: dict[str, list[int]] = {}
        for topic, p in r.assignment:
            by_topic.setdefault(topic, []).append(p)
        assignment = ConsumerGroupHeartbeatResponseAssignment(topic_partitions=[
            ConsumerGroupHeartbeatResponseTopicPartitions(topic_id=state.topics[t].topic_id, partitions=ps)
            for t, ps in by_topic.items() if t in state.topics])
    return ConsumerGroupHeartbeatResponse(
        error_code=r.error, error_message=r.message, member_id=r.member_id, member_epoch=r.member_epoch,
        heartbeat_interval_ms=state.config.group_consumer_heartbeat_interval_ms, assignment=assignment)
