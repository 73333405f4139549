"""Read-only JSON containers: what an event holds beyond its typed fields, frozen like the rest.

Events are frozen so that one handler cannot change what the next one sees; the unknown fields
(``model_extra``) and an unknown event's body are JSON objects and arrays, which Python would
let anyone change. `freeze` turns them into a `FrozenDict` and `FrozenList`: subclasses of
``dict`` and ``list`` rather than views or tuples, so they still equal the same ``dict`` or
``list``, pass ``isinstance``, and serialise as before (pydantic, ``json``, pickle). Every
method that would change one raises ``TypeError``. A copy (``copy.copy``, ``copy.deepcopy``,
``dict(...)``, ``list(...)``, ``.copy()``) is an ordinary ``dict`` or ``list`` to change.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NoReturn

__all__: list[str] = []


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(
        f"{type(self).__name__} is read-only, like the event it belongs to (copy it to change it)"
    )


class FrozenDict(dict[str, Any]):
    """A JSON object that refuses every change; see the module docstring."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return type(self), (dict(self),)  # pickle would otherwise fill it item by item


class FrozenList(list[Any]):
    """A JSON array that refuses every change; see the module docstring."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = reverse = sort = clear = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(item, memo) for item in self]

    def __reduce__(self) -> tuple[type[FrozenList], tuple[list[Any]]]:
        return type(self), (list(self),)


def freeze(value: Any) -> Any:
    """``value`` with every mapping and list in it, at any depth, made read-only.

    Already frozen containers are returned as they are (they were frozen whole). Recursive: a
    parsed body nests no deeper than pydantic-core's JSON parser allows (about 200 levels).
    """
    if isinstance(value, (FrozenDict, FrozenList)):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return FrozenList([freeze(item) for item in value])
    if isinstance(value, tuple):  # built in Python: already read-only, its items maybe not
        return tuple(freeze(item) for item in value)
    return value
