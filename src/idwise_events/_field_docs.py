"""The models' field docstrings, read once per module, for the JSON Schema and IDEs.

pydantic's ``use_attribute_docstrings`` reads them too, but parses the source again for every
class (tens of milliseconds at import, which AWS Lambda users pay on every cold start). Here each
module's source is parsed once, and each field's docstring becomes its ``description``.
"""

from __future__ import annotations

import ast
import inspect
import sys
from functools import cache
from typing import Any

__all__: list[str] = []


def document_fields(model: Any) -> None:
    """Give each field of ``model`` its attribute docstring as description, unless it has one.

    Call it before the model's schema is built (the models defer building to their first use).
    """
    docs = _docstrings(model.__module__).get(model.__qualname__, {})
    for name, field in model.__pydantic_fields__.items():
        if field.description is None and name in docs:
            field.description = docs[name]


@cache
def _docstrings(module_name: str) -> dict[str, dict[str, str]]:
    """Class qualified name -> field name -> the string literal that follows its annotation."""
    module = sys.modules.get(module_name)
    try:
        source = inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):  # no source (a frozen or zipped build): no descriptions
        return {}
    found: dict[str, dict[str, str]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                qualname = f"{prefix}{node.name}"
                found[qualname] = _class_docstrings(node)
                visit(node.body, f"{qualname}.")

    visit(ast.parse(source).body, "")
    return found


def _class_docstrings(node: ast.ClassDef) -> dict[str, str]:
    docs = {}
    for statement, following in zip(node.body, node.body[1:], strict=False):  # neighbours
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs
