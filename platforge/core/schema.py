"""Declared schemas in plain words: strict scalar types, and one message per mistake that says
what was expected and what was found.

Stacks are typed by people, so nothing is coerced: `system = "yes"` or `parallelism = "4"`
would otherwise become `true` and `4` and destroy or reshape something silently. Lists stay
lists in TOML while the kinds compare them as sets, so strictness is applied per scalar (the
types below), not model-wide.

A field may say in words what it expects, `Field(json_schema_extra=expects("a list of group
names"))`; otherwise the words come from its type.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Strict, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic.config import JsonDict

__all__ = [
    "Expect", "StrictBool", "StrictFloat", "StrictInt", "StrictStr", "Name", "describe_found", "expects", "explain",
]

#: A string that is never coerced from a number or a boolean.
Name = Annotated[str, Strict()]


class Expect(str):
    """`Annotated` metadata naming what a type expects, for types used inside lists
    (`set[Annotated[str, ..., Expect("a user name")]]`)."""


def expects(words: str) -> JsonDict:
    """`json_schema_extra` saying what a field expects, in the words an error message uses."""
    return {"expected": words}


def _words_of(annotation: Any) -> str:
    """The `Expect` words an annotation carries, through Optional and nested Annotated."""
    return next((str(m) for m in _layers(annotation) if isinstance(m, Expect)), "")


def explain(model: type[BaseModel], err: Mapping[str, Any], sensitive: frozenset[str] = frozenset()) -> str:
    """One plain sentence for one pydantic error of `model`. Values of `sensitive` fields (and
    anything under them) are never echoed."""
    loc = [p for p in err.get("loc", ())]
    kind = err.get("type", "")
    hide = bool(loc) and str(loc[0]) in sensitive
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        name = str(loc[-1]) if loc else "?"
        known = sorted(owner.model_fields) if owner is not None else []
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = f" (known fields: {', '.join(known)})" if known and not close else ""
        return f"unknown field {name!r}{hint}{listing}"
    expected = _expected_at(model, loc)
    if kind == "missing":
        return f"required field missing: expected {expected}" if expected else "required field missing"
    found = describe_found(err.get("input"), hide)
    if kind in ("value_error", "assertion_error"):
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"{message}; found {found}"
    if expected:
        return f"expected {expected}; found {found}"
    return f"{err.get('msg', 'invalid value')}; found {found}"


def describe_found(value: Any, hide: bool = False) -> str:
    """A value as a reader would name it: `the string 'bi'`, `the integer 4`, `a list`."""
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if hide and isinstance(value, (str, int, float, bytes)):
        return f"{_SCALAR_NAMES.get(type(value), 'a value')} (not shown: this field is secret)"
    if isinstance(value, str):
        shown = value if len(value) <= 80 else value[:77] + "..."
        return f"the string {shown!r}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, Mapping):
        keys = ", ".join(str(k) for k in list(value)[:6])
        return f"a table with {keys}" if keys else "an empty table"
    if isinstance(value, (list, tuple, set, frozenset)):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, (_dt.date, _dt.time)):
        return f"the date/time {value.isoformat()}"
    if value is None:
        return "nothing"
    return _article(type(value).__name__)


_SCALAR_NAMES = {str: "a string", int: "an integer", float: "a number", bytes: "bytes"}


def _article(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


# ---- walking a model to the field an error is about ------------------------------------------


def _layers(annotation: Any) -> list[Any]:
    """An annotation peeled through Optional and Annotated: each `Annotated` metadata item met on
    the way, then what a given value must be, last."""
    found: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation, *metadata = typing.get_args(annotation)
            found += metadata
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return [*found, annotation]


def _unwrap(annotation: Any) -> Any:
    """Drop Optional and Annotated: what a value must be when it is given."""
    return _layers(annotation)[-1]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _step(current: Any, part: Any) -> tuple[Any, str] | None:
    """One step down an error location: into a model's field, a list's item or a table's value.
    Returns the annotation there and the field's own words for it, or None when `part` is not a
    step (a union member's tag, a validator's name)."""
    origin = typing.get_origin(current)
    args = typing.get_args(current)
    if isinstance(part, int) and origin in (list, set, frozenset, tuple) and args:
        return _unwrap(args[0]), _words_of(args[0])
    if _is_model(current) and isinstance(part, str):
        info = current.model_fields.get(part)
        if info is None:
            return None
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        words = str(extra.get("expected", "")) or _words_of(info.annotation)
        for meta in info.metadata:  # pydantic moves a field's Annotated metadata here
            if isinstance(meta, Expect) and not words:
                words = str(meta)
        return _unwrap(info.annotation), words
    if origin is dict and len(args) == 2:
        return _unwrap(args[1]), _words_of(args[1])
    return None


def _model_at(model: type[BaseModel], loc: list[Any]) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        stepped = _step(current, part)
        if stepped is None:
            return None
        current = stepped[0]
    return current if _is_model(current) else None


def _expected_at(model: type[BaseModel], loc: list[Any]) -> str:
    """The words for what the field at `loc` expects (an item of a list when loc ends in an index)."""
    current: Any = model
    words = ""
    for part in loc:
        stepped = _step(current, part)
        if stepped is None:
            break
        current, words = stepped
    return words or describe_type(current)


def describe_type(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (list, set, frozenset, tuple):
        args = typing.get_args(annotation)
        item = (_words_of(args[0]) or describe_type(args[0])) if args else "values"
        return f"a list of {_plural(item)}"
    if origin is dict:
        return "a table"
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(annotation) if a is not type(None))
    if _is_model(annotation):
        doc_words = getattr(annotation, "__expected__", None)
        return str(doc_words) if doc_words else "a table"
    names = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}
    if annotation in names:
        return names[annotation]
    name = getattr(annotation, "__name__", "")
    if name == "EmailStr":
        return "an email address"
    return "a valid value"


def _plural(item: str) -> str:
    for article in ("a ", "an "):
        if item.startswith(article):
            item = item[len(article):]
            break
    if item.startswith("one of "):
        return "values, each " + item
    if item.endswith("s"):
        return item
    return item + "s"
