"""What each broker counts for metrics: requests per API, error codes per API, bytes in and out, connections.

Plain integers in dicts, touched only on the broker's event loop, so counting costs a dict update per
request. Error codes are counted the way Kafka's ``ErrorsPerSec`` metric counts them (every error code in a
response, partition-level ones included, NONE too), which means walking the response: that is done only
while ``count_errors`` is on (the control API turns it on when it serves /metrics), so the hot path pays
nothing for it otherwise.
"""

from __future__ import annotations

from kafkasim.protocol.primitives import Message

_PLANS: dict[type, tuple[bool, tuple[str, ...]]] = {}


def _plan(cls: type) -> tuple[bool, tuple[str, ...]]:
    """(has an error_code field, the fields that hold lists of messages) of a response class."""
    plan = _PLANS.get(cls)
    if plan is None:
        blank = cls()
        slots = getattr(cls, "__slots__", ())
        lists = tuple(s for s in slots if s != "error_code" and isinstance(getattr(blank, s, None), list))
        plan = _PLANS[cls] = ("error_code" in slots, lists)
    return plan


def count_error_codes(msg: Message, into: dict[int, int]) -> None:
    """Add every ``error_code`` in ``msg`` and the lists of messages below it to ``into`` (code -> count)."""
    has_error, lists = _plan(type(msg))
    if has_error:
        code = msg.error_code  # type: ignore[attr-defined]
        into[code] = into.get(code, 0) + 1
    for name in lists:
        items = getattr(msg, name)
        if items and isinstance(items[0], Message):
            for item in items:
                count_error_codes(item, into)


class BrokerStats:
    """Counters of one broker (they survive its restarts)."""

    __slots__ = ("requests", "errors", "bytes_in", "bytes_out", "connections_accepted", "count_errors",
                 "authentications", "reauthentications", "failed_authentications")

    def __init__(self) -> None:
        self.requests: dict[int, int] = {}  # api key -> requests
        self.errors: dict[int, dict[int, int]] = {}  # api key -> error code -> occurrences in responses
        self.bytes_in = 0
        self.bytes_out = 0
        self.connections_accepted = 0
        self.count_errors = False
        self.authentications = 0  # successful SASL authentications (re-authentications included)
        self.reauthentications = 0
        self.failed_authentications = 0

    def response(self, key: int, resp: object) -> None:
        """Count the error codes of an answer (with ``count_errors``)."""
        if isinstance(resp, Message):
            count_error_codes(resp, self.errors.setdefault(key, {}))
