"""Kafka's primitive wire types: fixed ints, (compact) strings and bytes, varints, tagged fields.

Readers take ``(buf, pos)`` and return ``(value, new_pos)``; every length read from the wire is checked
against the bytes that remain before anything is sliced or allocated, and a violation raises
:class:`MalformedError`. Writers return ``bytes`` to append to a ``bytearray``. The generated codec in
``messages/`` is built on these names.
"""

from __future__ import annotations

import struct

__all__ = ["MalformedError", "Message", "ZERO_UUID", "read_uvarint", "write_uvarint", "read_varint", "read_varlong",
           "write_varint", "zigzag"]


class MalformedError(ValueError):
    """The bytes do not form a valid message of the expected version."""


class Message:
    """Base of the generated message and struct classes: slots, equality and repr by field."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__)
        return f"{type(self).__name__}({fields})"


ZERO_UUID = bytes(16)
_MISSING = object()
_NULL32 = b"\xff\xff\xff\xff"

_I8 = struct.Struct(">b").unpack_from
_I16 = struct.Struct(">h").unpack_from
_U16 = struct.Struct(">H").unpack_from
_I32 = struct.Struct(">i").unpack_from
_U32 = struct.Struct(">I").unpack_from
_I64 = struct.Struct(">q").unpack_from
_F64 = struct.Struct(">d").unpack_from
_P8 = struct.Struct(">b").pack
_P16 = struct.Struct(">h").pack
_PU16 = struct.Struct(">H").pack
_P32 = struct.Struct(">i").pack
_PU32 = struct.Struct(">I").pack
_P64 = struct.Struct(">q").pack
_PF64 = struct.Struct(">d").pack

#: payloads at least this large are handed to the transport as their own buffer instead of being copied
ZERO_COPY_MIN = 2048


def _ruv(b, p: int) -> tuple[int, int]:
    """Unsigned varint (at most 5 bytes, a 32-bit value)."""
    value = 0
    shift = 0
    end = len(b)
    while True:
        if p >= end:
            raise MalformedError("varint runs past the end of the frame")
        c = b[p]
        p += 1
        value |= (c & 0x7F) << shift
        if not c & 0x80:
            return value, p
        shift += 7
        if shift > 28:
            raise MalformedError("varint longer than 5 bytes")


read_uvarint = _ruv


def _uv(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


write_uvarint = _uv


def read_varint(b, p: int, max_bytes: int = 5) -> tuple[int, int]:
    """Signed zig-zag varint (varlong with ``max_bytes=10``)."""
    value = 0
    shift = 0
    end = len(b)
    limit = 7 * max_bytes
    while True:
        if p >= end:
            raise MalformedError("varint runs past the end of the buffer")
        c = b[p]
        p += 1
        value |= (c & 0x7F) << shift
        if not c & 0x80:
            return (value >> 1) ^ -(value & 1), p
        shift += 7
        if shift >= limit:
            raise MalformedError("varint too long")


def read_varlong(b, p: int) -> tuple[int, int]:
    return read_varint(b, p, 10)


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def write_varint(n: int) -> bytes:
    return _uv(zigzag(n) & 0xFFFFFFFFFFFFFFFF)


def _take(b, p: int, n: int) -> int:
    end = p + n
    if n < 0 or end > len(b):
        raise MalformedError(f"length {n} exceeds the {len(b) - p} bytes that remain")
    return end


def _rstr(b, p: int):
    n = _I16(b, p)[0]
    p += 2
    if n < 0:
        return None, p
    end = _take(b, p, n)
    return str(b[p:end], "utf-8"), end


def _rcstr(b, p: int):
    n, p = _ruv(b, p)
    if n == 0:
        return None, p
    end = _take(b, p, n - 1)
    return str(b[p:end], "utf-8"), end


def _rbytes(b, p: int):
    n = _I32(b, p)[0]
    p += 4
    if n < 0:
        return None, p
    end = _take(b, p, n)
    return bytes(b[p:end]), end


def _rcbytes(b, p: int):
    n, p = _ruv(b, p)
    if n == 0:
        return None, p
    end = _take(b, p, n - 1)
    return bytes(b[p:end]), end


def _rrec(b, p: int):
    """Records: a zero-copy slice of the frame."""
    n = _I32(b, p)[0]
    p += 4
    if n < 0:
        return None, p
    end = _take(b, p, n)
    return b[p:end], end


def _rcrec(b, p: int):
    n, p = _ruv(b, p)
    if n == 0:
        return None, p
    end = _take(b, p, n - 1)
    return b[p:end], end


def _ruuid(b, p: int):
    end = _take(b, p, 16)
    return bytes(b[p:end]), end


def _skip_tags(b, p: int) -> int:
    """Skip a tagged-field section: unknown tags are never fatal."""
    n, p = _ruv(b, p)
    for _ in range(n):
        _tag, p = _ruv(b, p)
        size, p = _ruv(b, p)
        p = _take(b, p, size)
    return p


def _wstr(s: str | None) -> bytes:
    if s is None:
        return b"\xff\xff"
    e = s.encode()
    return _P16(len(e)) + e


def _wcstr(s: str | None) -> bytes:
    if s is None:
        return b"\x00"
    e = s.encode()
    return _uv(len(e) + 1) + e


def _wbytes(v) -> bytes:
    if v is None:
        return _NULL32
    return _P32(len(v)) + bytes(v)


def _wcbytes(v) -> bytes:
    if v is None:
        return b"\x00"
    return _uv(len(v) + 1) + bytes(v)


def _wuuid(v: bytes) -> bytes:
    if len(v) != 16:
        raise ValueError("uuid must be 16 bytes")
    return bytes(v)


def _wrec(out: bytearray, parts: list, v, flexible: bool) -> bytearray:
    """Records (one buffer or a list of them): large payloads go to the transport uncopied.

    Returns the buffer to continue writing into."""
    if v is None:
        out += b"\x00" if flexible else _NULL32
        return out
    if type(v) is list:  # several stored batches, sent as they are
        n = sum(map(len, v))
        out += _uv(n + 1) if flexible else _P32(n)
        parts.append(out)
        parts.extend(v)
        return bytearray()
    n = len(v)
    out += _uv(n + 1) if flexible else _P32(n)
    if n < ZERO_COPY_MIN:
        out += v
        return out
    parts.append(out)
    parts.append(v)
    return bytearray()
