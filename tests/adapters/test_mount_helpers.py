"""The mount helpers' shape: the dispatcher first and positional, every option keyword-only."""

from __future__ import annotations

import importlib
import inspect

import pytest

HELPERS = [
    ("flask", "blueprint"),
    ("django", "view"),
    ("django", "async_view"),
    ("starlette", "route"),
    ("fastapi", "router"),
    ("aiohttp", "route"),
    ("aws_lambda", "lambda_handler"),
    ("wsgi", "app"),
    ("asgi", "app"),
]


@pytest.mark.parametrize(("module", "name"), HELPERS)
def test_options_are_keyword_only(module: str, name: str) -> None:
    """``helper(dispatcher, path=...)``: a path or name passed positionally is a TypeError."""
    helper = getattr(importlib.import_module(f"idwise_events.adapters.{module}"), name)
    first, *options = inspect.signature(helper).parameters.values()

    assert first.name == "dispatcher"
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(
        option.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD)
        for option in options
    )
