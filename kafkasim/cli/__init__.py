"""The ``kafkasim`` command: click groups, one module per command group. A new group is a new module here and
one line below (its import registers its commands on ``main``)."""

from kafkasim.cli import admin, control, inspection, security, serve  # noqa: F401, E402 - registers the commands on main
from kafkasim.cli._base import main

__all__ = ["main"]
