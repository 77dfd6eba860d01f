"""Sans-IO schema logic for the schema registry and schema-at-producer: parsing Avro, JSON Schema and
Protobuf schemas (with references) into their canonical and normalized forms, compatibility between
versions, decoding payloads, and the registry's wire format. No sockets, no state of the broker.

The parsers (fastavro, jsonschema, proto-schema-parser) are imported when a schema of their type is first
parsed, so importing this package costs nothing at broker start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from kafkasim.schemas.errors import SchemaError
from kafkasim.schemas.framing import parse_framed

SCHEMA_TYPES = ("AVRO", "JSON", "PROTOBUF")


class ParsedSchema(Protocol):
    """A parsed schema of one type; see the type modules (avro.py, json_schema.py, protobuf.py)."""

    schema_type: str
    #: the text the registry stores and answers (the schema, compacted: whitespace does not make another)
    canonical: str

    def normalized(self) -> str:
        """The form stored with ``normalize=true``: equal for schemas that differ only in order or spelling."""
        ...

    def names(self) -> list[str]:
        """The full names of the records (messages) it defines, the one serializers name first."""
        ...

    def decode(self, payload: bytes, message_indexes: list[int] | None = None) -> object:
        """The payload (the bytes after the wire format's header) as JSON-able values; SchemaError when it does
        not decode with this schema."""
        ...


def parse_schema(schema_type: str, text: str, references: Mapping[str, str] | None = None) -> ParsedSchema:
    """Parse ``text`` as a schema of ``schema_type``; ``references`` maps each reference name to the text of the
    referenced schema (every one reachable, already resolved). Raises SchemaError with the parser's reason."""
    refs = dict(references or {})
    if schema_type == "AVRO":
        from kafkasim.schemas.avro import parse_avro

        return parse_avro(text, refs)
    if schema_type == "JSON":
        from kafkasim.schemas.json_schema import parse_json_schema

        return parse_json_schema(text, refs)
    if schema_type == "PROTOBUF":
        from kafkasim.schemas.protobuf import parse_protobuf

        return parse_protobuf(text, refs)
    raise SchemaError(f"unknown schema type {schema_type!r} (one of {', '.join(SCHEMA_TYPES)})")


#: the levels and what each checks: (new reads old, old reads new, against every version or the newest)
LEVELS = {
    "NONE": (False, False, False),
    "BACKWARD": (True, False, False), "BACKWARD_TRANSITIVE": (True, False, True),
    "FORWARD": (False, True, False), "FORWARD_TRANSITIVE": (False, True, True),
    "FULL": (True, True, False), "FULL_TRANSITIVE": (True, True, True),
}


def check_compatibility(level: str, new: ParsedSchema, existing: Sequence[ParsedSchema]) -> list[str]:
    """The reasons ``new`` may not follow ``existing`` (oldest first) under ``level``; empty: compatible.

    BACKWARD: data written with the previous schema can be read with the new one (the new schema is the
    reader); FORWARD: data written with the new one can be read with the previous; FULL: both. The
    ``_TRANSITIVE`` levels check every earlier version, the others only the newest."""
    backward, forward, transitive = LEVELS[level]
    targets = list(existing) if transitive else list(existing[-1:])
    messages: list[str] = []
    for old in reversed(targets):
        if old.schema_type != new.schema_type:
            messages.append(f"the schema type changed from {old.schema_type} to {new.schema_type}")
            continue
        reader_writer = ([(new, old)] if backward else []) + ([(old, new)] if forward else [])
        for reader, writer in reader_writer:
            messages.extend(reader.read_incompatibilities(writer))  # type: ignore[attr-defined]
    seen: set[str] = set()
    return [m for m in messages if not (m in seen or seen.add(m))]


__all__ = ["SCHEMA_TYPES", "ParsedSchema", "SchemaError", "check_compatibility", "parse_framed", "parse_schema"]
