"""AlterClientQuotas (key 49), versions 0-1 (as Kafka 4 serves them).

Behaviour: each entry names an entity (types ``user``, ``client-id``, ``ip``; a null name is the default) and
ops that set a quota key or remove it. Validation is Kafka's ClientQuotaControlManager's, with its messages,
all answering INVALID_REQUEST for that entity only: an empty entity, an unknown entity type, an empty name,
ip combined with user or client-id, an ip that is not an IP address, a key the entity kind does not take, a
value not above 0, a fractional value or one too large for a long (byte rates) or an int
(connection_creation_rate), and a key or entity given twice ("Ignoring duplicate entity ..."; an entity's
second entry is refused, its first still applies). An entity whose ops all validate is applied; removing a
key that is not set is no error. validate_only changes nothing. One result per distinct entity, in request
order. The change is kept in the metadata log with a data directory.
Version notes: v1 is flexible.
"""

from __future__ import annotations

from kafkasim.handlers import handler
from kafkasim.protocol.messages.alter_client_quotas import (
    API_KEY,
    AlterClientQuotasRequest,
    AlterClientQuotasResponse,
    AlterClientQuotasResponseEntityData,
    AlterClientQuotasResponseEntryData,
)
from kafkasim.state.quotas import AlterOp


@handler(API_KEY, (0, 1))  # not in ApiKey yet: the control API's fault names enumerate it
def alter_client_quotas(ctx, req: AlterClientQuotasRequest) -> AlterClientQuotasResponse:
    entries = [([(e.entity_type, e.entity_name) for e in entry.entity],
                [AlterOp(op.key, op.value, op.remove) for op in entry.ops]) for entry in req.entries]
    results = ctx.state.quotas.alter(entries, req.validate_only)
    return AlterClientQuotasResponse(entries=[
        AlterClientQuotasResponseEntryData(
            error_code=r.error_code, error_message=r.error_message,
            entity=[AlterClientQuotasResponseEntityData(entity_type=t, entity_name=n) for t, n in r.entity])
        for r in results])
