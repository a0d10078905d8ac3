"""Request field types every sandbox needs because its data lives in SQLite.

JSON bodies may carry lone surrogates (`"\\ud800"`), which Python's `json` accepts but SQLite
cannot encode, and NUL characters, which end C strings; an unchecked string would become a 500
at the first INSERT instead of a 400 in the platform's envelope.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

__all__ = ["Text", "storable"]


def storable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid UTF-8 text (no lone surrogates)") from exc
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(storable)]
"""Any storable text: valid UTF-8, no NUL."""
