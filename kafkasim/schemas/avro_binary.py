"""A bounded decoder of Avro's binary encoding, for payloads a client sent (schema-at-producer, inspection).

The schema (fastavro's parsed form: full names, named types defined once and referred to by name) is compiled
once into a tree of small reader functions; decoding walks the bytes with them, building the value as JSON
values (bytes and fixed as Avro's JSON encoding writes them, code points 0-255; enums as their symbols;
logical types as their base types). Nothing the bytes say is trusted before it is checked:

- every length (bytes, string, map key) and fixed size is checked against the bytes that remain before
  anything is sliced; strings must be valid UTF-8;
- varints are at most 10 bytes (5 for an int) and must fit a long (an int); booleans are 0 or 1; enum and union
  indexes must be in range;
- an array or map block count is bounded by the bytes that remain (each item needs at least the smallest
  encoding of its type, recursive records included), and every value counts against a step budget of
  ``STEPS_PER_BYTE`` times the payload size plus ``STEPS_BASE``; an item of a type that takes no bytes (null,
  an empty record, fixed of size 0) costs ``STEPS_PER_BYTE`` steps, so a payload holds at most about as many of
  them as it has bytes, and a count of 2^62 nulls is refused before anything is allocated; a negative count's
  block size must be the size of the block's items;
- values nest at most ``MAX_DEPTH`` records, arrays and maps deep (recursive schemas);
- the value must take the whole payload: trailing bytes are an error, as they mean the writer used another
  schema.

So decoding does O(len(payload)) work plus a constant (at worst, with a schema of records of null fields, about
a second per MB; a 1 MB payload of 2^62 empty records is refused at once, one of a million empty records takes
0.2 s), and every violation is a SchemaError naming where in the value it happened and why.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from itertools import repeat
from typing import Any

from kafkasim.schemas.errors import SchemaError

#: records, arrays and maps a value may nest (the decoder recurses, at most two frames a level)
MAX_DEPTH = 200
#: the step budget: values a payload may hold per byte of it, and besides
STEPS_PER_BYTE = 8
STEPS_BASE = 1024

Reader = Callable[["_Cursor"], Any]


class _Cursor:
    __slots__ = ("buf", "pos", "end", "steps", "depth")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0
        self.end = len(buf)
        self.steps = STEPS_PER_BYTE * len(buf) + STEPS_BASE
        self.depth = 0


class _Invalid(Exception):
    """A violation while decoding; containers add where it happened as it unwinds."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def _over_budget(c: _Cursor) -> _Invalid:
    return _Invalid(f"the payload declares more values than its {c.end} bytes can hold "
                    f"(at most {STEPS_PER_BYTE} per byte, and {STEPS_BASE})")


def _too_deep() -> _Invalid:
    return _Invalid(f"values nest more than {MAX_DEPTH} records, arrays and maps deep")


# --------------------------------------------------------------------------------------------- primitives


