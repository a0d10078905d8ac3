"""D10's pickles (contract §2.1, §5 #9), loaded without ever running code.

`tailer deploy` sends a TTT as two pickles: the configuration (a dict of dicts, lists, strings,
bytes, numbers and booleans) and the generated DAG (one long string). Pickle is a program, and
an arbitrary pickle can import and call anything. Here:

- `find_class` always raises, so no global (no class, no function, no `REDUCE` target, no
  extension code) can be named: only the built-in containers and scalars can be built;
- `persistent_load` raises (the default), and out-of-band buffers are refused;
- the pickle itself is capped in size before loading, and the loaded value is walked with a cap
  on its depth and its node count, since memo references can make a small pickle describe a
  huge (shared) structure;
- anything else a crafted pickle can do (`RecursionError`, `MemoryError`, a truncated stream)
  becomes a 400.
"""

from __future__ import annotations

import base64
import binascii
import io
import pickle
from typing import Any

from .errors import BadRequest

__all__ = ["MAX_DEPTH", "MAX_NODES", "MAX_PICKLE_BYTES", "jsonable", "load_b64"]

MAX_PICKLE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 200_000


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"global {module[:60]}.{name[:60]} is forbidden")


def load_b64(text: Any, what: str) -> Any:
    """The value of a base64 pickle, built from plain data only; a 400 naming `what` otherwise."""
    if not isinstance(text, str) or not text:
        raise BadRequest(f"{what} must be a base64 pickle")
    if len(text) > MAX_PICKLE_BYTES * 4 // 3 + 4:
        raise BadRequest(f"{what} is larger than {MAX_PICKLE_BYTES} bytes")
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise BadRequest(f"{what} must be a base64 pickle") from exc
    try:
        value = _NoGlobals(io.BytesIO(raw), fix_imports=False, encoding="bytes", errors="strict",
                           buffers=()).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            RecursionError, MemoryError, OverflowError, UnicodeDecodeError) as exc:
        raise BadRequest(f"{what} is not a pickle of plain data: {type(exc).__name__}") from exc
    _bounded(value, what)
    return value


def _bounded(value: Any, what: str) -> None:
    """Depth and node caps, iteratively (so a deep value cannot exhaust the stack here)."""
    nodes = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise BadRequest(f"{what} holds more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise BadRequest(f"{what} nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, depth + 1))
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((child, depth + 1) for child in item)
        elif not (item is None or isinstance(item, str | bytes | bytearray | bool | int | float)):
            raise BadRequest(f"{what} holds a {type(item).__name__}, which is not plain data")


def jsonable(value: Any) -> Any:
    """A bounded plain value (see `load_b64`) as JSON: bytes as base64 text, tuples and sets as
    lists, keys as strings, non-finite floats as null."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return str(value)
    return value


def _key(key: Any) -> str:
    if isinstance(key, bytes | bytearray):
        return bytes(key).decode("utf-8", "replace")
    return str(key)
