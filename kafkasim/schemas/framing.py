"""The schema registry's wire format: magic byte 0, a 4-byte big-endian schema id, for Protobuf the message
indexes (a zigzag varint count, then that many zigzag varints; a single 0 stands for ``[0]``), then the
payload. Every length is checked against the bytes that remain."""

from __future__ import annotations

from kafkasim.protocol.primitives import MalformedError, read_varint
from kafkasim.schemas.errors import SchemaError

#: more message indexes than any real schema nests: refused before looping over them
MAX_MESSAGE_INDEXES = 128


def _zigzag_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """A zigzag varint of up to 10 bytes (Kafka's varlong encoding, which the message indexes use)."""
    try:
        return read_varint(data, pos, max_bytes=10)
    except MalformedError as exc:
        raise SchemaError(f"bad message index varint: {exc}") from None


def parse_framed(data: bytes | memoryview, message_indexes: bool = False) -> tuple[int, list[int] | None, memoryview]:
    """(schema id, message indexes or None, payload) of framed ``data``; SchemaError when it is not framed."""
    view = memoryview(data)
    if len(view) < 5:
        raise SchemaError(f"{len(view)} bytes are too few for the wire format's 5-byte header")
    if view[0] != 0:
        raise SchemaError(f"unknown magic byte {view[0]} (the wire format's is 0)")
    schema_id = int.from_bytes(view[1:5], "big")
    if not message_indexes:
        return schema_id, None, view[5:]
    count, pos = _zigzag_varint(view, 5)
    if count == 0:
        return schema_id, [0], view[pos:]
    if not 0 < count <= MAX_MESSAGE_INDEXES:
        raise SchemaError(f"bad message index count {count}")
    indexes = []
    for _ in range(count):
        index, pos = _zigzag_varint(view, pos)
        if index < 0:
            raise SchemaError(f"negative message index {index}")
        indexes.append(index)
    return schema_id, indexes, view[pos:]
