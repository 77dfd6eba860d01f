"""The ``kafkasim`` command group and what its command modules share: log levels, and how keys, values and
timestamps are shown."""

from __future__ import annotations

import click

LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


@click.group()
@click.version_option(package_name="kafkasim")
def main() -> None:
    """kafkasim: a Kafka-protocol broker for tests and local development."""


def _show(data: bytes | None) -> str:
    """A key, value or header value for reading: text when it is UTF-8, else hex."""
    if data is None:
        return "null"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + data.hex()
    return repr(text) if text.isprintable() else "0x" + data.hex()


def _ms(ts: int) -> str:
    import datetime

    if ts < 0:
        return "-"
    try:
        return datetime.datetime.fromtimestamp(ts / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    except (OverflowError, OSError, ValueError):
        return str(ts)
