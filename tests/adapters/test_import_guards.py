"""Importing an adapter without its framework says which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("adapter", "framework", "extra"),
    [
        ("flask", "flask", "flask"),
        ("django", "django", "django"),
        ("starlette", "starlette", "starlette"),
        ("fastapi", "fastapi", "fastapi"),
        ("aiohttp", "aiohttp", "aiohttp"),
    ],
)
def test_a_missing_framework_gives_an_import_error_naming_the_extra(
    adapter: str, framework: str, extra: str
) -> None:
    """The ImportError's message is the pip command to run."""
    code = (
        f"import sys; sys.modules[{framework!r}] = None\n"
        "try:\n"
        f"    import idwise_events.adapters.{adapter}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    printed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert f'pip install "idwise-events[{extra}]"' in printed


@pytest.mark.parametrize("adapter", ["aws_lambda", "wsgi", "asgi"])
def test_standard_library_adapters_import_no_framework(adapter: str) -> None:
    """Lambda, WSGI and ASGI need nothing beyond the standard library and pydantic."""
    code = (
        f"import sys, idwise_events.adapters.{adapter}\n"
        "print(sorted({name.split('.')[0] for name in sys.modules}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    for framework in ["flask", "django", "starlette", "fastapi", "aiohttp", "werkzeug"]:
        assert f"'{framework}'" not in loaded
