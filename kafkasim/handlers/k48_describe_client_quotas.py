"""DescribeClientQuotas (key 48), versions 0-1 (as Kafka 4 serves them).

Behaviour: the components filter the configured quota entities as Kafka's ClientQuotasImage does: match type
EXACT (0) names an entity, DEFAULT (1) matches the type's default entity, SPECIFIED (2) any entity having that
type (its default too, as in Kafka 4); all components must match; ``strict`` keeps only entities with no other
types; no components match every entity (none when strict). A bad filter answers a top-level INVALID_REQUEST
(empty or repeated type, a match string where the type takes none, ip combined with user or client-id, an
unknown match type) or UNSUPPORTED_VERSION (an unknown entity type), with Kafka's message and no entries.
Version notes: v1 is flexible.
"""

from __future__ import annotations

from kafkasim.errors import KafkaError
from kafkasim.handlers import handler
from kafkasim.protocol.messages.describe_client_quotas import (
    API_KEY,
    DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
    DescribeClientQuotasResponseEntityData,
    DescribeClientQuotasResponseEntryData,
    DescribeClientQuotasResponseValueData,
)


@handler(API_KEY, (0, 1))  # not in ApiKey yet: the control API's fault names enumerate it
def describe_client_quotas(ctx, req: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse:
    try:
        found = ctx.state.quotas.describe([(c.entity_type, c.match_type, c.match) for c in req.components],
                                          req.strict)
    except KafkaError as exc:
        return DescribeClientQuotasResponse(error_code=exc.code, error_message=exc.message, entries=[])
    return DescribeClientQuotasResponse(error_message="", entries=[  # "" on success, as Kafka 4.4 answers
        DescribeClientQuotasResponseEntryData(
            entity=[DescribeClientQuotasResponseEntityData(entity_type=t, entity_name=n) for t, n in entity],
            values=[DescribeClientQuotasResponseValueData(key=k, value=v) for k, v in values.items()])
        for entity, values in found])
