"""The schema registry's state: subjects, versions, ids, configs and modes, as Confluent Schema Registry keeps
them, held as the records of the ``_schemas`` topic.

Sans-IO: every change is a list of (key, value) records in the JSON that Confluent's registry itself writes
to ``_schemas`` (``{"keytype": "SCHEMA", "subject": ..., "version": ..., "magic": 1}`` and so on; a value
of None is a tombstone). A change is handed to ``write``, which appends it to the log; the state changes only
as the log's records come back through ``apply`` (the same path that replays the log at start, and that takes
records other clients produce to ``_schemas``), so the state a registry serves and the state it comes back to
are built by one code path.

Errors are :class:`RegistryError`: the HTTP status and Confluent's ``error_code`` and message.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kafkasim.schemas import ParsedSchema, SchemaError, check_compatibility, parse_schema

log = logging.getLogger(__name__)

SCHEMA_TYPES = ("AVRO", "JSON", "PROTOBUF")
COMPATIBILITY_LEVELS = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
                        "FULL_TRANSITIVE")
MODES = ("READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT")
DEFAULT_COMPATIBILITY = "BACKWARD"
DEFAULT_MODE = "READWRITE"
#: config fields Confluent stores beside the level (PUT /config body names; GET answers them alike)
CONFIG_FIELDS = ("alias", "normalize", "validateFields", "validateRules", "compatibilityGroup", "defaultMetadata",
                 "overrideMetadata", "defaultRuleSet", "overrideRuleSet")
_GUID_NAMESPACE = uuid.UUID("6d3b7a36-1c2e-4b8f-9a51-2f0e8c4d7b10")

Record = tuple[bytes, bytes | None]


class RegistryError(Exception):
    """A request the registry refuses: HTTP ``status`` and Confluent's ``error_code`` and message."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error_code": self.error_code, "message": self.message}


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


def version_not_found(subject: str, version: int | str) -> RegistryError:
    return RegistryError(404, 40402, f"Version {version} not found.")


def schema_not_found(what: int | str | None = None) -> RegistryError:
    return RegistryError(404, 40403, "Schema not found" if what is None else f"Schema {what} not found")


def invalid_schema(reason: str) -> RegistryError:
    return RegistryError(422, 42201, f"Invalid schema: {reason}")


def invalid_version(version: object) -> RegistryError:
    return RegistryError(422, 42202, f"The specified version '{version}' is not a valid version id. Allowed values"
                                     " are between [1, 2^31-1] and the string \"latest\"")


def _key(keytype: str, subject: str | None = None, version: int | None = None) -> bytes:
    key: dict[str, Any] = {"keytype": keytype}
    if subject is not None:
        key["subject"] = subject
    if version is not None:
        key["version"] = version
    key["magic"] = 1 if keytype == "SCHEMA" else 0
    return json.dumps(key, separators=(",", ":")).encode()


