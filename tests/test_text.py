"""The text helpers that make values safe to log and to store: escaped, cut short, ASCII."""

from __future__ import annotations

import pytest

from idwise_events._text import ascii_printable, driver_reason


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("plain", 10, "plain"),
        ("caf\u00e9", 10, "caf\\xe9"),
        ("\u20ac" * 3, 18, "\\u20ac" * 3),  # exactly the limit: kept whole
        ("ab\u20ac\u20ac", 12, "ab\\u20ac..."),  # the second escape would pass the limit
        ("abcdefg\u20ac", 12, "abcdefg..."),  # no half of "\u20ac"
        ("\U0001f600x", 10, "..."),  # an escape longer than the room left
        ("\u2028x" * 30, 20, "\\u2028x\\u2028x..."),  # a non-printable one, escaped once
        ("ab\x00cd" * 20, 12, "ab\\x00cda..."),
        ("a" * 30, 10, "aaaaaaa..."),  # plain ASCII cut short too, with "..." not "\u2026"
    ],
)
def test_ascii_printable_never_cuts_an_escape_in_half(text: str, limit: int, expected: str) -> None:
    shown = ascii_printable(text, limit)

    assert shown == expected
    assert shown.isascii()
    assert len(shown) <= limit


def test_a_password_is_masked_where_it_stands_alone_never_inside_other_words() -> None:
    """A short password masked inside words would show itself by the gaps it leaves."""
    error = RuntimeError("OperationalError: password=p for user 'app' (p) refused: p")

    assert driver_reason(error, ["p"]) == (
        "RuntimeError: OperationalError: password=*** for user 'app' (***) refused: ***"
    )
    assert driver_reason(error, ["S3cret"]) == f"RuntimeError: {error}"
