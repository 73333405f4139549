"""The ``idwise-events`` command: demo, listen, send, validate, schema and purge.

Installed with the ``cli`` extra (``pip install "idwise-events[cli]"``) as the ``idwise-events``
script; ``python -m idwise_events.cli`` runs the same. `main` is the script's entry point.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_EXTRA = ("click", "rich")


def main(args: Sequence[str] | None = None) -> None:
    """Run the command with ``args`` (``sys.argv[1:]`` by default) and exit with its status.

    Exit status: 0 on success; 1 when the work ran and found a problem (an invalid payload, a
    delivery not answered 200) or could not be done (an unreachable URL, a port in use, an
    unreadable file, a database that cannot be opened); 2 for a bad command line. Every error is
    one line on stderr.
    """
    try:
        from ._app import run
    except ImportError as exc:  # the cli extra is not installed: say so, without a traceback
        if (exc.name or "").split(".")[0] not in _EXTRA:
            raise
        sys.stderr.write('idwise-events: needs the cli extra: pip install "idwise-events[cli]"\n')
        sys.exit(1)
    sys.exit(run(list(sys.argv[1:] if args is None else args)))
