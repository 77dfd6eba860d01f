"""Avro schemas: parsed by fastavro (named types of references usable by name), compared by the Avro
specification's schema resolution rules, payloads decoded by avro_binary's bounded decoder (never trusting a
length or count the bytes declare).

Compatibility is resolution: can a reader with schema R read what a writer with schema W wrote? Types match
or promote (int to long, float or double; long to float or double; float to double; string and bytes
either way); records match by full name or the reader's aliases, each reader field by name or alias, and
a reader field the writer lacks needs a default; an enum needs every writer symbol, unless the reader has
a default; fixed sizes must be equal; arrays and maps compare their items and values; every branch of a
writer's union must be readable, and a reader's union must have a branch for the writer's type.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from typing import Any

from kafkasim.schemas.avro_binary import compile_schema
from kafkasim.schemas.avro_binary import decode as decode_binary
from kafkasim.schemas.errors import SchemaError

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
#: writer type -> the reader types it promotes to
PROMOTIONS = {"int": {"long", "float", "double"}, "long": {"float", "double"}, "float": {"double"},
              "string": {"bytes"}, "bytes": {"string"}}


def _full_name(schema: dict[str, Any], namespace: str | None) -> str:
    name = str(schema.get("name", ""))
    if "." in name:
        return name
    ns = schema.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def _collect(schema: Any, namespace: str | None, into: dict[str, dict[str, Any]]) -> None:
    """Every named type defined in ``schema``, by full name (and by alias)."""
    if isinstance(schema, list):
        for branch in schema:
            _collect(branch, namespace, into)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in NAMED:
            full = _full_name(schema, namespace)
            into.setdefault(full, schema)
            namespace = full.rpartition(".")[0] or None
            for field in schema.get("fields", ()) if kind in ("record", "error") else ():
                _collect(field.get("type"), namespace, into)
        elif kind in ("array", "map"):
            _collect(schema.get("items" if kind == "array" else "values"), namespace, into)
        elif isinstance(kind, (dict, list)):
            _collect(kind, namespace, into)


class AvroSchema:
    schema_type = "AVRO"

    def __init__(self, raw: Any, parsed: Any, named: dict[str, Any]) -> None:
        self.raw = raw
        self.parsed = parsed  # fastavro's parsed form, for decoding
        self._named = named  # the referenced schemas' named types (parsed), by full name
        self._reader: Any = None  # compiled on the first decode
        self._compile_error: str | None = None
        self.canonical = json.dumps(raw, separators=(",", ":"))
        self.types: dict[str, dict[str, Any]] = {}
        for definition in named.values():
            _collect(definition, None, self.types)
        _collect(raw, None, self.types)

    def normalized(self) -> str:
        return json.dumps(self.raw, separators=(",", ":"), sort_keys=True)

    def names(self) -> list[str]:
        if isinstance(self.raw, dict) and self.raw.get("type") in NAMED:
            return [_full_name(self.raw, None)]
        return []

    def decode(self, payload: bytes, message_indexes: list[int] | None = None) -> object:
        """The payload's value as JSON values (see avro_binary: bounded, every length checked, exactly the
        payload consumed); SchemaError when it does not decode with this schema."""
        reader = self._reader
        if reader is None:
            reader = self._reader = self._compile()
        return decode_binary(reader, payload)

    def _compile(self) -> Any:
        if self._compile_error is not None:
            raise SchemaError(self._compile_error)
        named = dict(self._named)
        if isinstance(self.parsed, dict):
            named.update(self.parsed.get("__named_schemas") or {})
        try:
            return compile_schema(self.parsed, named)
        except SchemaError as exc:
            self._compile_error = str(exc)
            raise

    # ---------------------------------------------------------------- resolution

    def read_incompatibilities(self, writer: AvroSchema) -> list[str]:
        """Why this schema, as a reader, cannot read what ``writer`` wrote (empty: it can)."""
        return _Resolver(self.types, writer.types).check(self.raw, writer.raw, "", None, None)


class _Resolver:
    def __init__(self, reader_types: dict[str, dict[str, Any]], writer_types: dict[str, dict[str, Any]]) -> None:
        self.reader_types = reader_types
        self.writer_types = writer_types
        self.seen: set[tuple[str, str]] = set()

    @staticmethod
    def _resolve(schema: Any, types: dict[str, dict[str, Any]], namespace: str | None) -> tuple[Any, str | None]:
        """(the schema a name stands for, its namespace); other schemas as they are."""
        if isinstance(schema, str) and schema not in PRIMITIVES:
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            found = types.get(full) or types.get(schema)
            if found is not None:
                return found, full.rpartition(".")[0] or None
        if isinstance(schema, dict) and isinstance(schema.get("type"), (str, list, dict)) and \
                schema.get("type") not in NAMED | {"array", "map"}:
            inner = schema["type"]
            if isinstance(inner, str) and inner in PRIMITIVES:
                return inner, namespace  # {"type": "int", "logicalType": ...} reads as its type
            return _Resolver._resolve(inner, types, namespace)
        return schema, namespace

    def check(self, reader: Any, writer: Any, path: str, rns: str | None, wns: str | None) -> list[str]:
        reader, rns = self._resolve(reader, self.reader_types, rns)
        writer, wns = self._resolve(writer, self.writer_types, wns)
        if isinstance(writer, list):
            out = []
            for i, branch in enumerate(writer):
                if isinstance(reader, list):
                    if not any(not self.check(r, branch, path, rns, wns) for r in reader):
                        out.append(f"MISSING_UNION_BRANCH at '{path or '/'}': the reader's union has no branch for the "
                                   f"writer's {_kind(branch)} (branch {i})")
                else:
                    out.extend(self.check(reader, branch, path, rns, wns))
            return out
        if isinstance(reader, list):
            if any(not self.check(r, writer, path, rns, wns) for r in reader):
                return []
            return [f"MISSING_UNION_BRANCH at '{path or '/'}': the reader's union has no branch for the writer's "
                    f"{_kind(writer)}"]
        rk, wk = _kind(reader), _kind(writer)
        if rk in PRIMITIVES or wk in PRIMITIVES:
            if rk == wk or rk in PROMOTIONS.get(wk, ()):
                return []
            return [f"TYPE_MISMATCH at '{path or '/'}': the reader's type {rk} does not match the writer's type {wk}"]
        if rk != wk and not ({rk, wk} <= {"record", "error"}):
            return [f"TYPE_MISMATCH at '{path or '/'}': the reader's type {rk} does not match the writer's type {wk}"]
        if rk == "array":
            return self.check(reader.get("items"), writer.get("items"), f"{path}/items", rns, wns)
        if rk == "map":
            return self.check(reader.get("values"), writer.get("values"), f"{path}/values", rns, wns)
        rname, wname = _full_name(reader, rns), _full_name(writer, wns)
        aliases = {a if "." in a else (f"{rname.rpartition('.')[0]}.{a}" if "." in rname else a)
                   for a in reader.get("aliases", ())}
        if rname != wname and wname not in aliases and rname.rpartition(".")[2] != wname.rpartition(".")[2]:
            return [f"NAME_MISMATCH at '{path or '/'}': the reader's name {rname} does not match the writer's {wname}"]
        if (rname, wname) in self.seen:  # a recursive type already being compared
            return []
        self.seen.add((rname, wname))
        rns, wns = rname.rpartition(".")[0] or None, wname.rpartition(".")[0] or None
        if rk == "fixed":
            if reader.get("size") != writer.get("size"):
                return [f"FIXED_SIZE_MISMATCH at '{path}/size': expected {writer.get('size')}, found "
                        f"{reader.get('size')}"]
            return []
        if rk == "enum":
            missing = [s for s in writer.get("symbols", ()) if s not in reader.get("symbols", ())]
            if missing and "default" not in reader:
                return [f"MISSING_ENUM_SYMBOLS at '{path}/symbols': the reader's enum {rname} lacks "
                        f"{', '.join(map(str, missing))} and has no default"]
            return []
        out = []
        writer_fields = {f.get("name"): f for f in writer.get("fields", ())}
        for i, field in enumerate(reader.get("fields", ())):
            name = field.get("name")
            wfield = writer_fields.get(name)
            if wfield is None:
                wfield = next((writer_fields[a] for a in field.get("aliases", ()) if a in writer_fields), None)
            if wfield is None:
                if "default" not in field:
                    out.append(f"READER_FIELD_MISSING_DEFAULT_VALUE at '{path}/fields/{i}': the field '{name}' of "
                               f"{rname} has no default value and is missing in the writer's schema")
                continue
            out.extend(self.check(field.get("type"), wfield.get("type"), f"{path}/fields/{i}/type", rns, wns))
        return out


def _kind(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        kind = schema.get("type")
        return "record" if kind == "error" else str(kind)
    return type(schema).__name__


def jsonable(value: Any) -> Any:
    """A decoded Avro value as JSON values: bytes as Avro's JSON encoding does (code points 0-255)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    return value


def parse_avro(text: str, references: dict[str, str]) -> AvroSchema:
    from fastavro import parse_schema

    def load(source: str, what: str) -> Any:
        try:
            return json.loads(source)
        except (ValueError, RecursionError) as exc:
            raise SchemaError(f"{what} is not JSON: {exc}") from None

    raw = load(text, "the schema")
    named: dict[str, Any] = {}
    pending = {name: load(source, f"reference {name}") for name, source in references.items()}
    while pending:  # references in any order: parse those whose own names are known, until none is left
        progress = False
        for name, definition in list(pending.items()):
            try:
                parse_schema(definition, named_schemas=named)
            except Exception:  # noqa: BLE001 - an unknown name: retried once its definition is parsed
                continue
            del pending[name]
            progress = True
        if not progress:
            names = ", ".join(sorted(pending))
            raise SchemaError(f"the referenced schemas {names} do not parse")
    defined = dict(named)
    try:
        parsed = parse_schema(raw, named_schemas=named)
    except Exception as exc:  # fastavro's SchemaParseException, UnknownType, ValueError, TypeError, ...
        raise SchemaError(f"{type(exc).__name__}: {exc}") from None
    return AvroSchema(raw, parsed, defined)

