"""Protobuf schemas: ``.proto`` text parsed by proto-schema-parser (a real grammar; syntax errors refuse the
schema), or a base64 FileDescriptorProto read by the protobuf package (the form confluent-kafka's Python
serializer registers); imports resolved by reference name, payloads walked field by field over the wire format.

The model kept of a schema is what compatibility and decoding need: its package and syntax, and each message
(nested ones by full name) with its fields (number, name, type, label, oneof). Compatibility follows
Confluent's rules for Protobuf: a message may not disappear; a field number keeps a wire-compatible type
(int32, uint32, int64, uint64 and bool read each other; sint32 and sint64; fixed32 and sfixed32; fixed64 and
sfixed64; string and bytes; a message type keeps its name); a field may not move into or out of a oneof;
proto2 required fields may be neither added nor removed; the syntax stays.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kafkasim.schemas.errors import SchemaError

SCALARS = {"double": 1, "float": 5, "int32": 0, "int64": 0, "uint32": 0, "uint64": 0, "sint32": 0, "sint64": 0,
           "fixed32": 5, "fixed64": 1, "sfixed32": 5, "sfixed64": 1, "bool": 0, "string": 2, "bytes": 2}
_COMPATIBLE = [{"int32", "uint32", "int64", "uint64", "bool"}, {"sint32", "sint64"}, {"fixed32", "sfixed32"},
               {"fixed64", "sfixed64"}, {"string", "bytes"}]
#: deepest message nesting a payload may have (a schema can be recursive; a payload cannot go on for ever)
MAX_DEPTH = 100


class ProtoField(NamedTuple):
    number: int
    name: str
    type: str  # a scalar name, "map", or the full name of a message or enum
    label: str  # "", "repeated", "optional", "required"
    oneof: str | None


class ProtoMessage(NamedTuple):
    name: str
    fields: dict[int, ProtoField]
    nested: list[str]  # full names of the messages declared inside, in order


class ProtobufSchema:
    schema_type = "PROTOBUF"

    def __init__(self, text: str, syntax: str, package: str, messages: dict[str, ProtoMessage], top: list[str],
                 enums: set[str], generated: str) -> None:
        self.canonical = text.strip()
        self.syntax = syntax
        self.package = package
        self.messages = messages  # every message of the schema and of its imports, by full name
        self.top = top  # the schema's own top-level messages, in order (message index 0, 1, ...)
        self.enums = enums
        self._generated = generated

    def normalized(self) -> str:
        return self._generated

    def names(self) -> list[str]:
        return list(self.top)

    def message_for(self, indexes: list[int] | None) -> ProtoMessage:
        """The message the wire format's message indexes name (top-level index, then nested indexes)."""
        indexes = indexes or [0]
        if not self.top or not 0 <= indexes[0] < len(self.top):
            raise SchemaError(f"message index {indexes[0]} names no message of the schema")
        message = self.messages[self.top[indexes[0]]]
        for i in indexes[1:]:
            if not 0 <= i < len(message.nested):
                raise SchemaError(f"message index {i} names no nested message of {message.name}")
            message = self.messages[message.nested[i]]
        return message

    def decode(self, payload: bytes, message_indexes: list[int] | None = None) -> object:
        return self._decode(memoryview(payload), self.message_for(message_indexes), 0)

    def _decode(self, data: memoryview, message: ProtoMessage, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise SchemaError("the payload nests messages too deep")
        out: dict[str, Any] = {}
        pos = 0
        while pos < len(data):
            tag, pos = _varint(data, pos)
            number, wire = tag >> 3, tag & 7
            if number < 1:
                raise SchemaError(f"bad field number {number}")
            if wire == 0:
                value, pos = _varint(data, pos)
            elif wire == 1:
                if pos + 8 > len(data):
                    raise SchemaError("a 64-bit field ends past the payload")
                value, pos = bytes(data[pos:pos + 8]), pos + 8
            elif wire == 5:
                if pos + 4 > len(data):
                    raise SchemaError("a 32-bit field ends past the payload")
                value, pos = bytes(data[pos:pos + 4]), pos + 4
            elif wire == 2:
                length, pos = _varint(data, pos)
                if length > len(data) - pos:
                    raise SchemaError(f"a field of {length} bytes ends past the payload")
                value, pos = data[pos:pos + length], pos + length
            else:
                raise SchemaError(f"wire type {wire} (groups or invalid) of field {number}")
            field = message.fields.get(number)
            if field is None:
                continue  # an unknown field: kept by protobuf readers, valid
            out_value = self._field_value(field, wire, value, depth)
            if field.label == "repeated" or field.type == "map":
                out.setdefault(field.name, []).append(out_value)
            else:
                out[field.name] = out_value
        return out

    def _field_value(self, field: ProtoField, wire: int, value: Any, depth: int) -> Any:
        expected = SCALARS.get(field.type, 0 if field.type in self.enums else 2)
        packed = wire == 2 and expected != 2 and field.label == "repeated"
        if wire != expected and not packed:
            raise SchemaError(f"field {field.name} ({field.type}) has wire type {wire}, expected {expected}")
        if field.type in self.messages:
            return self._decode(value, self.messages[field.type], depth + 1)
        if field.type == "string":
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise SchemaError(f"field {field.name} is not UTF-8") from None
        if isinstance(value, memoryview):
            return bytes(value).hex()
        if isinstance(value, bytes):
            return value.hex()
        return value

    def read_incompatibilities(self, writer: ProtobufSchema) -> list[str]:
        out: list[str] = []
        if self.syntax != writer.syntax:
            out.append(f"SYNTAX_VERSION_CHANGED: {writer.syntax} became {self.syntax}")
        for name in writer.top:
            self._compare_message(name, writer, out, set())
        return out

    def _compare_message(self, name: str, writer: ProtobufSchema, out: list[str], seen: set[str]) -> None:
        if name in seen:
            return
        seen.add(name)
        w = writer.messages[name]
        r = self.messages.get(name)
        if r is None:
            out.append(f"MESSAGE_REMOVED: {name}")
            return
        for number, wf in w.fields.items():
            rf = r.fields.get(number)
            if rf is None:
                if wf.label == "required":
                    out.append(f"REQUIRED_FIELD_REMOVED: field {number} ({wf.name}) of {name}")
                continue
            if rf.type != wf.type and not any({rf.type, wf.type} <= group for group in _COMPATIBLE):
                kind = "FIELD_SCALAR_KIND_CHANGED" if rf.type in SCALARS and wf.type in SCALARS else \
                    "FIELD_NAMED_TYPE_CHANGED" if rf.type not in SCALARS and wf.type not in SCALARS else "FIELD_KIND_CHANGED"
                out.append(f"{kind}: field {number} of {name} was {wf.type}, is {rf.type}")
            if wf.oneof is None and rf.oneof is not None:
                out.append(f"FIELD_MOVED_TO_ONEOF: field {number} ({rf.name}) of {name} moved into oneof {rf.oneof}")
            elif wf.oneof is not None and rf.oneof is None:
                out.append(f"ONEOF_FIELD_REMOVED: field {number} ({rf.name}) of {name} left oneof {wf.oneof}")
            if wf.type in writer.messages:
                self._compare_message(wf.type, writer, out, seen)
        for number, rf in r.fields.items():
            if number not in w.fields and rf.label == "required":
                out.append(f"REQUIRED_FIELD_ADDED: field {number} ({rf.name}) of {name}")
        for nested in w.nested:
            self._compare_message(nested, writer, out, seen)


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise SchemaError("the payload ends inside a varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise SchemaError("a varint is longer than 10 bytes")


class _Strict:
    """An ANTLR error listener that refuses instead of recovering (the parser's default prints and goes on)."""

    def __init__(self) -> None:
        from antlr4.error.ErrorListener import ErrorListener

        class Listener(ErrorListener):
            def syntaxError(self, recognizer, offending, line, column, msg, e):  # noqa: N802 - ANTLR's name
                raise SchemaError(f"line {line}:{column} {msg}")

        self.listener = Listener()

    def __call__(self, recognizer: Any) -> None:
        recognizer.removeErrorListeners()
        recognizer.addErrorListener(self.listener)


def _parse_file(text: str) -> Any:
    try:
        from proto_schema_parser.parser import Parser
    except ImportError:
        raise SchemaError("Protobuf schemas need the protobuf extra: pip install kafkasim[protobuf]") from None
    strict = _Strict()
    try:
        return Parser(setup_lexer=strict, setup_parser=strict).parse(text)
    except SchemaError:
        raise
    except Exception as exc:  # the AST builder's own errors on odd input (a bad literal, ...)
        raise SchemaError(f"{type(exc).__name__}: {exc}") from None


class _Model:
    """Messages and enums of parsed files, by full name, with type names resolved to full names."""

    def __init__(self) -> None:
        self.messages: dict[str, ProtoMessage] = {}
        self.enums: set[str] = set()
        self._pending: list[tuple[str, dict[int, ProtoField]]] = []

    def add_file(self, tree: Any) -> tuple[str, str, list[str]]:
        from proto_schema_parser import ast

        syntax, package, top = tree.syntax or "proto2", "", []
        for element in tree.file_elements:
            if isinstance(element, ast.Package):
                package = element.name
        for element in tree.file_elements:
            if isinstance(element, ast.Message):
                top.append(self._add_message(element, package))
            elif isinstance(element, ast.Enum):
                self.enums.add(f"{package}.{element.name}" if package else element.name)
        return syntax, package, top

    def _add_message(self, message: Any, scope: str) -> str:
        from proto_schema_parser import ast

        full = f"{scope}.{message.name}" if scope else message.name
        fields: dict[int, ProtoField] = {}
        nested: list[str] = []

        def add(field: Any, oneof: str | None) -> None:
            if isinstance(field, ast.MapField):
                fields[field.number] = ProtoField(field.number, field.name, "map", "repeated", oneof)
            elif isinstance(field, ast.Field):
                label = field.cardinality.value.lower() if field.cardinality else ""
                fields[field.number] = ProtoField(field.number, field.name, field.type, label, oneof)

        for element in message.elements:
            if isinstance(element, ast.Message):
                nested.append(self._add_message(element, full))
            elif isinstance(element, ast.Enum):
                self.enums.add(f"{full}.{element.name}")
            elif isinstance(element, ast.OneOf):
                for field in element.elements:
                    add(field, element.name)
            else:
                add(element, None)
        self.messages[full] = ProtoMessage(full, fields, nested)
        self._pending.append((full, fields))
        return full

    def resolve(self) -> None:
        """Type names to full names, looked up from the innermost scope out, as protoc does."""
        known = set(self.messages) | self.enums
        for scope, fields in self._pending:
            for number, f in list(fields.items()):
                if f.type in SCALARS or f.type == "map":
                    continue
                name = f.type.lstrip(".")
                found = name if f.type.startswith(".") and name in known else None
                parts = scope.split(".")
                while found is None and parts:
                    candidate = ".".join([*parts, name])
                    found = candidate if candidate in known else None
                    parts.pop()
                if found is None and name in known:
                    found = name
                if found is None and name.startswith("google.protobuf."):
                    continue  # a well-known type: built in, as Confluent treats them (read as opaque bytes)
                if found is None:
                    raise SchemaError(f"field {f.name} of {scope} has unknown type {f.type}")
                fields[number] = f._replace(type=found)


#: FieldDescriptorProto.Type -> the scalar's name (11 message and 14 enum are named by type_name)
_DESCRIPTOR_TYPES = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
                     8: "bool", 9: "string", 12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64", 17: "sint32",
                     18: "sint64"}
_LABELS = {1: "", 2: "required", 3: "repeated"}


def _descriptor(text: str) -> Any | None:
    """The FileDescriptorProto a base64 schema text holds (confluent-kafka's Python serializer registers its
    schemas so), or None when the text is not base64 (it is .proto source then)."""
    import base64
    import binascii

    stripped = text.strip()
    if not stripped or any(c.isspace() for c in stripped):
        return None
    try:
        raw = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        from google.protobuf import descriptor_pb2
        from google.protobuf.message import DecodeError
    except ImportError:
        raise SchemaError("serialized Protobuf schemas need the protobuf package: pip install kafkasim[protobuf]"
                          ) from None
    fdp = descriptor_pb2.FileDescriptorProto()
    try:
        fdp.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise SchemaError(f"not a serialized FileDescriptorProto: {exc}") from None
    return fdp


def _add_descriptor(model: _Model, fdp: Any) -> tuple[str, str, list[str]]:
    """Messages and enums of a FileDescriptorProto into ``model``; (syntax, package, top-level messages)."""
    package = fdp.package

    def add_message(message: Any, scope: str) -> str | None:
        full = f"{scope}.{message.name}" if scope else message.name
        if message.options.map_entry:
            return None
        nested = [n for n in (add_message(m, full) for m in message.nested_type) if n is not None]
        for enum in message.enum_type:
            model.enums.add(f"{full}.{enum.name}")
        maps = {f"{full}.{m.name}" for m in message.nested_type if m.options.map_entry}
        fields: dict[int, ProtoField] = {}
        for f in message.field:
            type_name = f.type_name.lstrip(".")
            kind = "map" if type_name in maps else _DESCRIPTOR_TYPES.get(f.type, type_name)
            real_oneof = f.HasField("oneof_index") and not f.proto3_optional
            oneof = message.oneof_decl[f.oneof_index].name if real_oneof else None
            label = "optional" if f.proto3_optional else _LABELS.get(f.label, "")
            fields[f.number] = ProtoField(f.number, f.name, kind, label, oneof)
        model.messages[full] = ProtoMessage(full, fields, nested)
        return full

    top = [n for n in (add_message(m, package) for m in fdp.message_type) if n is not None]
    for enum in fdp.enum_type:
        model.enums.add(f"{package}.{enum.name}" if package else enum.name)
    return fdp.syntax or "proto2", package, top


def parse_protobuf(text: str, references: dict[str, str]) -> ProtobufSchema:
    model = _Model()
    for name, source in references.items():
        try:
            fdp = _descriptor(source)
            if fdp is not None:
                _add_descriptor(model, fdp)
            else:
                model.add_file(_parse_file(source))
        except SchemaError as exc:
            raise SchemaError(f"reference {name}: {exc}") from None
    fdp = _descriptor(text)
    if fdp is not None:
        syntax, package, top = _add_descriptor(model, fdp)
        generated = text.strip()
    else:
        from proto_schema_parser.generator import Generator

        tree = _parse_file(text)
        syntax, package, top = model.add_file(tree)
        try:
            generated = Generator().generate(tree)
        except Exception:  # noqa: BLE001 - the normalized form is a nicety: the text itself is the fallback
            generated = text.strip()
    model.resolve()
    if not top:
        raise SchemaError("the schema defines no message")
    return ProtobufSchema(text, syntax, package, model.messages, top, model.enums, generated)
