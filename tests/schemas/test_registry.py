"""The registry's state machine without sockets: every change is a list of _schemas records in Confluent's
JSON, applied only after it was written; replaying the records gives the same state."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkasim.schemas.registry import RegistryError, SchemaRegistryState, parse_version

V1 = json.dumps({"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}]})
V2 = json.dumps({"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"},
                                                            {"name": "age", "type": "int", "default": 0}]})
BREAKS = json.dumps({"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"},
                                                                {"name": "age", "type": "int"}]})

AGE_AS_TEXT = json.dumps({"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"},
                                                                     {"name": "age", "type": "string"}]})


class Log:
    """A _schemas stand-in: records appended in order, each applied to the registries that follow it."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []
        self.followers: list[SchemaRegistryState] = []
        self.fail = False

    def write(self, records: list[tuple[bytes, bytes | None]]) -> None:
        if self.fail:
            raise OSError("disk full")
        self.records.extend(records)
        for key, value in records:
            for f in self.followers:
                f.apply(key, value)

    def registry(self) -> SchemaRegistryState:
        r = SchemaRegistryState(self.write)
        for key, value in self.records:
            r.apply(key, value)
        self.followers.append(r)
        return r


def code(exc: pytest.ExceptionInfo[RegistryError]) -> tuple[int, int]:
    return exc.value.status, exc.value.error_code


def test_registry_register_writes_confluents_schema_record() -> None:
    log = Log()
    r = log.registry()
    sv = r.register("users-value", {"schema": V1})
    assert (sv.id, sv.version) == (1, 1)
    (key, value), = log.records
    assert json.loads(key) == {"keytype": "SCHEMA", "subject": "users-value", "version": 1, "magic": 1}
    v = json.loads(value)
    assert (v["subject"], v["version"], v["id"], v["deleted"]) == ("users-value", 1, 1, False)
    assert "schemaType" not in v  # AVRO is the default, as Confluent writes it
    assert json.loads(v["schema"]) == json.loads(V1)


def test_registry_same_schema_same_id_and_no_new_version() -> None:
    r = Log().registry()
    first = r.register("a", {"schema": V1})
    again = r.register("a", {"schema": " " + V1 + "\n"})  # whitespace does not make another schema
    other = r.register("b", {"schema": V1})
    assert (again.id, again.version) == (first.id, 1)
    assert (other.id, other.version) == (first.id, 1)
    assert r.versions("a")[-1].version == 1


def test_registry_incompatible_change_is_409_and_writes_nothing() -> None:
    log = Log()
    r = log.registry()
    r.register("s", {"schema": V1})
    with pytest.raises(RegistryError) as err:
        r.register("s", {"schema": BREAKS})
    assert code(err) == (409, 409)
    assert len(log.records) == 1
    assert r.register("s", {"schema": V2}).version == 2
    assert r.check("s", None, {"schema": AGE_AS_TEXT})
    assert r.check("s", None, {"schema": V2}) == []


def test_registry_failed_write_changes_nothing() -> None:
    log = Log()
    r = log.registry()
    log.fail = True
    with pytest.raises(OSError):
        r.register("s", {"schema": V1})
    assert r.list_subjects() == [] and r.max_id == 0


def test_registry_replay_rebuilds_ids_configs_modes_and_deletions() -> None:
    log = Log()
    r = log.registry()
    a = r.register("a", {"schema": V1})
    r.register("a", {"schema": V2})
    r.set_config("a", {"compatibility": "full"})
    r.set_mode("frozen", "READONLY")
    r.delete_version("a", 1)
    b = r.register("b", {"schema": BREAKS})
    replayed = log.registry()
    assert [sv.version for sv in replayed.versions("a")] == [2]
    assert [sv.version for sv in replayed.versions("a", deleted=True)] == [1, 2]
    assert replayed.schema(a.id).schema == r.schema(a.id).schema
    assert replayed.config("a") == {"compatibilityLevel": "FULL"}
    assert replayed.mode("frozen") == "READONLY"
    assert replayed.max_id == b.id == 3
    assert replayed.register("c", {"schema": BREAKS}).id == b.id


