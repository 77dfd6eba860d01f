"""ApiVersions (key 18), versions 0-4.

Behaviour: lists every API key registered with @handler and the version range served (capped to one Kafka
release's with --kafka-version). v3+ validates
client_software_name/version (INVALID_REQUEST when malformed). A request at a version we do not serve is
answered by the server at v0 with UNSUPPORTED_VERSION and the full list (KIP-511), see server/.
Version notes: v1 adds throttle_time_ms; v3 flexible, adds supported/finalized features (empty here).
"""

from __future__ import annotations

import re

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.api_versions import (
    ApiVersionsRequest,
    ApiVersionsResponse,
    ApiVersionsResponseApiVersion,
)

_SOFTWARE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$")


def api_versions_response(versions: dict[int, tuple[int, int, int]], error: int = 0) -> ApiVersionsResponse:
    """The advertised range of every API the broker serves (``versions``: key -> (advertised min, served min,
    max), capped by --kafka-version)."""
    keys = [ApiVersionsResponseApiVersion(api_key=k, min_version=lo, max_version=hi)
            for k, (lo, _, hi) in sorted(versions.items())]
    return ApiVersionsResponse(error_code=error, api_keys=keys)


@handler(ApiKey.API_VERSIONS, (0, 4))
def api_versions(ctx, req: ApiVersionsRequest) -> ApiVersionsResponse:
    if ctx.api_version >= 3 and not (_SOFTWARE.match(req.client_software_name or "")
                                     and _SOFTWARE.match(req.client_software_version or "")):
        return ApiVersionsResponse(error_code=ErrorCode.INVALID_REQUEST)
    return api_versions_response(ctx.versions)
