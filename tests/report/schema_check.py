"""Validation against docs/schemas with whatever validator the venv has.

`jsonschema_rs` comes with schemathesis (a test extra) and `jsonschema` is common; when neither
is installed, `minimal_errors` checks the subset of draft 2020-12 the platforge schemas use, so
the contract is still enforced. The tests run the minimal checker too, next to a real validator
when there is one, so that it cannot silently rot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"

Validate = Callable[[dict[str, Any], Any], list[str]]


def load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


def backends() -> dict[str, Validate]:
    found: dict[str, Validate] = {"minimal": minimal_errors}
    try:
        import jsonschema_rs
    except ImportError:
        pass
    else:
        found["jsonschema_rs"] = lambda schema, doc: [
            str(e) for e in jsonschema_rs.Draft202012Validator(schema).iter_errors(doc)]
    try:
        import jsonschema
    except ImportError:
        pass
    else:
        found["jsonschema"] = lambda schema, doc: [
            e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
    return found


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}
_SUPPORTED = {"$schema", "$id", "$defs", "$ref", "title", "description", "format", "type", "const", "enum",
              "required", "properties", "additionalProperties", "items", "minimum", "pattern", "minItems", "maxItems",
              "if", "then", "else", "allOf"}


def minimal_errors(root: dict[str, Any], doc: Any) -> list[str]:
    errors: list[str] = []
    _check(root, root, doc, "$", errors)
    return errors


def _check(root: dict[str, Any], schema: dict[str, Any], value: Any, where: str, errors: list[str]) -> None:
    unknown = set(schema) - _SUPPORTED
    if unknown:
        raise NotImplementedError(f"minimal checker does not support {sorted(unknown)}")
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        _check(root, target, value, where, errors)
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_TYPES[t](value) for t in names):
            errors.append(f"{where}: expected {types}, got {type(value).__name__}")
            return
    if "const" in schema and not _equal(value, schema["const"]):
        errors.append(f"{where}: expected {schema['const']!r}")
    if "enum" in schema and not any(_equal(value, option) for option in schema["enum"]):
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                errors.append(f"{where}: missing {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _check(root, sub, value[key], f"{where}.{key}", errors)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in set(value) - set(schema.get("properties", {})):
                _check(root, extra, value[key], f"{where}.{key}", errors)
    if isinstance(value, list):
        if "items" in schema:
            for i, item in enumerate(value):
                _check(root, schema["items"], item, f"{where}[{i}]", errors)
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{where}: {len(value)} items out of bounds")
    if "minimum" in schema and _TYPES["number"](value) and value < schema["minimum"]:
        errors.append(f"{where}: below {schema['minimum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{where}: does not match {schema['pattern']}")
    for sub in schema.get("allOf", ()):
        _check(root, sub, value, where, errors)
    if "if" in schema:
        branch = "then" if not minimal_errors_at(root, schema["if"], value) else "else"
        if branch in schema:
            _check(root, schema[branch], value, where, errors)


def minimal_errors_at(root: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    errors: list[str] = []
    _check(root, schema, value, "$", errors)
    return errors


def _equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b
