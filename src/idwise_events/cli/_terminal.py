"""Text that others chose (an eventId, an event name, a header), made safe to print on a terminal.

A sender picks the event name, the ids and every field value; a receiver picks its answer. Printed
as they are, a newline forges a second line, ``ESC [`` drives the terminal, a bidirectional
override reorders what is read, and a 200 KB eventId is a 200 KB line. So every such value goes
through `printable` before it is shown: what Python's ``repr`` would escape is escaped the same
way, and the length is capped.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._text import escaped

VALUE_LIMIT = 200
"""Characters shown of one value (an id, a name, a field's value) before it is cut."""
MESSAGE_LIMIT = 1000
"""Characters shown of one message that quotes others' text (an error, a log line)."""
LIST_LIMIT = 20
"""Items shown of a list of names (unknown fields) before ``and N more``."""


def printable(value: object, *, limit: int | None = VALUE_LIMIT) -> str:
    r"""``value`` as text with nothing a terminal would act on, and at most ``limit`` characters.

    Each character that is not printable (controls such as newline and ESC, format characters
    such as bidirectional overrides, line and paragraph separators, lone surrogates) becomes its
    escape (``\n``, ``\x1b``, ``\u202e``), as in ``repr``. Text longer than ``limit`` is cut
    there and says how long it was. ``limit=None``: escape only.
    """
    text = value if isinstance(value, str) else str(value)
    shown = escaped(text)
    if limit is None or len(shown) <= limit:
        return shown
    return shown[:limit] + _cut(text)


def _cut(text: str) -> str:
    return f"… ({len(text)} characters)"


def printable_list(values: Iterable[object], *, limit: int = LIST_LIMIT) -> str:
    """The values, each `printable`, joined by commas; past ``limit`` of them, ``and N more``."""
    items = list(values)
    shown = ", ".join(printable(value) for value in items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown
