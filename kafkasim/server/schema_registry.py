"""The schema registry's HTTP listener: Confluent Schema Registry's REST API (v1) over aiohttp, on the loop
the cluster's brokers run on, one per cluster.

A thin layer: each route reads its path, query and JSON body, calls
:class:`kafkasim.schemas.registry.SchemaRegistryState` and answers what Confluent's registry answers, in
``application/vnd.schemaregistry.v1+json``. Refusals are Confluent's JSON ``{"error_code", "message"}``
with its HTTP status: the registry's own codes (40401 subject not found, 42201 invalid schema, 409
incompatible ...), and for what never reaches a route 400 (malformed JSON), 401 (basic auth), 404 (no such
route), 405, 413 (body over the limit), 415 (content type) and 500 (a bug: logged with its traceback).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from kafkasim.schemas.registry import SCHEMA_TYPES, RegistryError, SchemaRegistryState, SchemaVersion
from kafkasim.server.http import HttpService

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
#: the content types Confluent's registry accepts for a body
ACCEPTED_TYPES = frozenset({CONTENT_TYPE, "application/vnd.schemaregistry+json", "application/json",
                            "application/octet-stream", ""})
#: largest request body (Confluent's default schema size limit is far below it)
MAX_BODY_BYTES = 4 << 20
SHUTDOWN_TIMEOUT_S = 1.0

#: the OpenAPI 3.1 document of these routes (a test keeps the two the same)
OPENAPI_PATH = Path(__file__).with_name("schema_registry.openapi.json")
#: (method, path, handler name): every route of the registry
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/", "root"),
    ("GET", "/subjects", "list_subjects"),
    ("POST", "/subjects/{subject}", "lookup"),
    ("DELETE", "/subjects/{subject}", "delete_subject"),
    ("GET", "/subjects/{subject}/versions", "list_versions"),
    ("POST", "/subjects/{subject}/versions", "register"),
    ("GET", "/subjects/{subject}/versions/{version}", "get_version"),
    ("DELETE", "/subjects/{subject}/versions/{version}", "delete_version"),
    ("GET", "/subjects/{subject}/versions/{version}/schema", "get_version_schema"),
    ("GET", "/subjects/{subject}/versions/{version}/referencedby", "referenced_by"),
    ("GET", "/subjects/{subject}/metadata", "with_metadata"),
    ("GET", "/schemas", "list_schemas"),
    ("GET", "/schemas/types", "schema_types"),
    ("GET", "/schemas/ids/{id}", "get_schema"),
    ("GET", "/schemas/ids/{id}/schema", "get_schema_text"),
    ("GET", "/schemas/ids/{id}/subjects", "id_subjects"),
    ("GET", "/schemas/ids/{id}/versions", "id_versions"),
    ("GET", "/schemas/guids/{guid}", "get_schema_by_guid"),
    ("GET", "/config", "get_global_config"),
    ("PUT", "/config", "put_global_config"),
    ("DELETE", "/config", "delete_global_config"),
    ("GET", "/config/{subject}", "get_config"),
    ("PUT", "/config/{subject}", "put_config"),
    ("DELETE", "/config/{subject}", "delete_config"),
    ("GET", "/mode", "get_global_mode"),
    ("PUT", "/mode", "put_global_mode"),
    ("GET", "/mode/{subject}", "get_mode"),
    ("PUT", "/mode/{subject}", "put_mode"),
    ("DELETE", "/mode/{subject}", "delete_mode"),
    ("POST", "/compatibility/subjects/{subject}/versions", "check_all"),
    ("POST", "/compatibility/subjects/{subject}/versions/{version}", "check_version"),
    ("GET", "/contexts", "contexts"),
]


def _answer(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(body, separators=(",", ":")).encode(),
                        content_type=CONTENT_TYPE)


def _error(status: int, error_code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    response = _answer({"error_code": error_code, "message": message}, status)
    response.headers.update(headers or {})
    return response


def _flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter, as Confluent reads them (``true`` in any case; absent is false)."""
    return request.query.get(name, "false").strip().lower() == "true"


def _schema_id(request: web.Request) -> int:
    text = request.match_info["id"]
    try:
        return int(text, 10)
    except ValueError:
        raise RegistryError(404, 40403, f"Schema {text} not found") from None


class SchemaRegistryServer(HttpService):
    """Serves ``registry`` on host:port (0 picks a free port). With ``auth`` ("user:password"), every request
    needs HTTP basic auth with it, as clients send ``basic.auth.user.info``."""

    ROUTES = ROUTES
    max_body_bytes = MAX_BODY_BYTES
    shutdown_timeout_s = SHUTDOWN_TIMEOUT_S
    service_name = "schema registry"

    def __init__(self, registry: SchemaRegistryState, host: str = "127.0.0.1", port: int = 0,
                 auth: str | None = None) -> None:
        if auth is not None and ":" not in auth:
            raise ValueError("schema registry auth must be USER:PASSWORD")
        super().__init__(host, port)
        self.registry = registry
        self.auth = auth

    def start_note(self) -> str:
        return " (basic auth)" if self.auth else ""

    # ------------------------------------------------------------------ plumbing

    def _authorized(self, request: web.Request) -> bool:
        if self.auth is None:
            return True
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(given.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(decoded, self.auth.encode())

    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        started = time.monotonic()
        try:
            if not self._authorized(request):
                response = _error(401, 40101, "Unauthorized", {"WWW-Authenticate": 'Basic realm="kafkasim"'})
            else:
                response = await handler(request)
        except RegistryError as exc:
            response = _error(exc.status, exc.error_code, exc.message)
        except web.HTTPException as exc:  # unknown route (404), method (405), body too large (413)
            message = {404: "HTTP 404 Not Found", 405: "HTTP 405 Method Not Allowed",
                       413: f"Request entity larger than {MAX_BODY_BYTES} bytes"}.get(exc.status, exc.reason)
            headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            response = _error(exc.status, exc.status, message, headers)
        except Exception:
            log.exception("schema registry: %s %s failed", request.method, request.path_qs)
            response = _error(500, 50001, "Error in the backend data store (the broker's log has the traceback)")
        log.debug("registry %s %s -> %d (%.1f ms)", request.method, request.path_qs, response.status,
                  (time.monotonic() - started) * 1000)
        return response

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in ACCEPTED_TYPES:
            raise RegistryError(415, 415, "HTTP 415 Unsupported Media Type")
        raw = await request.read()
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise RegistryError(400, 400, f"Unrecognized request body: {exc}") from None
        if not isinstance(body, dict):
            raise RegistryError(422, 422, "The request body must be a JSON object")
        return body

    # ------------------------------------------------------------------ subjects and versions

    async def root(self, request: web.Request) -> web.Response:
        return _answer({})

    async def list_subjects(self, request: web.Request) -> web.Response:
        return _answer(self.registry.list_subjects(_flag(request, "deleted"), request.query.get("subjectPrefix", "")))

    async def lookup(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        sv = self.registry.lookup(request.match_info["subject"], body, _flag(request, "normalize"),
                                  _flag(request, "deleted"))
        return _answer(sv.json())

    async def delete_subject(self, request: web.Request) -> web.Response:
        return _answer(self.registry.delete_subject(request.match_info["subject"], _flag(request, "permanent")))

    async def list_versions(self, request: web.Request) -> web.Response:
        versions = self.registry.versions(request.match_info["subject"], _flag(request, "deleted"))
        return _answer([sv.version for sv in versions])

    async def register(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        sv = self.registry.register(request.match_info["subject"], body, _flag(request, "normalize"))
        return _answer({"id": sv.id, "version": sv.version, "guid": sv.guid, **_type_and_schema(sv)})

    def _version(self, request: web.Request) -> SchemaVersion:
        return self.registry.version(request.match_info["subject"], request.match_info["version"],
                                     _flag(request, "deleted"))

    async def get_version(self, request: web.Request) -> web.Response:
        return _answer(self._version(request).json())

    async def get_version_schema(self, request: web.Request) -> web.Response:
        return web.Response(text=self._version(request).schema, content_type=CONTENT_TYPE)

    async def referenced_by(self, request: web.Request) -> web.Response:
        return _answer(self.registry.referenced_by(request.match_info["subject"], request.match_info["version"]))

    async def delete_version(self, request: web.Request) -> web.Response:
        return _answer(self.registry.delete_version(request.match_info["subject"], request.match_info["version"],
                                                    _flag(request, "permanent")))

    async def with_metadata(self, request: web.Request) -> web.Response:
        keys, values = request.query.getall("key", []), request.query.getall("value", [])
        if len(keys) != len(values):
            raise RegistryError(422, 422, "every metadata key needs a value")
        sv = self.registry.with_metadata(request.match_info["subject"], dict(zip(keys, values, strict=True)),
                                         _flag(request, "deleted"))
        return _answer(sv.json())

    # ------------------------------------------------------------------ schemas by id

    async def list_schemas(self, request: web.Request) -> web.Response:
        found = self.registry.all_versions(request.query.get("subjectPrefix", ""), _flag(request, "deleted"),
                                           _flag(request, "latestOnly"))
        return _answer([sv.json() for sv in found])

    async def schema_types(self, request: web.Request) -> web.Response:
        return _answer(sorted(SCHEMA_TYPES))

    async def get_schema(self, request: web.Request) -> web.Response:
        sv = self.registry.schema(_schema_id(request), request.query.get("subject") or None)
        return _answer({**_type_and_schema(sv), "guid": sv.guid} if sv.guid else _type_and_schema(sv))

    async def get_schema_text(self, request: web.Request) -> web.Response:
        sv = self.registry.schema(_schema_id(request), request.query.get("subject") or None)
        return web.Response(text=sv.schema, content_type=CONTENT_TYPE)

    async def id_subjects(self, request: web.Request) -> web.Response:
        found = self.registry.id_versions(_schema_id(request), _flag(request, "deleted"))
        return _answer(sorted({sv.subject for sv in found}))

    async def id_versions(self, request: web.Request) -> web.Response:
        found = self.registry.id_versions(_schema_id(request), _flag(request, "deleted"))
        return _answer([{"subject": sv.subject, "version": sv.version} for sv in found])

    async def get_schema_by_guid(self, request: web.Request) -> web.Response:
        guid = request.match_info["guid"]
        for sv in self.registry.by_id.values():
            if sv.guid == guid:
                return _answer({**_type_and_schema(sv), "id": sv.id, "guid": sv.guid})
        raise RegistryError(404, 40403, f"Schema {guid} not found")

    # ------------------------------------------------------------------ config and mode

    async def get_global_config(self, request: web.Request) -> web.Response:
        return _answer(self.registry.config(None))

    async def put_global_config(self, request: web.Request) -> web.Response:
        return _answer(self.registry.set_config(None, await self._body(request)))

    async def delete_global_config(self, request: web.Request) -> web.Response:
        return _answer(self.registry.delete_config(None))

    async def get_config(self, request: web.Request) -> web.Response:
        return _answer(self.registry.config(request.match_info["subject"], _flag(request, "defaultToGlobal")))

    async def put_config(self, request: web.Request) -> web.Response:
        return _answer(self.registry.set_config(request.match_info["subject"], await self._body(request)))

    async def delete_config(self, request: web.Request) -> web.Response:
        return _answer(self.registry.delete_config(request.match_info["subject"]))

    async def get_global_mode(self, request: web.Request) -> web.Response:
        return _answer({"mode": self.registry.mode(None)})

    async def put_global_mode(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return _answer({"mode": self.registry.set_mode(None, body.get("mode"), _flag(request, "force"))})

    async def get_mode(self, request: web.Request) -> web.Response:
        return _answer({"mode": self.registry.mode(request.match_info["subject"], _flag(request, "defaultToGlobal"))})

    async def put_mode(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        mode = self.registry.set_mode(request.match_info["subject"], body.get("mode"), _flag(request, "force"))
        return _answer({"mode": mode})

    async def delete_mode(self, request: web.Request) -> web.Response:
        return _answer({"mode": self.registry.delete_mode(request.match_info["subject"])})

    # ------------------------------------------------------------------ compatibility

    async def _check(self, request: web.Request, version: str | None) -> web.Response:
        body = await self._body(request)
        subject = request.match_info["subject"]
        if version is not None and subject not in self.registry.subjects:
            raise RegistryError(404, 40401, f"Subject '{subject}' not found.")
        messages = self.registry.check(subject, version, body, _flag(request, "normalize"))
        answer: dict[str, Any] = {"is_compatible": not messages}
        if _flag(request, "verbose"):
            answer["messages"] = messages
        return _answer(answer)

    async def check_all(self, request: web.Request) -> web.Response:
        return await self._check(request, None)

    async def check_version(self, request: web.Request) -> web.Response:
        return await self._check(request, request.match_info["version"])

    async def contexts(self, request: web.Request) -> web.Response:
        return _answer([":.:"])


def _type_and_schema(sv: SchemaVersion) -> dict[str, Any]:
    """A version's schema as GET /schemas/ids/{id} answers it: its type (unless AVRO), references, metadata,
    rules and text, without subject, version, id and guid."""
    return {k: v for k, v in sv.json().items() if k not in ("subject", "version", "id", "guid")}
