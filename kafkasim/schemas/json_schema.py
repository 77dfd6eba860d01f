"""JSON Schema: checked against its draft's meta-schema by jsonschema (draft 7 when ``$schema`` says nothing),
references resolved by their reference names (``{"$ref": "address.json"}``), payloads validated.

Compatibility follows Confluent's rules for JSON Schema, where the reader must accept every document the
writer accepts: types may only widen (``integer`` reads as ``number``); a property the writer may have sent
(its content model is open) cannot be added with a restricting schema, and one the writer has cannot
disappear from a closed reader (``additionalProperties: false``); a newly required property breaks old
documents; enums may only grow; length, size and range bounds may only loosen; properties and items compare
recursively.
"""

from __future__ import annotations

import json
from typing import Any

from kafkasim.schemas.errors import SchemaError

_BOUNDS = (("maxLength", -1), ("minLength", 1), ("maximum", -1), ("minimum", 1), ("maxItems", -1), ("minItems", 1),
           ("maxProperties", -1), ("minProperties", 1))


class JsonSchema:
    schema_type = "JSON"

    def __init__(self, raw: Any, validator: Any) -> None:
        self.raw = raw
        self.validator = validator
        self.canonical = json.dumps(raw, separators=(",", ":"))

    def normalized(self) -> str:
        return json.dumps(self.raw, separators=(",", ":"), sort_keys=True)

    def names(self) -> list[str]:
        title = self.raw.get("title") if isinstance(self.raw, dict) else None
        return [title] if isinstance(title, str) and title else []

    def decode(self, payload: bytes, message_indexes: list[int] | None = None) -> object:
        try:
            value = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise SchemaError(f"not JSON: {exc}") from None
        try:
            error = next(iter(self.validator.iter_errors(value)), None)
        except Exception as exc:  # a reference that cannot be resolved, a recursion too deep
            raise SchemaError(f"cannot validate: {type(exc).__name__}: {exc}") from None
        if error is not None:
            where = "/" + "/".join(map(str, error.absolute_path))
            raise SchemaError(f"{error.message} at {where}")
        return value

    def read_incompatibilities(self, writer: JsonSchema) -> list[str]:
        out: list[str] = []
        _compare(self.raw, writer.raw, "#", out, depth=0)
        return out


def _types(schema: dict[str, Any]) -> set[str] | None:
    t = schema.get("type")
    if t is None:
        return None
    return {t} if isinstance(t, str) else {x for x in t if isinstance(x, str)}


def _open(schema: dict[str, Any]) -> bool:
    return schema.get("additionalProperties", True) is not False


def _compare(reader: Any, writer: Any, path: str, out: list[str], depth: int) -> None:
    if depth > 64 or not isinstance(reader, dict) or not isinstance(writer, dict):
        if reader is False and writer is not False:
            out.append(f"TYPE_NARROWED at {path}: the new schema accepts nothing")
        return
    rt, wt = _types(reader), _types(writer)
    if rt is not None:
        widened = rt | ({"integer"} if "number" in rt else set())
        if wt is None or not wt <= widened:
            out.append(f"TYPE_NARROWED at {path}: {sorted(wt) if wt else 'any type'} is read as {sorted(rt)}")
    for bound, direction in _BOUNDS:
        r, w = reader.get(bound), writer.get(bound)
        if isinstance(r, (int, float)) and (not isinstance(w, (int, float)) or (r - w) * direction > 0):
            change = "DECREASED" if direction < 0 else "INCREASED"
            out.append(f"{bound.upper()}_{change} at {path}: {w} became {r}")
    if "enum" in reader:
        r_enum, w_enum = reader.get("enum") or [], writer.get("enum")
        if w_enum is None or any(v not in r_enum for v in w_enum):
            out.append(f"ENUM_ARRAY_NARROWED at {path}: values the old schema allows are not in {r_enum}")
    r_props, w_props = reader.get("properties") or {}, writer.get("properties") or {}
    if isinstance(r_props, dict) and isinstance(w_props, dict):
        for name, w_prop in w_props.items():
            if name in r_props:
                _compare(r_props[name], w_prop, f"{path}/properties/{name}", out, depth + 1)
            elif not _open(reader):
                out.append(f"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at {path}/properties/{name}")
        for name, r_prop in r_props.items():
            if name not in w_props and _open(writer) and r_prop not in ({}, True):
                out.append(f"PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL at {path}/properties/{name}: old documents may "
                           "carry it with any value")
    r_req, w_req = set(reader.get("required") or []), set(writer.get("required") or [])
    for name in sorted(r_req - w_req):
        prop = r_props.get(name) if isinstance(r_props, dict) else None
        if not (isinstance(prop, dict) and "default" in prop):
            out.append(f"REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL at {path}/required: '{name}' is now required")
    if isinstance(reader.get("items"), dict) and isinstance(writer.get("items"), dict):
        _compare(reader["items"], writer["items"], f"{path}/items", out, depth + 1)


def parse_json_schema(text: str, references: dict[str, str]) -> JsonSchema:
    from jsonschema import Draft7Validator, validators
    from jsonschema.exceptions import SchemaError as JsonschemaError
    from referencing import Registry, Resource
    from referencing.exceptions import CannotDetermineSpecification
    from referencing.jsonschema import DRAFT7

    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SchemaError(f"the schema is not JSON: {exc}") from None
    if not isinstance(raw, (dict, bool)):
        raise SchemaError("a JSON Schema is an object or a boolean")
    registry: Registry = Registry()
    for name, source in references.items():
        try:
            contents = json.loads(source)
            resource = Resource.from_contents(contents, default_specification=DRAFT7)
        except (ValueError, RecursionError, CannotDetermineSpecification) as exc:
            raise SchemaError(f"reference {name} is not a JSON Schema: {exc}") from None
        registry = registry.with_resource(name, resource)
    try:
        cls = validators.validator_for(raw, default=Draft7Validator) if isinstance(raw, dict) else Draft7Validator
        cls.check_schema(raw)
        validator = cls(raw, registry=registry)
    except JsonschemaError as exc:
        raise SchemaError(f"{exc.message} at {'/' + '/'.join(map(str, exc.path))}") from None
    except Exception as exc:  # an unknown $schema, a schema too deep
        raise SchemaError(f"{type(exc).__name__}: {exc}") from None
    return JsonSchema(raw, validator)