def _varint(c: _Cursor, limit: int, what: str) -> int:
    buf, pos, end = c.buf, c.pos, c.end
    result = shift = 0
    while True:
        if pos >= end:
            raise _Invalid(f"the payload ends inside the varint of {what}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift >= 7 * limit:
            raise _Invalid(f"the varint of {what} is longer than {limit} bytes")
    c.pos = pos
    value = (result >> 1) ^ -(result & 1)
    if limit == 5:
        if not -(1 << 31) <= value < 1 << 31:
            raise _Invalid(f"{value} is out of range for an int")
    elif result >> 64:
        raise _Invalid(f"{value} is out of range for a long")
    return value


def _long(c: _Cursor, what: str = "a long") -> int:
    pos, buf = c.pos, c.buf
    if pos + 1 < c.end:  # one and two bytes, the common lengths, without a loop
        b = buf[pos]
        if b < 0x80:
            c.pos = pos + 1
            return (b >> 1) ^ -(b & 1)
        b2 = buf[pos + 1]
        if b2 < 0x80:
            c.pos = pos + 2
            u = (b & 0x7F) | (b2 << 7)
            return (u >> 1) ^ -(u & 1)
    return _varint(c, 10, what)


def _int(c: _Cursor) -> int:
    pos = c.pos
    if pos < c.end:
        b = c.buf[pos]
        if b < 0x80:
            c.pos = pos + 1
            return (b >> 1) ^ -(b & 1)
    return _varint(c, 5, "an int")


def _null(c: _Cursor) -> None:
    return None


def _boolean(c: _Cursor) -> bool:
    pos = c.pos
    if pos >= c.end:
        raise _Invalid("the payload ends where a boolean's byte should be")
    b = c.buf[pos]
    if b > 1:
        raise _Invalid(f"a boolean's byte is {b}, not 0 or 1")
    c.pos = pos + 1
    return b == 1


def _bad_length(c: _Cursor, n: int, what: str) -> _Invalid:
    if n < 0:
        return _Invalid(f"{what} has a negative length {n}")
    return _Invalid(f"{what} of {n} bytes is longer than the {c.end - c.pos} bytes that remain")


def _take(c: _Cursor, n: int, what: str) -> bytes:
    pos = c.pos
    if n > c.end - pos:
        raise _bad_length(c, n, what)
    c.pos = pos + n
    return c.buf[pos:pos + n]


def _bytes(c: _Cursor) -> str:
    n = _long(c, "the length of bytes")
    pos = c.pos
    if not 0 <= n <= c.end - pos:
        raise _bad_length(c, n, "bytes")
    c.pos = pos + n
    return c.buf[pos:pos + n].decode("latin-1")


def _string(c: _Cursor, what: str = "a string") -> str:
    n = _long(c, "the length of a string")
    pos = c.pos
    if not 0 <= n <= c.end - pos:
        raise _bad_length(c, n, what)
    c.pos = pos + n
    try:
        return c.buf[pos:pos + n].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"{what} is not UTF-8 ({exc.reason} at byte {exc.start})") from None


_FLOAT = struct.Struct("<f").unpack_from
_DOUBLE = struct.Struct("<d").unpack_from


def _float(c: _Cursor) -> float:
    pos = c.pos
    if c.end - pos < 4:
        raise _Invalid(f"a float needs 4 bytes, {c.end - pos} remain")
    c.pos = pos + 4
    return _FLOAT(c.buf, pos)[0]


def _double(c: _Cursor) -> float:
    pos = c.pos
    if c.end - pos < 8:
        raise _Invalid(f"a double needs 8 bytes, {c.end - pos} remain")
    c.pos = pos + 8
    return _DOUBLE(c.buf, pos)[0]


#: each primitive's reader and the fewest bytes its encoding takes (in a cell, as every type's size is)
PRIMITIVE_READERS: dict[str, tuple[Reader, list[int]]] = {
    "null": (_null, [0]), "boolean": (_boolean, [1]), "int": (_int, [1]), "long": (_long, [1]),
    "float": (_float, [4]), "double": (_double, [8]), "bytes": (_bytes, [1]), "string": (_string, [1]),
}


# ------------------------------------------------------------------------------------------ complex types


def _fixed(name: str, size: int) -> Reader:
    what = f"the fixed {name}"

    def read(c: _Cursor) -> str:
        return _take(c, size, what).decode("latin-1")

    return read


def _enum(name: str, symbols: list[str]) -> Reader:
    count = len(symbols)
    what = f"an index of the enum {name}"

    def read(c: _Cursor) -> str:
        i = _long(c, what)
        if not 0 <= i < count:
            raise _Invalid(f"the enum {name} has {count} symbols, not one at index {i}")
        return symbols[i]

    return read


def _union(branches: list[Reader], labels: list[str]) -> Reader:
    count = len(branches)

    def read(c: _Cursor) -> Any:
        i = _long(c, "a union's branch index")
        if not 0 <= i < count:
            raise _Invalid(f"the union [{', '.join(labels)}] has {count} branches, not one at index {i}")
        return branches[i](c)

    return read


def _record(fields: list[tuple[str, Reader]]) -> Reader:
    def read(c: _Cursor) -> dict[str, Any]:
        c.steps -= len(fields)
        if c.steps < 0:
            raise _over_budget(c)
        depth = c.depth = c.depth + 1
        if depth > MAX_DEPTH:
            raise _too_deep()
        out: dict[str, Any] = {}
        name = ""
        try:
            for name, reader in fields:
                out[name] = reader(c)
        except _Invalid as exc:
            exc.path.append(name)
            raise
        c.depth = depth - 1
        return out

    return read


