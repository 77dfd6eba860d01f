"""TxnOffsetCommit (key 28), versions 0-4.

Behaviour: offsets a transactional producer commits for a consumer group (consume-transform-produce):
held until its transaction ends, then committed (or dropped on abort); OffsetFetch with require_stable
answers UNSTABLE_OFFSET_COMMIT for them meanwhile. The transaction must be open and include the group
(AddOffsetsToTxn), else INVALID_TXN_STATE; the producer epoch must be current (PRODUCER_FENCED, or
INVALID_PRODUCER_EPOCH before v3). v3+ carries the consumer's generation, member id and instance id,
checked like OffsetCommit's (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID).
ACLs: WRITE on the transactional id, READ on the group (TRANSACTIONAL_ID_ / GROUP_AUTHORIZATION_FAILED on
every partition), READ per topic (TOPIC_AUTHORIZATION_FAILED).
Version notes: v2 leader epoch; v3 flexible and group metadata. v5 (transaction version 2) is not served.
"""

from __future__ import annotations

import itertools

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import BY_GROUP, handler
from kafkasim.handlers.authz import (
    allowed,
    denied_topics,
)
from kafkasim.handlers.k22_init_producer_id import fenced_code
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import txn_offset_commit as tc
from kafkasim.state.acls import AclOperation, ResourceType


def _response(req: tc.TxnOffsetCommitRequest, errors) -> tc.TxnOffsetCommitResponse:
    return tc.TxnOffsetCommitResponse(topics=[tc.TxnOffsetCommitResponseTxnOffsetCommitResponseTopic(
        name=t.name, partitions=[tc.TxnOffsetCommitResponseTxnOffsetCommitResponsePartition(
            partition_index=p.partition_index, error_code=next(errors)) for p in t.partitions])
        for t in req.topics])


def error_response(req: tc.TxnOffsetCommitRequest, version: int, code: int) -> tc.TxnOffsetCommitResponse:
    return _response(req, itertools.repeat(code))


@handler(ApiKey.TXN_OFFSET_COMMIT, (0, 4), error_response=error_response, coordinator=BY_GROUP)
def txn_offset_commit(ctx, req: tc.TxnOffsetCommitRequest) -> tc.TxnOffsetCommitResponse:
    state = ctx.state
    denied: set[str] = set()
    if state.acls.enabled:
        if not allowed(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, req.transactional_id):
            return error_response(req, ctx.api_version, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        if not allowed(ctx, AclOperation.READ, ResourceType.GROUP, req.group_id):
            return error_response(req, ctx.api_version, ErrorCode.GROUP_AUTHORIZATION_FAILED)
        denied = denied_topics(ctx, AclOperation.READ, (t.name for t in req.topics))
    flat = [(t.name, p.partition_index, p.committed_offset, p.committed_leader_epoch, p.committed_metadata)
            for t in req.topics if t.name not in denied for p in t.partitions]
    try:
        state.transactions.check_offset_commit(req.transactional_id, req.producer_id, req.producer_epoch,
                                               req.group_id, fenced_code(ctx.api_version, 3))
    except KafkaError as exc:
        return error_response(req, ctx.api_version, exc.code)
    results = iter(state.groups.txn_commit_offsets(req.group_id, req.producer_id, req.generation_id,
                                                   req.member_id, req.group_instance_id, flat))
    return _response(req, (ErrorCode.TOPIC_AUTHORIZATION_FAILED if t.name in denied else next(results)
                           for t in req.topics for p in t.partitions))
