r"""Sender-chosen text made safe to print: control characters escaped, length capped.

An event name or ``eventId`` comes from whoever sends the request. Written raw into a log line or
a terminal, a ``\n`` forges a second line and an escape sequence rewrites the screen; a 200 KB id
makes a 200 KB line on every delivery.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__: list[str] = []

MAX_PRINTED = 120
"""The longest sender-chosen value a log message or terminal line shows (the rest is cut)."""


def error_line(exc: BaseException) -> str:
    """``Type: the first line of its message`` (not escaped): an exception told in one line."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else repr(exc)


def driver_reason(exc: BaseException, secrets: Iterable[object], limit: int = 300) -> str:
    """`error_line` of a driver's error, made fit for a log line (`printable`).

    Each of ``secrets`` that is a non-empty string (the connection's passwords, which a driver
    may quote) is written ``***`` where it stands as a word of its own: masked inside other
    words, a short one would be told by the gaps it leaves (``O***erationalError``).
    """
    import re  # loaded already, by pydantic among others

    reason = error_line(exc)
    for secret in secrets:
        if isinstance(secret, str) and secret:
            whole = rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])"
            reason = re.sub(whole, "***", reason)
    return printable(reason, limit)


def ascii_printable(text: str, limit: int) -> str:
    r"""``text`` with every character but printable ASCII escaped (``\x00``, ``\u20ac``).

    What a database holds whatever its encoding: one in LATIN1 refuses ``€`` or Arabic letters.
    Cut short at ``limit`` characters with ``...``, between escapes, never inside one.
    """
    if len(text) <= limit and text.isascii() and text.isprintable():
        return text
    kept: list[str] = []
    size = 0
    for char in text:
        if not char.isprintable():
            piece = repr(char)[1:-1]  # \n, \x00, \u2028: ASCII
        elif char.isascii():
            piece = char
        else:
            piece = char.encode("ascii", "backslashreplace").decode("ascii")
        kept.append(piece)
        size += len(piece)
        if size > limit:
            break
    else:
        return "".join(kept)
    while size > limit - 3:  # room for the "..."
        size -= len(kept.pop())
    return "".join(kept) + "..."


def escaped(text: str) -> str:
    r"""``text`` with each non-printable character (newline, escape...) written as ``\x..``."""
    if text.isprintable():  # the usual case, checked in C
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def printable(text: str, limit: int = MAX_PRINTED) -> str:
    """`escaped` ``text``, at most ``limit`` characters long (cut short with an ellipsis)."""
    if len(text) <= limit and text.isprintable():
        return text
    text = escaped(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