def _block(c: _Cursor, min_size: int, kind: str) -> tuple[int, int]:
    """The next block's item count (0: the end) and where its bytes must end (-1: the block gave no size)."""
    count = _long(c, "a block's count")
    if count == 0:
        return 0, -1
    block_end = -1
    if count < 0:
        count = -count
        size = _long(c, "a block's size")
        if size < 0 or size > c.end - c.pos:
            raise _Invalid(f"an {kind} block's size {size} does not fit the {c.end - c.pos} bytes that remain")
        block_end = c.pos + size
    if min_size:
        if count > (c.end - c.pos) // min_size:
            raise _Invalid(f"an {kind} block of {count} items needs at least {count * min_size} bytes, "
                           f"{c.end - c.pos} remain")
        c.steps -= count
    else:  # items that take no bytes: only the budget bounds them, and each costs a byte's worth of it
        c.steps -= STEPS_PER_BYTE * count
    if c.steps < 0:
        raise _over_budget(c)
    return count, block_end


def _block_done(c: _Cursor, block_end: int, kind: str) -> None:
    if block_end >= 0 and c.pos != block_end:
        off = c.pos - block_end
        raise _Invalid(f"an {kind} block's items end {abs(off)} bytes {'after' if off > 0 else 'before'} "
                       f"the size the block declared")


def _array(items: Reader, item_size: list[int]) -> Reader:
    """``item_size``: a cell holding the fewest bytes an item takes (settled once the whole schema compiled)."""
    constant = items is _null

    def read(c: _Cursor) -> list[Any]:
        min_size = item_size[0]
        depth = c.depth = c.depth + 1
        if depth > MAX_DEPTH:
            raise _too_deep()
        out: list[Any] = []
        append = out.append
        while True:
            count, block_end = _block(c, min_size, "array")
            if not count:
                break
            if constant:
                out.extend(repeat(None, count))
                continue
            try:
                for _ in range(count):
                    append(items(c))
            except _Invalid as exc:
                exc.path.append(str(len(out)))
                raise
            _block_done(c, block_end, "array")
        c.depth = depth - 1
        return out

    return read


def _map(values: Reader, value_size: list[int]) -> Reader:
    def read(c: _Cursor) -> dict[str, Any]:
        min_size = value_size[0] + 1  # the key takes a byte at least
        depth = c.depth = c.depth + 1
        if depth > MAX_DEPTH:
            raise _too_deep()
        out: dict[str, Any] = {}
        while True:
            count, block_end = _block(c, min_size, "map")
            if not count:
                break
            for _ in range(count):
                key = _string(c, "a map key")
                try:
                    out[key] = values(c)
                except _Invalid as exc:
                    exc.path.append(key if len(key) <= 40 else f"{key[:40]}...")
                    raise
            _block_done(c, block_end, "map")
        c.depth = depth - 1
        return out

    return read


# ---------------------------------------------------------------------------------------------- compiling


Size = list  # a one-int cell: the fewest bytes a value of a type takes, a lower bound settled after compiling
_ONE: Size = [1]


