"""ListTransactions (key 66), versions 0-2.

Behaviour: every transactional id this broker coordinates (admin clients ask every broker), with its
producer id and state, filtered by states, producer ids,
(v1+) how long the transaction has been open and (v2+) a regular expression on the id. Unknown state
names are returned in unknown_state_filters, as Kafka does.
ACLs: only the transactional ids the principal may DESCRIBE are listed.
Version notes: v1 duration_filter; v2 transactional_id_pattern (Python's re, RE2/J in Kafka).
"""

from __future__ import annotations

import re

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.handlers.authz import allowed
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import list_transactions as lt
from kafkasim.state.acls import AclOperation
from kafkasim.state.acls import ResourceType as AclResource
from kafkasim.state.leadership import TRANSACTION_KEY
from kafkasim.state.transactions import TxnState

_STATES = {s.value for s in TxnState}


@handler(ApiKey.LIST_TRANSACTIONS, (0, 2))
def list_transactions(ctx, req: lt.ListTransactionsRequest) -> lt.ListTransactionsResponse:
    pattern = None
    if ctx.api_version >= 2 and req.transactional_id_pattern:
        try:
            pattern = re.compile(req.transactional_id_pattern)
        except re.error:
            return lt.ListTransactionsResponse(error_code=ErrorCode.INVALID_REGULAR_EXPRESSION)
    unknown = [s for s in req.state_filters if s not in _STATES]
    known = [s for s in req.state_filters if s in _STATES]
    if req.state_filters and not known:
        txns = []
    else:
        txns = ctx.state.transactions.list(known, req.producer_id_filters,
                                           req.duration_filter if ctx.api_version >= 1 else -1)
    return lt.ListTransactionsResponse(unknown_state_filters=unknown, transaction_states=[
        lt.ListTransactionsResponseTransactionState(transactional_id=t.transactional_id, producer_id=t.producer_id,
                                                    transaction_state=t.state.value)
        for t in txns if (pattern is None or pattern.fullmatch(t.transactional_id))
        and ctx.state.coordinates(TRANSACTION_KEY, t.transactional_id, ctx.node_id)
        and allowed(ctx, AclOperation.DESCRIBE, AclResource.TRANSACTIONAL_ID, t.transactional_id)])