def _dump(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class SchemaVersion:
    """One version of a subject: the value of a SCHEMA record."""

    __slots__ = ("subject", "version", "id", "schema_type", "schema", "references", "metadata", "rule_set",
                 "deleted", "guid")

    def __init__(self, subject: str, version: int, id: int, schema_type: str, schema: str,
                 references: list[dict[str, Any]], metadata: dict | None = None, rule_set: dict | None = None,
                 deleted: bool = False, guid: str | None = None) -> None:
        self.subject = subject
        self.version = version
        self.id = id
        self.schema_type = schema_type
        self.schema = schema
        self.references = references
        self.metadata = metadata
        self.rule_set = rule_set
        self.deleted = deleted
        self.guid = guid

    def value(self) -> dict[str, Any]:
        """The SCHEMA record's value, in Confluent's field names (schemaType only when not AVRO)."""
        v: dict[str, Any] = {"subject": self.subject, "version": self.version, "id": self.id}
        if self.guid:
            v["guid"] = self.guid
        if self.schema_type != "AVRO":
            v["schemaType"] = self.schema_type
        if self.references:
            v["references"] = self.references
        if self.metadata is not None:
            v["metadata"] = self.metadata
        if self.rule_set is not None:
            v["ruleSet"] = self.rule_set
        v["schema"] = self.schema
        v["deleted"] = self.deleted
        return v

    def json(self) -> dict[str, Any]:
        """As the REST API answers a version (GET /subjects/{s}/versions/{v}, lookups)."""
        v = self.value()
        del v["deleted"]
        return v

    def identity(self) -> tuple[str, str, tuple]:
        return _identity(self.schema_type, self.schema, self.references)


def _identity(schema_type: str, text: str, references: Sequence[Mapping[str, Any]]) -> tuple[str, str, tuple]:
    return schema_type, text, tuple((r.get("name"), r.get("subject"), r.get("version")) for r in references)


class SchemaRegistryState:
    """Subjects, versions, ids, configs and modes of one registry. ``write(records)`` appends the records to
    ``_schemas`` (or raises) and, before it returns, feeds them back through :meth:`apply`."""

    def __init__(self, write: Callable[[list[Record]], None]) -> None:
        self._write = write
        self.subjects: dict[str, dict[int, SchemaVersion]] = {}
        self.by_id: dict[int, SchemaVersion] = {}  # the first version that carried each id
        self.ids: dict[tuple[str, str, tuple], int] = {}
        self.configs: dict[str | None, dict[str, Any]] = {}
        self.modes: dict[str | None, str] = {}
        self.max_id = 0
        self._parsed: dict[int, ParsedSchema] = {}

    # -- the log ------------------------------------------------------------------------------------
    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record of ``_schemas`` (live or replayed). Records this registry cannot read (another
        registry's key types, malformed JSON) are logged and skipped, as Confluent skips unknown key types."""
        try:
            k = json.loads(key) if key is not None else None
            v = json.loads(value) if value is not None else None
            if not isinstance(k, dict) or (v is not None and not isinstance(v, dict)):
                raise ValueError("not a JSON object")
            self._apply(k, v)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("_schemas: skipping a record the registry cannot read (%s): key=%r", exc, key)

    def _apply(self, k: dict[str, Any], v: dict[str, Any] | None) -> None:
        keytype = k.get("keytype")
        subject = k.get("subject")
        if keytype == "SCHEMA":
            version = int(k["version"])
            if v is None:  # permanent deletion
                versions = self.subjects.get(subject, {})
                gone = versions.pop(version, None)
                if not versions:
                    self.subjects.pop(subject, None)
                if gone is not None and self.by_id.get(gone.id) is gone:
                    self._reindex_id(gone)
                return
            sv = SchemaVersion(str(v["subject"]), int(v["version"]), int(v["id"]), str(v.get("schemaType") or "AVRO"),
                               str(v["schema"]), list(v.get("references") or []), v.get("metadata"), v.get("ruleSet"),
                               bool(v.get("deleted", False)), v.get("guid"))
            self.subjects.setdefault(sv.subject, {})[sv.version] = sv
            self.by_id.setdefault(sv.id, sv)
            self.ids.setdefault(sv.identity(), sv.id)
            self.max_id = max(self.max_id, sv.id)
        elif keytype == "CONFIG":
            if v is None:
                self.configs.pop(subject, None)
            else:
                self.configs[subject] = v
        elif keytype == "MODE":
            if v is None:
                self.modes.pop(subject, None)
            else:
                self.modes[subject] = str(v["mode"])
        elif keytype == "DELETE_SUBJECT":
            if v is not None:
                upto = int(v.get("version", 0))
                for sv in self.subjects.get(subject, {}).values():
                    if sv.version <= upto:
                        sv.deleted = True
        # NOOP, CLEAR_SUBJECT, CONTEXT and later key types carry nothing this registry keeps

    def _reindex_id(self, gone: SchemaVersion) -> None:
        """``gone`` was the version an id was found by and is no more: find another carrying the id."""
        del self.by_id[gone.id]
        for versions in self.subjects.values():
            for sv in versions.values():
                if sv.id == gone.id:
                    self.by_id[gone.id] = sv
                    return
        self.ids.pop(gone.identity(), None)
        self._parsed.pop(gone.id, None)

    def _commit(self, records: list[Record]) -> None:
        """Hand a change to ``write``; it reaches this state as the log's records come back through ``apply``."""
        self._write(records)

    # -- reading ------------------------------------------------------------------------------------
    def list_subjects(self, deleted: bool = False, prefix: str = "") -> list[str]:
        return sorted(s for s, versions in self.subjects.items()
                      if s.startswith(prefix) and any(deleted or not v.deleted for v in versions.values()))

    def versions(self, subject: str, deleted: bool = False) -> list[SchemaVersion]:
        """The subject's versions, oldest first; 40401 when it has none (live ones, unless ``deleted``)."""
        found = [sv for _, sv in sorted(self.subjects.get(subject, {}).items()) if deleted or not sv.deleted]
        if not found:
            raise subject_not_found(subject)
        return found

    def version(self, subject: str, version: int | str, deleted: bool = False) -> SchemaVersion:
        """``version`` is a number, ``latest`` or -1 (the newest live one)."""
        number = parse_version(version)
        versions = self.versions(subject, deleted=True)
        if number == -1:
            live = [sv for sv in versions if deleted or not sv.deleted]
            if not live:
                raise subject_not_found(subject)
            return live[-1]
        for sv in versions:
            if sv.version == number and (deleted or not sv.deleted):
                return sv
        raise version_not_found(subject, number)

    def schema(self, schema_id: int, subject: str | None = None) -> SchemaVersion:
        """A schema by id. ``subject`` (GET /schemas/ids/{id}?subject=) only names the schema context in
        Confluent's registry: in the default context, the only one served, the id alone finds the schema."""
        sv = self.by_id.get(schema_id)
        if sv is None:
            raise schema_not_found(schema_id)
        if subject:
            for other in self.subjects.get(subject, {}).values():
                if other.id == schema_id:
                    return other
        return sv

    def id_versions(self, schema_id: int, deleted: bool = False) -> list[SchemaVersion]:
        self.schema(schema_id)
        return sorted((sv for versions in self.subjects.values() for sv in versions.values()
                       if sv.id == schema_id and (deleted or not sv.deleted)), key=lambda sv: (sv.subject, sv.version))

    def all_versions(self, prefix: str = "", deleted: bool = False, latest_only: bool = False) -> list[SchemaVersion]:
        out: list[SchemaVersion] = []
        for subject in sorted(self.subjects):
            if not subject.startswith(prefix):
                continue
            live = [sv for _, sv in sorted(self.subjects[subject].items()) if deleted or not sv.deleted]
            out.extend(live[-1:] if latest_only else live)
        return out

    def referenced_by(self, subject: str, version: int | str) -> list[int]:
        sv = self.version(subject, version)
        return sorted({other.id for versions in self.subjects.values() for other in versions.values()
                       if not other.deleted and any(r.get("subject") == subject and r.get("version") == sv.version
                                                    for r in other.references)})

    def with_metadata(self, subject: str, wanted: Mapping[str, str], deleted: bool = False) -> SchemaVersion:
        """The newest version whose metadata properties hold every (key, value) of ``wanted``."""
        for sv in reversed(self.versions(subject, deleted=deleted)):
            props = (sv.metadata or {}).get("properties") or {}
            if all(props.get(k) == v for k, v in wanted.items()):
                return sv
        raise RegistryError(404, 40403, f"Schema not found for subject '{subject}' with metadata {dict(wanted)}")

    def parsed(self, sv: SchemaVersion) -> ParsedSchema:
        """The parsed schema of a version (cached per id)."""
        schema = self._parsed.get(sv.id)
        if schema is None:
            schema = parse_schema(sv.schema_type, sv.schema, self._resolve(sv.references))
            self._parsed[sv.id] = schema
        return schema

    def decode(self, data: bytes | None) -> object:
        """A key or value in the registry's wire format as JSON values, decoded with its schema; None when it is
        not framed with a known id or does not decode (inspection shows the raw bytes then)."""
        from kafkasim.schemas import parse_framed

        if data is None or len(data) < 5 or data[0] != 0:
            return None
        sv = self.by_id.get(int.from_bytes(data[1:5], "big"))
        if sv is None:
            return None
        try:
            _id, indexes, body = parse_framed(data, sv.schema_type == "PROTOBUF")
            return self.parsed(sv).decode(bytes(body), indexes)
        except SchemaError:
            return None

    # -- configs and modes --------------------------------------------------------------------------
    def config(self, subject: str | None = None, default_to_global: bool = False) -> dict[str, Any]:
        if subject is None:
            return self.configs.get(None) or {"compatibilityLevel": DEFAULT_COMPATIBILITY}
        found = self.configs.get(subject)
        if found is not None:
            return found
        if default_to_global:
            return self.config(None)
        raise RegistryError(404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured")

    def compatibility(self, subject: str) -> str:
        return str(self.config(subject, default_to_global=True).get("compatibilityLevel") or DEFAULT_COMPATIBILITY)

    def set_config(self, subject: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT /config[/subject]: ``compatibility`` and Confluent's other config fields; answers the body."""
        level = body.get("compatibility")
        if level is not None and (not isinstance(level, str) or level.upper() not in COMPATIBILITY_LEVELS):
            raise RegistryError(422, 42203, "Invalid compatibility level. Valid values are none, backward, forward,"
                                            " full, backward_transitive, forward_transitive, and full_transitive")
        stored = dict(self.configs.get(subject) or {})
        if level is not None:
            stored["compatibilityLevel"] = level.upper()
        for name in CONFIG_FIELDS:
            if name in body:
                stored[name] = body[name]
        self._commit([(_key("CONFIG", subject), _dump(stored))])
        answer = {"compatibility": level.upper()} if level is not None else {}
        answer.update((name, body[name]) for name in CONFIG_FIELDS if name in body)
        return answer

    def delete_config(self, subject: str | None) -> dict[str, Any]:
        previous = self.config(subject, default_to_global=subject is None)
        self._commit([(_key("CONFIG", subject), None)])
        return previous

    def mode(self, subject: str | None = None, default_to_global: bool = False) -> str:
        if subject is None:
            return self.modes.get(None, DEFAULT_MODE)
        found = self.modes.get(subject)
        if found is not None:
            return found
        if default_to_global:
            return self.mode(None)
        raise RegistryError(404, 40409, f"Subject '{subject}' does not have subject-level mode configured")

    def set_mode(self, subject: str | None, mode: object, force: bool = False) -> str:
        if not isinstance(mode, str) or mode.upper() not in MODES:
            raise RegistryError(422, 42204, "Invalid mode. Valid values are READWRITE, READONLY,"
                                            " READONLY_OVERRIDE, and IMPORT.")
        mode = mode.upper()
        if mode == "IMPORT" and not force:
            nonempty = self.list_subjects() if subject is None else self.list_subjects(prefix=subject)
            if (subject is None and nonempty) or (subject is not None and subject in nonempty):
                raise RegistryError(422, 42205, "Cannot import since found existing subjects")
        self._commit([(_key("MODE", subject), _dump({"mode": mode}))])
        return mode

    def delete_mode(self, subject: str) -> str:
        previous = self.mode(subject)
        self._commit([(_key("MODE", subject), None)])
        return previous

    def _check_writable(self, subject: str) -> str:
        mode = self.mode(subject, default_to_global=True)
        if mode in ("READONLY", "READONLY_OVERRIDE"):
            raise RegistryError(422, 42205, f"Subject {subject} is in read-only mode")
        return mode

    # -- registering --------------------------------------------------------------------------------
    def _resolve(self, references: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        """Reference name -> schema text for every schema the references reach, transitively."""
        out: dict[str, str] = {}
        pending = list(references)
        seen: set[tuple] = set()
        while pending:
            ref = pending.pop()
            name, subject, version = ref.get("name"), ref.get("subject"), ref.get("version")
            if not isinstance(name, str) or not isinstance(subject, str) or not isinstance(version, int) \
                    or isinstance(version, bool):
                raise invalid_schema(f"invalid reference {dict(ref)}: name, subject and version are required")
            if (name, subject, version) in seen:
                continue
            seen.add((name, subject, version))
            try:
                target = self.version(subject, version, deleted=True)
            except RegistryError:
                raise invalid_schema(f"reference {name} to subject {subject} version {version} does not exist"
                                     ) from None
            out[name] = target.schema
            pending.extend(target.references)
        return out

    def _parse(self, schema_type: str, text: str, references: list[dict[str, Any]]) -> ParsedSchema:
        try:
            return parse_schema(schema_type, text, self._resolve(references))
        except SchemaError as exc:
            raise invalid_schema(str(exc)) from None

    def prepare(self, subject: str, body: Mapping[str, Any], normalize: bool = False
                ) -> tuple[str, str, list[dict[str, Any]], ParsedSchema]:
        """Validate a request body's schema: (schema type, the text to store, references, parsed)."""
        schema_type = body.get("schemaType") or "AVRO"
        if not isinstance(schema_type, str) or schema_type.upper() not in SCHEMA_TYPES:
            raise RegistryError(422, 42201, f"Invalid schema type {schema_type!r}")
        schema_type = schema_type.upper()
        text = body.get("schema")
        if not isinstance(text, str) or not text:
            raise RegistryError(422, 42201, "Empty schema")
        references = body.get("references") or []
        if not isinstance(references, list) or not all(isinstance(r, dict) for r in references):
            raise RegistryError(422, 42201, "Invalid schema: references must be a list of objects")
        parsed = self._parse(schema_type, text, references)
        config = self.config(subject, default_to_global=True)
        stored = parsed.normalized() if normalize or config.get("normalize") else parsed.canonical
        return schema_type, stored, [dict(r) for r in references], parsed

    def lookup(self, subject: str, body: Mapping[str, Any], normalize: bool = False, deleted: bool = False
               ) -> SchemaVersion:
        """POST /subjects/{s}: the version of ``subject`` whose schema is the one given."""
        if subject not in self.subjects:
            raise subject_not_found(subject)
        schema_type, text, references, _ = self.prepare(subject, body, normalize)
        wanted = _identity(schema_type, text, references)
        for sv in reversed(self.versions(subject, deleted=True)):
            if (deleted or not sv.deleted) and sv.identity() == wanted:
                return sv
        raise schema_not_found()

    def register(self, subject: str, body: Mapping[str, Any], normalize: bool = False) -> SchemaVersion:
        """POST /subjects/{s}/versions: the version registered (or the live one already holding this schema)."""
        check_subject(subject)
        mode = self._check_writable(subject)
        schema_type, text, references, parsed = self.prepare(subject, body, normalize)
        metadata, rule_set = body.get("metadata"), body.get("ruleSet")
        wanted_id, wanted_version = body.get("id"), body.get("version")
        for name, given in (("id", wanted_id), ("version", wanted_version)):
            if given is not None and (not isinstance(given, int) or isinstance(given, bool) or given < 1):
                raise RegistryError(422, 42202 if name == "version" else 42207, f"Invalid {name} {given!r}")
        identity = _identity(schema_type, text, references)
        versions = self.subjects.get(subject, {})
        for sv in sorted(versions.values(), key=lambda sv: -sv.version):
            if not sv.deleted and sv.identity() == identity and (metadata is None or sv.metadata == metadata) \
                    and (rule_set is None or sv.rule_set == rule_set):
                if wanted_id is not None and wanted_id != sv.id:
                    raise RegistryError(422, 42207, f"Schema already registered with id {sv.id} instead of input id"
                                                    f" {wanted_id}")
                return sv
        if mode == "IMPORT":
            if wanted_id is None:
                raise RegistryError(422, 42205, "Subject is in import mode: the schema's id must be given")
            taken = self.by_id.get(wanted_id)
            if taken is not None and taken.identity() != identity:
                raise RegistryError(422, 42207, f"Overwrite new schema with id {wanted_id} is not permitted.")
            schema_id = wanted_id
        else:
            if wanted_id is not None:
                raise RegistryError(422, 42205, "Subject is not in import mode: a schema id cannot be chosen")
            live = [sv for sv in versions.values() if not sv.deleted]
            level = self.compatibility(subject)
            if live and level != "NONE":
                existing = [self.parsed(sv) for sv in sorted(live, key=lambda sv: sv.version)]
                messages = check_compatibility(level, parsed, existing)
                if messages:
                    raise RegistryError(409, 409, "Schema being registered is incompatible with an earlier schema"
                                                  f" for subject \"{subject}\", details: [{'; '.join(messages)}]")
            schema_id = self.ids.get(identity) or self.max_id + 1
        if wanted_version is not None:
            if mode != "IMPORT":
                latest = max(versions, default=0)
                if wanted_version != latest + 1:
                    raise RegistryError(422, 42202, f"Version {wanted_version} is not one more than the latest"
                                                    f" version {latest}")
            version = wanted_version
        else:
            version = max(versions, default=0) + 1
        guid = str(uuid.uuid5(_GUID_NAMESPACE, f"{schema_id}"))
        sv = SchemaVersion(subject, version, schema_id, schema_type, text, references, metadata, rule_set, guid=guid)
        self._commit([(_key("SCHEMA", subject, version), _dump(sv.value()))])
        self._parsed.setdefault(schema_id, parsed)
        return self.subjects[subject][version]

    def check(self, subject: str, version: int | str | None, body: Mapping[str, Any], normalize: bool = False
              ) -> list[str]:
        """POST /compatibility/subjects/{s}/versions[/{v}]: the incompatibilities (empty: compatible). With
        ``version`` None the subject's level decides which versions are checked; with one, only that one."""
        _, _, _, parsed = self.prepare(subject, body, normalize)
        if version is None:
            live = self.subjects.get(subject) and [sv for sv in self.versions(subject)]
            if not live:
                return []
            level = self.compatibility(subject)
            return check_compatibility(level, parsed, [self.parsed(sv) for sv in live]) if level != "NONE" else []
        sv = self.version(subject, version)
        level = self.compatibility(subject).removesuffix("_TRANSITIVE")
        return check_compatibility(level, parsed, [self.parsed(sv)]) if level != "NONE" else []

    # -- deleting -----------------------------------------------------------------------------------
    def _check_unreferenced(self, targets: Iterable[SchemaVersion]) -> None:
        keys = {(sv.subject, sv.version) for sv in targets}
        for versions in self.subjects.values():
            for other in versions.values():
                if not other.deleted and (other.subject, other.version) not in keys and any(
                        (r.get("subject"), r.get("version")) in keys for r in other.references):
                    raise RegistryError(422, 42206, "One or more references exist to the schema"
                                                    f" {{magic=1,keytype=SCHEMA,subject={other.subject},"
                                                    f"version={other.version}}}.")

    def delete_version(self, subject: str, version: int | str, permanent: bool = False) -> int:
        self._check_writable(subject)
        number = parse_version(version)
        versions = self.versions(subject, deleted=True)
        if number == -1:
            sv = self.version(subject, -1, deleted=permanent)
        else:
            found = [sv for sv in versions if sv.version == number]
            if not found:
                raise version_not_found(subject, number)
            sv = found[0]
        if permanent:
            if not sv.deleted:
                raise RegistryError(404, 40407, f"Subject '{subject}' Version {sv.version} was not deleted first"
                                                " before being permanently deleted")
            self._check_unreferenced([sv])
            self._commit([(_key("SCHEMA", subject, sv.version), None)])
        else:
            if sv.deleted:
                raise RegistryError(404, 40406, f"Subject '{subject}' Version {sv.version} was soft deleted. Set"
                                                " permanent=true to delete permanently")
            self._check_unreferenced([sv])
            gone = SchemaVersion(sv.subject, sv.version, sv.id, sv.schema_type, sv.schema, sv.references, sv.metadata,
                                 sv.rule_set, True, sv.guid)
            self._commit([(_key("SCHEMA", subject, sv.version), _dump(gone.value()))])
        return sv.version

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        self._check_writable(subject)
        versions = self.versions(subject, deleted=True)
        live = [sv for sv in versions if not sv.deleted]
        if permanent:
            if live:
                raise RegistryError(404, 40405, f"Subject '{subject}' was not deleted first before being"
                                                " permanently deleted")
            self._check_unreferenced(versions)
            records: list[Record] = [(_key("SCHEMA", subject, sv.version), None) for sv in versions]
            records += [(_key("CONFIG", subject), None)] if subject in self.configs else []
            records += [(_key("MODE", subject), None)] if subject in self.modes else []
            self._commit(records)
            return [sv.version for sv in versions]
        if not live:
            raise RegistryError(404, 40404, f"Subject '{subject}' was soft deleted.Set permanent=true to delete"
                                            " permanently")
        self._check_unreferenced(live)
        self._commit([(_key("DELETE_SUBJECT", subject), _dump({"subject": subject, "version": live[-1].version}))])
        return [sv.version for sv in live]


def parse_version(version: int | str) -> int:
    """A version path segment: 1..2^31-1, ``latest`` or -1 (both: the newest); else 42202."""
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
    elif isinstance(version, str) and version.lower() == "latest":
        return -1
    else:
        try:
            number = int(str(version), 10)
        except ValueError:
            raise invalid_version(version) from None
    if number == -1 or 1 <= number <= 2**31 - 1:
        return number
    raise invalid_version(version)


def check_subject(subject: str) -> None:
    """Confluent refuses empty subjects and subjects with control characters (42208)."""
    if not subject or any(ord(c) < 0x20 or c == "\x7f" for c in subject) or subject == "__GLOBAL":
        raise RegistryError(422, 42208, f"Invalid subject {subject!r}")
