"""``python -m kafkasim`` is the ``kafkasim`` command."""

from kafkasim.cli import main

main()
