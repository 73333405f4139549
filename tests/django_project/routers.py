"""A database router that sends every model to the ``postgresql`` database (tests opt in)."""

from __future__ import annotations

from typing import Any


class PostgresqlRouter:
    """Every read and write on ``postgresql``, as a project whose events live there would route."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        return "postgresql"

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return "postgresql"