class _Compiler:
    """Turns a parsed schema into readers; named types are compiled once, so recursive types are cycles."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named  # full name -> parsed definition, for names defined elsewhere (references)
        self.done: dict[str, tuple[Reader, Size]] = {}
        self.records: list[tuple[Size, list[Size]]] = []  # each record's size and its fields' sizes

    def compile(self, schema: Any, depth: int = 0) -> tuple[Reader, Size]:
        """(the reader, the cell of the fewest bytes a value of the type takes)."""
        if depth > MAX_DEPTH:
            raise SchemaError(f"the schema nests more than {MAX_DEPTH} types deep to decode with")
        if isinstance(schema, str):
            found = PRIMITIVE_READERS.get(schema)
            return found if found is not None else self.reference(schema, depth)
        if isinstance(schema, list):
            compiled = [self.compile(branch, depth + 1) for branch in schema]
            labels = [_label(branch) for branch in schema]
            return _union([r for r, _ in compiled], labels), _ONE
        if not isinstance(schema, dict):
            raise SchemaError(f"cannot decode with the schema {str(schema)[:80]}")
        kind = schema.get("type")
        if isinstance(kind, (dict, list)):
            return self.compile(kind, depth + 1)
        if not isinstance(kind, str):
            raise SchemaError(f"cannot decode with the schema {str(schema)[:80]}: it has no type")
        if kind in PRIMITIVE_READERS:  # logical types decode as their base types
            return PRIMITIVE_READERS[kind]
        if kind == "array":
            items, item_size = self.compile(schema.get("items"), depth + 1)
            return _array(items, item_size), _ONE
        if kind == "map":
            values, value_size = self.compile(schema.get("values"), depth + 1)
            return _map(values, value_size), _ONE
        if kind in ("record", "error", "enum", "fixed"):
            return self.define(schema, kind, depth)
        return self.reference(kind, depth)

    def reference(self, name: str, depth: int) -> tuple[Reader, Size]:
        found = self.done.get(name)
        if found is not None:
            return found
        definition = self.named.get(name)
        if not isinstance(definition, dict) or definition.get("type") not in ("record", "error", "enum", "fixed"):
            raise SchemaError(f"cannot decode with the schema: the type {name[:80]} is not defined")
        return self.define(definition, definition["type"], depth)

    def define(self, schema: dict[str, Any], kind: str, depth: int) -> tuple[Reader, Size]:
        name = str(schema.get("name", ""))
        found = self.done.get(name)
        if found is not None:
            return found
        if kind == "fixed":
            size = schema.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise SchemaError(f"cannot decode with the fixed {name}: its size is {size!r}")
            self.done[name] = _fixed(name, size), [size]
        elif kind == "enum":
            symbols = schema.get("symbols")
            if not isinstance(symbols, list):
                raise SchemaError(f"cannot decode with the enum {name}: it has no symbols")
            self.done[name] = _enum(name, [str(s) for s in symbols]), _ONE
        else:
            fields: list[tuple[str, Reader]] = []
            cell: Size = [0]  # settled once every type is compiled (a field may refer to this record)
            self.done[name] = _record(fields), cell
            field_sizes: list[Size] = []
            for field in schema.get("fields") or ():
                if not isinstance(field, dict):
                    raise SchemaError(f"cannot decode with the record {name}: a field is not an object")
                field_reader, field_size = self.compile(field.get("type"), depth + 1)
                fields.append((str(field.get("name")), field_reader))
                field_sizes.append(field_size)
            self.records.append((cell, field_sizes))
        return self.done[name]

    def settle(self) -> None:
        """Records' sizes, from 0 up: each round keeps them lower bounds; as many rounds as records reach every
        size through a chain of records (a record that must contain itself has no value: its bound grows)."""
        for _ in range(len(self.records) + 1):
            changed = False
            for cell, field_sizes in self.records:
                size = sum(f[0] for f in field_sizes)
                if size != cell[0]:
                    cell[0], changed = size, True
            if not changed:
                return


def _label(schema: Any) -> str:
    if isinstance(schema, dict):
        kind = schema.get("type")
        return str(schema.get("name") or kind) if isinstance(kind, str) else "..."
    return str(schema) if isinstance(schema, str) else "union"


def compile_schema(parsed: Any, named: dict[str, Any] | None = None) -> Reader:
    """A reader of values of ``parsed`` (fastavro's parsed form); ``named``: definitions of names it refers to
    that it does not define itself (its references). SchemaError when the schema cannot be decoded with."""
    try:
        compiler = _Compiler(dict(named or {}))
        reader, _size = compiler.compile(parsed)
        compiler.settle()
    except RecursionError:
        raise SchemaError(f"the schema nests more than {MAX_DEPTH} types deep to decode with") from None
    return reader


def decode(reader: Reader, payload: bytes) -> Any:
    """The value ``payload`` encodes, read with ``reader`` (from compile_schema); SchemaError when it does not
    decode, or leaves bytes over."""
    c = _Cursor(payload)
    try:
        value = reader(c)
    except _Invalid as exc:
        where = "/".join(reversed(exc.path))
        raise SchemaError(f"not Avro of this schema: {f'at /{where}: ' if exc.path else ''}{exc.reason}") from None
    except RecursionError:
        raise SchemaError("not Avro of this schema: values nest deeper than the decoder can follow") from None
    if c.pos != c.end:
        raise SchemaError(f"{c.end - c.pos} bytes are left after the Avro value")
    return value
