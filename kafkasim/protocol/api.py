"""API keys and codec lookup by (key, version); the request/response header codecs."""

from __future__ import annotations

import importlib
from enum import IntEnum
from functools import cache
from types import ModuleType

from kafkasim.protocol.messages import MODULES


class ApiKey(IntEnum):
    PRODUCE = 0
    FETCH = 1
    LIST_OFFSETS = 2
    METADATA = 3
    OFFSET_COMMIT = 8
    OFFSET_FETCH = 9
    FIND_COORDINATOR = 10
    JOIN_GROUP = 11
    HEARTBEAT = 12
    LEAVE_GROUP = 13
    SYNC_GROUP = 14
    DESCRIBE_GROUPS = 15
    LIST_GROUPS = 16
    SASL_HANDSHAKE = 17
    API_VERSIONS = 18
    CREATE_TOPICS = 19
    DELETE_TOPICS = 20
    DELETE_RECORDS = 21
    INIT_PRODUCER_ID = 22
    OFFSET_FOR_LEADER_EPOCH = 23
    ADD_PARTITIONS_TO_TXN = 24
    ADD_OFFSETS_TO_TXN = 25
    END_TXN = 26
    WRITE_TXN_MARKERS = 27
    TXN_OFFSET_COMMIT = 28
    DESCRIBE_ACLS = 29
    CREATE_ACLS = 30
    DELETE_ACLS = 31
    DESCRIBE_CONFIGS = 32
    ALTER_CONFIGS = 33
    ALTER_REPLICA_LOG_DIRS = 34
    DESCRIBE_LOG_DIRS = 35
    SASL_AUTHENTICATE = 36
    CREATE_PARTITIONS = 37
    DELETE_GROUPS = 42
    ELECT_LEADERS = 43
    INCREMENTAL_ALTER_CONFIGS = 44
    ALTER_PARTITION_REASSIGNMENTS = 45
    LIST_PARTITION_REASSIGNMENTS = 46
    OFFSET_DELETE = 47
    DESCRIBE_CLIENT_QUOTAS = 48
    ALTER_CLIENT_QUOTAS = 49
    DESCRIBE_USER_SCRAM_CREDENTIALS = 50
    ALTER_USER_SCRAM_CREDENTIALS = 51
    DESCRIBE_CLUSTER = 60
    DESCRIBE_PRODUCERS = 61
    DESCRIBE_TRANSACTIONS = 65
    LIST_TRANSACTIONS = 66
    CONSUMER_GROUP_HEARTBEAT = 68
    CONSUMER_GROUP_DESCRIBE = 69
    DESCRIBE_TOPIC_PARTITIONS = 75


def api_name(key: int) -> str:
    entry = MODULES.get(key)
    return entry[0] if entry else f"Unknown({key})"


@cache
def module(key: int) -> ModuleType:
    """The generated codec module for an API key (imported on first use)."""
    _name, mod = MODULES[key]
    return importlib.import_module(f"kafkasim.protocol.messages.{mod}")


def request_is_flexible(key: int, version: int) -> bool:
    m = module(key)
    return m.REQUEST_FLEXIBLE_MIN is not None and version >= m.REQUEST_FLEXIBLE_MIN


def response_is_flexible(key: int, version: int) -> bool:
    m = module(key)
    return m.RESPONSE_FLEXIBLE_MIN is not None and version >= m.RESPONSE_FLEXIBLE_MIN


def response_header_version(key: int, version: int) -> int:
    # ApiVersions responses always use header v0, so a client can read them at any version
    if key == ApiKey.API_VERSIONS:
        return 0
    return 1 if response_is_flexible(key, version) else 0


def request_header_version(key: int, version: int) -> int:
    return 2 if request_is_flexible(key, version) else 1


def decode_request(key: int, version: int, buf, pos: int):
    """Decode a request body; returns (message, end position)."""
    return module(key).DECODE_REQUEST[version](buf, pos)


def encode_response(key: int, version: int, msg) -> list:
    """Encode a response body to a list of buffers (large record payloads are not copied)."""
    parts: list = []
    out = module(key).ENCODE_RESPONSE[version](bytearray(), parts, msg)
    parts.append(out)
    return parts


def encode_request(key: int, version: int, msg) -> bytes:
    parts: list = []
    out = module(key).ENCODE_REQUEST[version](bytearray(), parts, msg)
    parts.append(out)
    return b"".join(parts)


def decode_response(key: int, version: int, buf, pos: int = 0):
    return module(key).DECODE_RESPONSE[version](buf, pos)