def test_registry_soft_then_permanent_delete_of_a_subject() -> None:
    r = Log().registry()
    r.register("s", {"schema": V1})
    r.register("s", {"schema": V2})
    with pytest.raises(RegistryError) as err:
        r.delete_subject("s", permanent=True)
    assert code(err) == (404, 40405)
    assert r.delete_subject("s") == [1, 2]
    with pytest.raises(RegistryError) as err:
        r.delete_subject("s")
    assert code(err) == (404, 40404)
    assert r.list_subjects() == [] and r.list_subjects(deleted=True) == ["s"]
    assert r.register("s", {"schema": V1}).version == 3  # numbering continues after soft-deleted versions
    assert r.delete_subject("s") == [3]
    assert r.delete_subject("s", permanent=True) == [1, 2, 3]
    assert r.list_subjects(deleted=True) == []
    with pytest.raises(RegistryError) as err:
        r.schema(1)
    assert code(err) == (404, 40403)


def test_registry_version_errors() -> None:
    r = Log().registry()
    r.register("s", {"schema": V1})
    with pytest.raises(RegistryError) as err:
        r.version("s", 2)
    assert code(err) == (404, 40402)
    with pytest.raises(RegistryError) as err:
        r.version("nope", 1)
    assert code(err) == (404, 40401)
    for bad in ("0", "x", "-2", str(2**31)):
        with pytest.raises(RegistryError) as err:
            r.version("s", bad)
        assert code(err) == (422, 42202)
    assert r.version("s", "latest").version == r.version("s", -1).version == 1


def test_registry_configs_and_modes() -> None:
    r = Log().registry()
    assert r.config() == {"compatibilityLevel": "BACKWARD"}
    with pytest.raises(RegistryError) as err:
        r.config("s")
    assert code(err) == (404, 40408)
    assert r.config("s", default_to_global=True) == {"compatibilityLevel": "BACKWARD"}
    with pytest.raises(RegistryError) as err:
        r.set_config(None, {"compatibility": "SIDEWAYS"})
    assert code(err) == (422, 42203)
    with pytest.raises(RegistryError) as err:
        r.set_mode(None, "WRITEONLY")
    assert code(err) == (422, 42204)
    r.set_mode("s", "READONLY")
    with pytest.raises(RegistryError) as err:
        r.register("s", {"schema": V1})
    assert code(err) == (422, 42205)
    assert r.delete_mode("s") == "READONLY"
    r.register("s", {"schema": V1})


def test_registry_import_mode_keeps_given_ids_and_versions() -> None:
    r = Log().registry()
    r.set_mode(None, "IMPORT")
    sv = r.register("s", {"schema": V1, "id": 42, "version": 7})
    assert (sv.id, sv.version) == (42, 7)
    with pytest.raises(RegistryError) as err:
        r.register("t", {"schema": V2, "id": 42, "version": 1})  # id 42 is another schema
    assert code(err) == (422, 42207)
    r.set_mode(None, "READWRITE")
    assert r.register("u", {"schema": V2}).id == 43


def test_registry_invalid_schemas_are_42201() -> None:
    r = Log().registry()
    for body in ({"schema": "{"}, {"schema": ""}, {"schema": V1, "schemaType": "XML"},
                 {"schema": V1, "references": [{"name": "x", "subject": "missing", "version": 1}]},
                 {"schema": V1, "references": "no"}):
        with pytest.raises(RegistryError) as err:
            r.register("s", body)
        assert code(err) == (422, 42201), body


def test_registry_apply_skips_what_it_cannot_read() -> None:
    r = Log().registry()
    for key, value in ((b"not json", b"{}"), (b'{"keytype": "SCHEMA"}', b"{}"), (b"[1]", None),
                       (b'{"keytype": "NOOP", "magic": 0}', None), (None, b"x")):
        r.apply(key, value)
    assert r.list_subjects() == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | st.none(), st.binary(max_size=256) | st.none())
def test_registry_apply_fuzz_never_raises(key: bytes | None, value: bytes | None) -> None:
    SchemaRegistryState(lambda records: None).apply(key, value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20) | st.integers())
def test_registry_parse_version_fuzz_is_a_version_or_42202(text: str | int) -> None:
    try:
        v = parse_version(text)
    except RegistryError as exc:
        assert exc.error_code == 42202
    else:
        assert v == -1 or 1 <= v < 2**31
