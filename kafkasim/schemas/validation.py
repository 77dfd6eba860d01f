"""Schema-at-producer: which records of a produced batch a topic's schema validation refuses, and why.

A record's key or value (as the topic asks) must be in the registry's wire format — magic byte 0, then a
4-byte schema id that exists and is registered under the subject its strategy names (TopicNameStrategy:
``<topic>-key``/``<topic>-value``; RecordNameStrategy: the schema's record name; TopicRecordNameStrategy:
``<topic>-<record name>``), as Confluent Server and Redpanda check it. At level "payload" the rest must also
decode with that schema. Null keys and values (tombstones) pass. Sans-IO: the caller decoded the records.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from kafkasim.schemas.errors import SchemaError
from kafkasim.schemas.framing import parse_framed

if TYPE_CHECKING:
    from kafkasim.schemas.registry import SchemaRegistryState


class SchemaCheck(NamedTuple):
    """A topic's schema validation: the subject name strategy of keys and of values (None: not checked) and
    whether payloads must decode too."""

    key_strategy: str | None
    value_strategy: str | None
    payload: bool


def subject_for(strategy: str, topic: str, field: str, record_name: str | None) -> str | None:
    """The subject a strategy names; None when it needs a record name the schema does not give."""
    if strategy == "TopicNameStrategy":
        return f"{topic}-{field}"
    if record_name is None:
        return None
    return record_name if strategy == "RecordNameStrategy" else f"{topic}-{record_name}"


def check_field(registry: SchemaRegistryState | None, topic: str, field: str, strategy: str,
                data: bytes | memoryview | None, payload: bool, verdicts: dict | None = None) -> str | None:
    """Why ``data`` (a record's key or value) is refused, or None when it passes. ``verdicts`` remembers the
    verdict on each header (and the schema it names) across the records of one batch (they mostly share one
    schema id), so only the payload is decoded per record."""
    if data is None:
        return None
    header = bytes(data[:5])
    known = verdicts.get((field, header)) if verdicts is not None else None
    if known is None:
        known = _check_header(registry, topic, field, strategy, header)
        if verdicts is not None:
            verdicts[(field, header)] = known
    reason, parsed, schema_id, subject = known
    if reason is not None or not payload:
        return reason
    return _check_payload(parsed, field, data, schema_id, subject)


def _check_header(registry: SchemaRegistryState | None, topic: str, field: str, strategy: str, header: bytes
                  ) -> tuple[str | None, Any, int, str]:
    """(why the header is refused or None, the schema it names, its id, the subject)."""
    if registry is None:
        return (f"the {field} cannot be validated: topic {topic} validates schemas but no schema registry runs",
                None, -1, "")
    if len(header) < 5 or header[0] != 0:
        return (f"the {field} is not in the schema registry's wire format (magic byte 0 and a 4-byte schema id)",
                None, -1, "")
    schema_id = int.from_bytes(header[1:5], "big")
    sv = registry.by_id.get(schema_id)
    if sv is None:
        return f"the {field}'s schema id {schema_id} is not registered", None, schema_id, ""
    try:
        parsed = registry.parsed(sv)
    except SchemaError as exc:
        return f"the {field}'s schema {schema_id} cannot be read: {exc}", None, schema_id, ""
    names = parsed.names()
    subject = subject_for(strategy, topic, field, names[0] if names else None)
    if subject is None:
        return f"the {field}'s schema {schema_id} names no record, which {strategy} needs", None, schema_id, ""
    if not any(v.id == schema_id and not v.deleted for v in registry.subjects.get(subject, {}).values()):
        return f"the {field}'s schema id {schema_id} is not registered under subject {subject}", None, schema_id, ""
    return None, parsed, schema_id, subject


def _check_payload(parsed: Any, field: str, data: bytes | memoryview, schema_id: int, subject: str) -> str | None:
    try:
        if parsed.schema_type == "PROTOBUF":
            _id, indexes, body = parse_framed(data, True)
        else:
            indexes, body = None, data[5:]
        parsed.decode(bytes(body), indexes)
    except SchemaError as exc:
        return f"the {field} does not decode with schema {schema_id} of subject {subject}: {exc}"
    return None


def refused_records(registry: SchemaRegistryState | None, topic: str, check: SchemaCheck,
                    records: Iterable[tuple[bytes | memoryview | None, bytes | memoryview | None]]
                    ) -> list[tuple[int, str]]:
    """(index in the batch, reason) of every record of ``records`` ((key, value) pairs) the check refuses."""
    refused: list[tuple[int, str]] = []
    verdicts: dict = {}
    for i, (key, value) in enumerate(records):
        reason = None
        if check.key_strategy is not None:
            reason = check_field(registry, topic, "key", check.key_strategy, key, check.payload, verdicts)
        if reason is None and check.value_strategy is not None:
            reason = check_field(registry, topic, "value", check.value_strategy, value, check.payload, verdicts)
        if reason is not None:
            refused.append((i, reason))
    return refused
