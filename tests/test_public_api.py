"""The public surface: exported names, their documentation, and what importing costs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import types
from enum import Enum
from pathlib import Path

import pytest

import idwise_events
import idwise_events.cli
import idwise_events.contrib.django
import idwise_events.contrib.django.admin
import idwise_events.contrib.django.apps
import idwise_events.contrib.django.models
import idwise_events.contrib.django.signals
import idwise_events.contrib.django.store
import idwise_events.contrib.django.urls
import idwise_events.contrib.django.views
import idwise_events.stores.sql
import idwise_events.testing
import idwise_events.testing.postgres
import idwise_events.testing.pytest_plugin
import idwise_events.testing.strategies

DOCS = Path(__file__).parent.parent / "docs"
PUBLIC_MODULES = [
    idwise_events,
    idwise_events.cli,
    idwise_events.contrib.django,
    idwise_events.contrib.django.admin,
    idwise_events.contrib.django.apps,
    idwise_events.contrib.django.models,
    idwise_events.contrib.django.signals,
    idwise_events.contrib.django.store,
    idwise_events.contrib.django.urls,
    idwise_events.contrib.django.views,
    idwise_events.stores.sql,
    idwise_events.testing,
    idwise_events.testing.postgres,
    idwise_events.testing.pytest_plugin,
    idwise_events.testing.strategies,
]


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda module: module.__name__)
def test_all_is_sorted_and_lists_exactly_the_public_names(module: types.ModuleType) -> None:
    """`__all__` is sorted as ruff sorts it and names every public attribute, and only those."""
    assert module.__all__ == sorted(module.__all__, key=isort_style)
    re_exported = {name for name in module.__all__ if from_private_module(module, name)}
    assert set(module.__all__) == public_names(module) | re_exported


def isort_style(name: str) -> tuple[int, str]:
    """Ruff's order for `__all__` (RUF022): CONSTANTS, then Classes, then functions."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def from_private_module(module: types.ModuleType, name: str) -> bool:
    """Whether ``module`` re-exports ``name`` from a private module of the package."""
    value = getattr(module, name)
    private = [
        other
        for module_name, other in list(sys.modules.items())
        if module_name.startswith("idwise_events.")
        and any(part.startswith("_") for part in module_name.split("."))
    ]
    if inspect.isclass(value) or inspect.isroutine(value):
        return value.__module__ in {other.__name__ for other in private}
    return any(getattr(other, name, None) is value for other in private)


def public_names(module: types.ModuleType) -> set[str]:
    """The package re-exports everything it shows; a submodule shows what it defines."""
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType) or name == "annotations":
            continue
        if module is idwise_events or defined_in(module, name, value):
            names.add(name)
    return names


def defined_in(module: types.ModuleType, name: str, value: object) -> bool:
    """Whether ``name`` was defined in ``module`` rather than imported into it."""
    if inspect.isclass(value) or inspect.isroutine(value):
        return getattr(value, "__module__", None) == module.__name__
    # A constant or an object (a dispatcher, a signal): imported if another module of the
    # package, typing or Django has it under that name.
    sources = [
        other
        for module_name, other in list(sys.modules.items())
        if module_name in ("typing", "django")
        or module_name.startswith(("idwise_events.", "django."))
    ]
    return not any(getattr(other, name, None) is value for other in sources if other is not module)


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda module: module.__name__)
def test_every_public_name_has_its_own_docstring(module: types.ModuleType) -> None:
    """Each exported class, function and constant is documented where it is defined."""
    assert inspect.getdoc(module)
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, type):
            assert value.__dict__.get("__doc__"), name
        elif callable(value):
            assert value.__doc__, name
    docs_text = "".join(path.read_text() for path in DOCS.glob("**/*.md"))
    for name in module.__all__:
        assert name in docs_text, f"{module.__name__}.{name} is not in the docs"


def test_enum_members_are_documented() -> None:
    """Every member of every public enum says what it means (except the list of names)."""
    enums = [v for v in vars(idwise_events).values() if isinstance(v, type) and issubclass(v, Enum)]
    assert len(enums) == 10
    for enum in enums:
        if enum is idwise_events.EventType:
            continue
        source = inspect.getsource(sys.modules[enum.__module__])
        for member in enum:
            assert f'{member.name} = "{member.value}"\n    """' in source, (
                f"{enum.__name__}.{member.name}"
            )


def test_importing_the_package_loads_no_framework_or_database_library() -> None:
    """`import idwise_events` costs pydantic and the standard library, nothing optional."""
    code = "import sys, idwise_events; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    roots = {name.split(".")[0] for name in loaded}
    forbidden = {
        "flask",
        "django",
        "starlette",
        "fastapi",
        "aiohttp",
        "werkzeug",
        "sqlalchemy",
        "psycopg",
        "psycopg2",
        "redis",
        "click",
        "rich",
        "typer",
        "hypothesis",
        "pytest",
        "boto3",
        "anyio",
    }
    assert roots & forbidden == set()
    assert "pydantic" in roots
    assert "idwise_events.testing" not in loaded


def test_version_is_exposed() -> None:
    """`__version__` matches the installed distribution's version."""
    from importlib.metadata import version

    assert idwise_events.__version__ == version("idwise-events")


def test_private_modules_export_only_what_the_package_re_exports() -> None:
    """The naming rule: a private module's __all__ lists public names; shared helpers stay out."""
    for info in pkgutil.iter_modules(idwise_events.__path__):
        if info.name.startswith("_"):
            module = importlib.import_module(f"idwise_events.{info.name}")
            assert set(module.__all__) <= set(idwise_events.__all__), info.name
