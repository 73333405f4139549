"""``python -m idwise_events.cli``: the ``idwise-events`` command."""

from . import main

main()
