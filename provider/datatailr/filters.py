"""Building `filter` expressions for `ls` commands safely (contract §1.4).

The DSL is `field op value [and|or ...]` with space-separated tokens; string values may be
quoted with `'` or `"` and have no escape character. Splicing a raw name into a filter breaks
on a space or a quote (`name = x y` is a syntax error, `name = O'Neil` worse), so every value
goes through `quote()`: single quotes, double quotes when the value holds a `'`, and a
`ValueError` when it holds both (not expressible; filter client-side instead).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
OPERATORS = frozenset({"=", "==", "!=", "<", "<=", ">", ">=", "starts_with", "ends_with", "contains"})


def quote(value: Any) -> str:
    """One DSL literal. Numbers bare, booleans `true`/`false`, strings quoted, lists `[a, b]`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if "'" not in value:
            return f"'{value}'"
        if '"' not in value:
            return f'"{value}"'
        raise ValueError(f"{value!r} contains both quote characters and cannot be expressed in a filter")
    if isinstance(value, Sequence):
        return "[" + ", ".join(quote(v) for v in value) + "]"
    if value is None:
        raise ValueError("None has no filter literal; use is_null(field)")
    raise TypeError(f"cannot put a {type(value).__name__} in a filter")


def _field(name: str) -> str:
    if not _FIELD.fullmatch(name):
        raise ValueError(f"invalid filter field {name!r}")
    return name


def compare(field: str, op: str, value: Any) -> str:
    if op not in OPERATORS:
        raise ValueError(f"unknown filter operator {op!r}")
    return f"{_field(field)} {op} {quote(value)}"


def eq(field: str, value: Any) -> str:
    """`field = value`; a list value means membership (`user_id = [1001, 1002]`)."""
    return compare(field, "=", list(value) if isinstance(value, (set, frozenset, tuple)) else value)


def is_null(field: str) -> str:
    return f"{_field(field)} is_null"


def all_of(*clauses: str | None) -> str | None:
    """Conjunction of clauses, each parenthesised so that an `or` inside one stays inside."""
    parts = [c for c in clauses if c]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" for p in parts)


def where(fields: Mapping[str, Any] | None) -> str | None:
    """`{"name": "x y", "environment": "dev"}` → `(name = 'x y') and (environment = 'dev')`."""
    if not fields:
        return None
    return all_of(*(eq(k, v) for k, v in fields.items()))


def combine(filter: str | None, fields: Mapping[str, Any] | None) -> str | None:
    """A caller's raw filter and/or equality conditions, as one expression."""
    return all_of(filter, where(fields))


def names_in(field: str, values: Iterable[Any]) -> str:
    return eq(field, list(values))
