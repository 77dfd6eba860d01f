"""The one error of the schema logic."""

from __future__ import annotations


class SchemaError(ValueError):
    """An invalid schema, or a payload that does not decode with its schema; the message says why (the
    registry answers it as Confluent's 42201 reason)."""
