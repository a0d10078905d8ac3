"""Scalar parsers for job definitions and request fields.

Every failure is a BadRequest naming the field, never an exception of our own: a bad value of any
type gets the platform's 400 with a message, not a 500. Sizes use binary multipliers, and integers
are capped where SQLite's 64-bit columns would otherwise fail at the INSERT.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import zoneinfo
from typing import Any

from ..errors import BadRequest

MAX_INT = 2**62  # SQLite integers are 64-bit; larger numbers would fail at the INSERT
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def now_us() -> int:
    return time.time_ns() // 1000


def parse_size(value: Any, field: str) -> int:
    """`"256m"`, `"2G"`, `"1g"`, `"512Mi"` or a byte count -> bytes, binary multipliers."""
    if isinstance(value, bool):
        raise BadRequest(f"Invalid {field} {value!r}: expected a size such as '256m' or '2G'")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        number = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    else:
        raise BadRequest(f"Invalid {field} {value!r}: expected a size such as '256m' or '2G'")
    if not 0 < number <= MAX_INT:
        raise BadRequest(f"Invalid {field} {value!r}: must be greater than zero and at most 4 EiB")
    return number


def parse_cpus(value: Any, field: str) -> float | int:
    if isinstance(value, bool) or value is None:
        raise BadRequest(f"Invalid {field} {value!r}: expected a positive number of CPUs")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid {field} {value!r}: expected a positive number of CPUs") from None
    if not (0 < number <= 1024):
        raise BadRequest(f"Invalid {field} {value!r}: must be greater than 0 and at most 1024")
    return int(number) if number.is_integer() else number


def parse_int(value: Any, field: str, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"Invalid {field} {value!r}: expected an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        number = int(value)
    else:
        raise BadRequest(f"Invalid {field} {value!r}: expected an integer")
    if minimum is not None and number < minimum:
        raise BadRequest(f"Invalid {field} {value!r}: must be at least {minimum}")
    if abs(number) > MAX_INT:
        raise BadRequest(f"Invalid {field} {value!r}: too large")
    return number


def parse_version(value: Any) -> int | None:
    """An explicit version, or None for "the latest" (`-1`, the api.json default, means latest)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "latest")):
        return None
    number = parse_int(value, "version")
    if number == -1:
        return None
    if number < 1:
        raise BadRequest(f"Invalid version {value!r}: versions start at 1")
    return number


def parse_text(value: Any, field: str, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"Invalid {field}: expected a string, got {type(value).__name__}")
    if "\x00" in value or not _encodable(value):
        raise BadRequest(f"Invalid {field}: must be valid UTF-8 text without NUL characters")
    if not allow_empty and not value.strip():
        raise BadRequest(f"Invalid {field}: must not be empty")
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_entrypoint(value: Any, field: str) -> str:
    text = parse_text(value, field, allow_empty=False)
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise BadRequest(f"Invalid {field} {text!r}: expected 'module:function'")
    return text


def parse_env(value: Any, field: str) -> list | dict:
    """The list-of-single-key-dicts form the SDK sends, or a plain dict; kept as sent."""
    scalar = (str, int, float, bool)
    if value is None:
        return []
    if isinstance(value, dict):
        if not all(isinstance(k, str) and k and isinstance(v, scalar) for k, v in value.items()):
            raise BadRequest(f"Invalid {field}: expected string names with scalar values")
        return value
    if isinstance(value, list):
        for item in value:
            if not (isinstance(item, dict) and len(item) == 1):
                raise BadRequest(f"Invalid {field}: expected a list of single-key objects")
            ((k, v),) = item.items()
            if not (isinstance(k, str) and k and isinstance(v, scalar)):
                raise BadRequest(f"Invalid {field}: expected string names with scalar values")
        return value
    raise BadRequest(f"Invalid {field}: expected a list or an object")


def parse_duration(value: Any, field: str) -> int | None:
    if value is None:
        return None
    return parse_int(value, field, minimum=0)


def parse_timezone(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    name = parse_text(value, "timezone").strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"Unknown timezone {name!r}: expected an IANA name such as 'Europe/Berlin'") from None
    return name


def parse_run_date(value: str | None) -> str | None:
    if value is None or value.strip() in ("", "None"):
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise BadRequest(f"Invalid run-date {value!r}: expected YYYY-MM-DD") from None
