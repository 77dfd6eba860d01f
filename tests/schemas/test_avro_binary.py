"""The bounded Avro decoder (kafkasim/schemas/avro_binary.py) through AvroSchema.decode: every type decodes as
fastavro reads it, every violation is a SchemaError saying why, hostile payloads are refused at once, and
random schemas with random bytes only ever decode or raise SchemaError."""

from __future__ import annotations

import io
import json
import math
import struct
from typing import Any

import pytest
from fastavro import parse_schema as fastavro_parse
from fastavro import schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kafkasim.schemas import SchemaError, parse_schema
from kafkasim.schemas.avro import jsonable
from kafkasim.schemas.avro_binary import MAX_DEPTH, STEPS_BASE, STEPS_PER_BYTE, compile_schema, decode


def zz(n: int) -> bytes:
    """``n`` as Avro writes a long: zigzag, then a little-endian base-128 varint."""
    u = (n << 1) ^ (n >> 63) if n >= 0 else ((-n - 1) << 1) | 1
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def avro(schema: Any, references: dict[str, Any] | None = None) -> Any:
    return parse_schema("AVRO", json.dumps(schema), {k: json.dumps(v) for k, v in (references or {}).items()})


def written(schema: Any, value: Any) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, fastavro_parse(schema), value)
    return buf.getvalue()


def refused(schema: Any, payload: bytes) -> str:
    with pytest.raises(SchemaError) as info:
        avro(schema).decode(payload)
    return str(info.value)


def rec(*fields: tuple[str, Any], name: str = "R") -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": [{"name": n, "type": t} for n, t in fields]}


EMPTY = {"type": "record", "name": "Empty", "fields": []}


# ------------------------------------------------------------------------------------------- every type


