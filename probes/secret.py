"""A value that must never be printed or logged."""

from __future__ import annotations


class Secret:
    """Wraps a password, community or key. ``str()``/``repr()`` print ``<secret>``.

    Use :meth:`reveal` at the single place the value is handed to a protocol library.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)
