"""How keys and fingerprints are stored, the same way by every database-backed store.

Any text is a valid key or fingerprint, but not every database can hold every text: PostgreSQL
refuses NUL, drivers refuse lone surrogates (not UTF-8), a database in another encoding than UTF-8
refuses what it cannot represent, and columns have a length. Values that are not plain ASCII that
fits are therefore stored as their SHA-256 digest. It needs no database library, so that
`SqlStore` and the Django store share it.
"""

from __future__ import annotations

import hashlib

__all__ = ["FINGERPRINT_LENGTH", "MAX_KEY_LENGTH", "stored_fingerprint", "stored_key"]

MAX_KEY_LENGTH = 255
"""The length of the key column."""
FINGERPRINT_LENGTH = 64
"""The length of the fingerprint column: a SHA-256 in hex."""


def stored_key(key: str) -> str:
    """The key as stored: as it is, or ``"sha256:"`` and its digest if a database might refuse it.

    IDWise's ids (about 36 ASCII characters) are stored as they are.
    """
    if _fits(key, MAX_KEY_LENGTH):
        return key
    return "sha256:" + _digest(key)


def stored_fingerprint(fingerprint: str) -> str:
    """The fingerprint as stored: as it is, or its hex digest (64 characters), as for keys."""
    return fingerprint if _fits(fingerprint, FINGERPRINT_LENGTH) else _digest(fingerprint)


def _fits(text: str, length: int) -> bool:
    return len(text) <= length and text.isascii() and "\x00" not in text


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