@pytest.mark.parametrize(("schema", "value", "decoded"), [
    ("null", None, None),
    ("boolean", True, True),
    ("boolean", False, False),
    ("int", -(2**31), -(2**31)),
    ("int", 2**31 - 1, 2**31 - 1),
    ("long", -(2**63), -(2**63)),
    ("long", 2**63 - 1, 2**63 - 1),
    ("long", 0, 0),
    ("float", 1.5, 1.5),
    ("double", -2.25e300, -2.25e300),
    ("bytes", b"\x00\xff", "\x00\xff"),
    ("string", "h\u00e9llo \U0001f600", "h\u00e9llo \U0001f600"),
    ({"type": "fixed", "name": "F", "size": 3}, b"abc", "abc"),
    ({"type": "fixed", "name": "F0", "size": 0}, b"", ""),
    ({"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}, "C", "C"),
    ({"type": "array", "items": "int"}, [1, -2, 3], [1, -2, 3]),
    ({"type": "array", "items": "null"}, [None] * 5, [None] * 5),
    ({"type": "map", "values": "string"}, {"a": "x", "": "y"}, {"a": "x", "": "y"}),
    (["null", "string", "long"], "s", "s"),
    (["null", "string", "long"], None, None),
    (["null", "string", "long"], 7, 7),
    (rec(("a", "int"), ("e", EMPTY), ("b", ["null", "bytes"])), {"a": 1, "e": {}, "b": b"z"},
     {"a": 1, "e": {}, "b": "z"}),
    ({"type": "error", "name": "Oops", "fields": [{"name": "m", "type": "string"}]}, {"m": "x"}, {"m": "x"}),
    ({"type": "array", "items": {"type": "long"}}, [5], [5]),  # a primitive written as an object
])
def test_avro_binary_decodes_every_type(schema: Any, value: Any, decoded: Any) -> None:
    assert avro(schema).decode(written(schema, value)) == decoded


def test_avro_binary_logical_types_decode_as_their_base_types() -> None:
    schema = rec(("day", {"type": "int", "logicalType": "date"}),
                 ("at", {"type": "long", "logicalType": "timestamp-millis"}),
                 ("id", {"type": "string", "logicalType": "uuid"}),
                 ("amount", {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2}))
    payload = zz(19000) + zz(1_700_000_000_000) + zz(3) + b"abc" + zz(2) + b"\x30\x39"
    assert avro(schema).decode(payload) == {"day": 19000, "at": 1_700_000_000_000, "id": "abc", "amount": "09"}


def test_avro_binary_named_references_and_recursion() -> None:
    address = {"type": "record", "name": "Address", "namespace": "geo", "fields": [{"name": "city", "type": "string"}]}
    node = {"type": "record", "name": "Node", "namespace": "t", "fields": [
        {"name": "at", "type": "geo.Address"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["LEAF", "BRANCH"]}},
        {"name": "again", "type": "Kind"},  # a name relative to the namespace
        {"name": "next", "type": ["null", "Node"]},
        {"name": "children", "type": {"type": "array", "items": "Node"}}]}
    schema = avro(node, {"geo.Address": address})
    leaf = zz(1) + b"b" + zz(0) + zz(0) + zz(0) + zz(0)
    payload = zz(1) + b"a" + zz(1) + zz(1) + zz(1) + leaf + zz(1) + leaf + zz(0)
    child = {"at": {"city": "b"}, "kind": "LEAF", "again": "LEAF", "next": None, "children": []}
    assert schema.decode(payload) == {"at": {"city": "a"}, "kind": "BRANCH", "again": "BRANCH", "next": child,
                                      "children": [child]}


def test_avro_binary_top_level_union_refers_to_a_type_it_defines() -> None:
    schema = ["null", rec(("x", "int"), name="P"), {"type": "array", "items": "P"}]
    assert avro(schema).decode(zz(2) + zz(1) + zz(7) + zz(0)) == [{"x": 7}]


def test_avro_binary_blocks_with_negative_counts_and_sizes() -> None:
    schema = {"type": "array", "items": "long"}
    items = zz(1) + zz(200)  # 1 is one byte, 200 two
    payload = zz(-2) + zz(len(items)) + items + zz(1) + zz(5) + zz(0)
    assert avro(schema).decode(payload) == [1, 200, 5]
    map_items = zz(1) + b"k" + zz(3)
    assert avro({"type": "map", "values": "int"}).decode(zz(-1) + zz(len(map_items)) + map_items + zz(0)) == {"k": 3}


def test_avro_binary_agrees_with_fastavro_on_a_wide_record() -> None:
    schema = rec(("i", "int"), ("l", "long"), ("f", "float"), ("d", "double"), ("s", "string"), ("b", "bytes"),
                 ("m", {"type": "map", "values": ["null", "double"]}), ("a", {"type": "array", "items": "string"}))
    value = {"i": -5, "l": 2**40, "f": 0.1, "d": math.pi, "s": "x" * 300, "b": bytes(range(256)),
             "m": {f"k{i}": (None if i % 3 else i / 7) for i in range(50)}, "a": ["a", "bb", ""]}
    payload = written(schema, value)
    assert avro(schema).decode(payload) == jsonable(schemaless_reader(io.BytesIO(payload), fastavro_parse(schema), None))


# ------------------------------------------------------------------------------------------ every violation


@pytest.mark.parametrize(("schema", "payload", "reason"), [
    ("boolean", b"", "ends where a boolean"),
    ("boolean", b"\x02", "boolean's byte is 2"),
    ("int", b"", "ends inside the varint of an int"),
    ("int", zz(2**31), "out of range for an int"),
    ("int", b"\x80\x80\x80\x80\x80\x00", "longer than 5 bytes"),
    ("long", b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
    ("long", b"\xff" * 9 + b"\x7f", "out of range for a long"),
    ("long", b"\x80", "ends inside the varint"),
    ("float", b"\x00\x00\x00", "a float needs 4 bytes, 3 remain"),
    ("double", b"\x00" * 7, "a double needs 8 bytes, 7 remain"),
    ("bytes", zz(-1), "negative length -1"),
    ("bytes", zz(3) + b"ab", "bytes of 3 bytes is longer than the 2 bytes that remain"),
    ("string", zz(2) + b"\xc3\x28", "not UTF-8"),
    ("string", zz(3) + b"\xed\xa0\x80", "not UTF-8"),  # an encoded surrogate
    ("string", zz(5) + b"ab", "longer than the 2 bytes that remain"),
    ({"type": "fixed", "name": "F", "size": 4}, b"abc", "the fixed F of 4 bytes is longer than the 3"),
    ({"type": "enum", "name": "E", "symbols": ["A", "B"]}, zz(2), "2 symbols, not one at index 2"),
    ({"type": "enum", "name": "E", "symbols": ["A", "B"]}, zz(-1), "not one at index -1"),
    (["null", "int"], zz(2), "has 2 branches, not one at index 2"),
    (["null", "int"], zz(-1), "not one at index -1"),
    ({"type": "array", "items": "int"}, zz(3) + zz(1) + zz(2), "3 items needs at least 3 bytes, 2 remain"),
    ({"type": "array", "items": "double"}, zz(2) + b"\x00" * 15, "2 items needs at least 16 bytes, 15 remain"),
    ({"type": "array", "items": "int"}, zz(-1) + zz(5) + zz(1) + zz(0), "size 5 does not fit"),
    ({"type": "array", "items": "int"}, zz(-1) + zz(-1), "size -1 does not fit"),
    ({"type": "array", "items": "long"}, zz(-1) + zz(1) + zz(200) + zz(0), "items end 1 bytes after the size"),
    ({"type": "array", "items": "long"}, zz(-1) + zz(3) + zz(1) + b"\x00\x00" + zz(0), "2 bytes before the size"),
    ({"type": "array", "items": "int"}, zz(1) + zz(1), "ends inside the varint of a block's count"),
    ({"type": "map", "values": "int"}, zz(1) + zz(1) + b"\xff" + zz(0) + zz(0), "map key is not UTF-8"),
    ({"type": "map", "values": "null"}, zz(3) + zz(0) + zz(0), "3 items needs at least 3 bytes, 2 remain"),
    (rec(("a", "int"), ("b", "string")), zz(1), "at /b: the payload ends inside the varint of the length"),
])
def test_avro_binary_refuses_each_violation(schema: Any, payload: bytes, reason: str) -> None:
    assert reason in refused(schema, payload)


def test_avro_binary_refuses_trailing_bytes() -> None:
    schema = rec(("a", "int"))
    assert refused(schema, zz(1) + b"\x00") == "1 bytes are left after the Avro value"
    assert refused("null", b"\x00\x00") == "2 bytes are left after the Avro value"


def test_avro_binary_errors_say_where() -> None:
    schema = rec(("xs", {"type": "array", "items": rec(("m", {"type": "map", "values": "boolean"}), name="In")}))
    payload = zz(2) + zz(0) + zz(1) + zz(1) + b"k" + b"\x07" + zz(0) + zz(0)
    assert refused(schema, payload) == "not Avro of this schema: at /xs/1/m/k: a boolean's byte is 7, not 0 or 1"


def test_avro_binary_refuses_values_nested_past_the_limit() -> None:
    linked = {"type": "record", "name": "L", "fields": [{"name": "next", "type": ["null", "L"]}]}
    ok = zz(1) * (MAX_DEPTH - 1) + zz(0)
    assert avro(linked).decode(ok) is not None
    assert "nest more than" in refused(linked, zz(1) * MAX_DEPTH + zz(0))


def test_avro_binary_refuses_a_schema_too_deep_to_decode_with() -> None:
    schema: Any = "int"
    for _ in range(MAX_DEPTH + 5):
        schema = {"type": "array", "items": schema}
    reader_error = pytest.raises(SchemaError, match="nests more than")
    with reader_error:
        compile_schema(fastavro_parse(schema))


def test_avro_binary_decode_function_directly() -> None:
    reader = compile_schema(fastavro_parse(rec(("a", "long"))))
    assert decode(reader, zz(-3)) == {"a": -3}


# ------------------------------------------------------------------------------------ hostile payloads


BIG = 2**62


@pytest.mark.parametrize(("what", "schema", "payload"), [
    ("array of 2^62 nulls", {"type": "array", "items": "null"}, zz(BIG) + zz(0)),
    ("array of 2^62 nulls, negative count", {"type": "array", "items": "null"}, zz(-BIG) + zz(0) + zz(0)),
    ("array of 2^62 empty records", {"type": "array", "items": EMPTY}, zz(BIG) + zz(0)),
    ("array of 2^62 zero-size fixed", {"type": "array", "items": {"type": "fixed", "name": "Z", "size": 0}},
     zz(BIG) + zz(0)),
    ("nested arrays of nulls", {"type": "array", "items": {"type": "array", "items": {"type": "array", "items": "null"}}},
     zz(BIG) + zz(BIG) + zz(BIG) + zz(0)),
    ("map of 2^62 nulls", {"type": "map", "values": "null"}, zz(BIG) + zz(0) + zz(0)),
    ("array of 2^62 ints", {"type": "array", "items": "int"}, zz(BIG) + zz(0)),
    ("string of 2^62 bytes", "string", zz(BIG)),
    ("bytes of 2^62 bytes", "bytes", zz(BIG) + b"abc"),
    ("map key of 2^62 bytes", {"type": "map", "values": "null"}, zz(1) + zz(BIG)),
    ("a fixed far larger than the payload", {"type": "fixed", "name": "Huge", "size": 2**40}, b"abc"),
    ("records in records of empty records", {"type": "array", "items": rec(("f", EMPTY), *[(f"f{i}", "Empty") for i in range(50)])},
     zz(BIG) + zz(0)),
])
def test_avro_binary_refuses_hostile_payloads_at_once(what: str, schema: Any, payload: bytes) -> None:
    reason = refused(schema, payload)
    assert "more values than" in reason or "remain" in reason, (what, reason)


def test_avro_binary_many_small_blocks_of_nulls_run_out_of_budget() -> None:
    """Blocks of as many nulls as the budget would allow, over and over: the budget is the payload's, not a
    block's."""
    block = zz(STEPS_BASE) + b""
    payload = block * 2000 + zz(0)
    budget = STEPS_PER_BYTE * len(payload) + STEPS_BASE
    assert 2000 * STEPS_BASE > budget
    assert "more values than its" in refused({"type": "array", "items": "null"}, payload)


def test_avro_binary_zero_size_items_within_the_budget_decode() -> None:
    """Items that take no bytes cost a byte's worth of the budget each: as many as the payload has bytes, and
    ``STEPS_BASE / STEPS_PER_BYTE`` besides."""
    most = STEPS_BASE // STEPS_PER_BYTE
    assert avro({"type": "array", "items": "null"}).decode(zz(most) + zz(0)) == [None] * most
    assert avro({"type": "array", "items": EMPTY}).decode(zz(most) + zz(0)) == [{}] * most
    assert "more values than" in refused({"type": "array", "items": "null"}, zz(most + 100) + zz(0))
    padded = rec(("a", {"type": "array", "items": EMPTY}), ("pad", "bytes"))
    assert len(avro(padded).decode(zz(most + 1000) + zz(0) + zz(1000) + b"x" * 1000)["a"]) == most + 1000


def test_avro_binary_recursive_record_sizes_bound_block_counts() -> None:
    """A record that refers to itself still takes bytes (here an int and a union index at least): a block of
    them may not declare more items than the bytes that remain can hold."""
    tree = {"type": "record", "name": "T", "fields": [
        {"name": "v", "type": "int"}, {"name": "kids", "type": {"type": "array", "items": "T"}}]}
    assert "needs at least" in refused(tree, zz(1) + zz(1000) + zz(1) + zz(0) + zz(0))


def test_avro_binary_a_record_that_contains_itself_is_refused() -> None:
    """No finite value has this schema; the bytes cannot make the decoder recurse without bound."""
    forever = {"type": "record", "name": "Forever", "fields": [{"name": "again", "type": "Forever"}]}
    reason = refused(forever, b"")
    assert "nest more than" in reason or "more values than" in reason


# ----------------------------------------------------------------------------------------------- fuzzing


@st.composite
def schemas(draw: st.DrawFn, depth: int = 0) -> Any:
    """A small random Avro schema (unique names, unions of distinct kinds)."""
    prims = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
    kinds = prims + (["fixed", "enum"] + (["array", "map", "union", "record"] if depth < 3 else []))
    kind = draw(st.sampled_from(kinds))
    name = f"N{depth}x{draw(st.integers(0, 10**9))}"
    if kind in prims:
        return kind
    if kind == "fixed":
        return {"type": "fixed", "name": name, "size": draw(st.integers(0, 4))}
    if kind == "enum":
        return {"type": "enum", "name": name, "symbols": [f"S{i}" for i in range(draw(st.integers(1, 4)))]}
    if kind == "array":
        return {"type": "array", "items": draw(schemas(depth + 1))}
    if kind == "map":
        return {"type": "map", "values": draw(schemas(depth + 1))}
    if kind == "union":
        branches: list[Any] = draw(st.lists(st.sampled_from(prims), min_size=1, max_size=3, unique=True))
        if draw(st.booleans()):
            branches.append({"type": "record", "name": name, "fields": [{"name": "u", "type": draw(schemas(depth + 1))}]})
        return branches
    count = draw(st.integers(0, 3))
    return {"type": "record", "name": name, "fields": [{"name": f"f{i}", "type": draw(schemas(depth + 1))}
                                                        for i in range(count)]}


def _unique_names(schema: Any) -> bool:
    seen: list[str] = []

    def walk(s: Any) -> None:
        if isinstance(s, list):
            for b in s:
                walk(b)
        elif isinstance(s, dict):
            if "name" in s:
                seen.append(s["name"])
            for f in s.get("fields", ()):
                walk(f["type"])
            walk(s.get("items"))
            walk(s.get("values"))

    walk(schema)
    return len(seen) == len(set(seen))


def values_of(schema: Any) -> st.SearchStrategy[Any]:
    """Values fastavro can write with ``schema``."""
    if isinstance(schema, list):
        return st.one_of([values_of(b) for b in schema])
    if isinstance(schema, str):
        return {"null": st.none(), "boolean": st.booleans(), "int": st.integers(-(2**31), 2**31 - 1),
                "long": st.integers(-(2**63), 2**63 - 1), "float": st.floats(width=32, allow_nan=False),
                "double": st.floats(allow_nan=False), "bytes": st.binary(max_size=20),
                "string": st.text(max_size=20)}[schema]
    kind = schema["type"]
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(values_of(schema["items"]), max_size=5)
    if kind == "map":
        return st.dictionaries(st.text(max_size=5), values_of(schema["values"]), max_size=5)
    return st.fixed_dictionaries({f["name"]: values_of(f["type"]) for f in schema["fields"]})


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a) == json.dumps(b)  # NaN equal to NaN, order of keys kept


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_avro_binary_fuzz_random_schemas_and_bytes_decode_or_raise_schema_error(data: st.DataObject) -> None:
    """Random bytes: the decoder returns or raises SchemaError, nothing else; when it returns, fastavro reads the
    same value from the same bytes (the decoder is never more lenient than Avro)."""
    schema = data.draw(schemas().filter(_unique_names))
    payload = data.draw(st.binary(max_size=64))
    try:
        value = avro(schema).decode(payload)
    except SchemaError:
        event("refused")
        return
    event("decoded")
    stream = io.BytesIO(payload)
    expected = jsonable(schemaless_reader(stream, fastavro_parse(schema), None))
    assert stream.tell() == len(payload)
    assert _same(value, expected)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_avro_binary_fuzz_written_values_decode_as_fastavro_reads_them(data: st.DataObject) -> None:
    schema = data.draw(schemas().filter(_unique_names))
    value = data.draw(values_of(schema))
    payload = written(schema, value)
    expected = jsonable(schemaless_reader(io.BytesIO(payload), fastavro_parse(schema), None))
    assert _same(avro(schema).decode(payload), expected)
    if payload:
        with pytest.raises(SchemaError):
            avro(schema).decode(payload[:-1])  # every encoding needs its last byte
    with pytest.raises(SchemaError):
        avro(schema).decode(payload + b"\x00")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_avro_binary_fuzz_mutated_payloads_decode_as_fastavro_or_raise_schema_error(data: st.DataObject) -> None:
    """A valid payload with one byte changed, inserted or dropped: a SchemaError, or what fastavro reads."""
    schema = data.draw(schemas().filter(_unique_names))
    payload = bytearray(written(schema, data.draw(values_of(schema))))
    at = data.draw(st.integers(0, len(payload)))
    how = data.draw(st.sampled_from(["change", "insert", "drop"]))
    byte = data.draw(st.integers(0, 255))
    if how == "insert" or at == len(payload):
        payload.insert(at, byte)
    elif how == "change":
        payload[at] = byte
    else:
        del payload[at]
    try:
        value = avro(schema).decode(bytes(payload))
    except SchemaError:
        event("refused")
        return
    event("decoded")
    stream = io.BytesIO(bytes(payload))
    expected = jsonable(schemaless_reader(stream, fastavro_parse(schema), None))
    assert stream.tell() == len(payload)
    assert _same(value, expected)


def test_zz_helper_matches_fastavro() -> None:
    for n in (0, -1, 1, 63, -64, 64, 2**31, -(2**63), 2**63 - 1):
        assert zz(n) == written("long", n)
    assert struct.pack("<f", 1.5) == written("float", 1.5)
