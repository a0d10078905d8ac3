"""Request field types shared by the identity and data routes (users, groups, KV, blobs).

Two hazards drive these types. Text must be storable in SQLite (the kit's `Text`: valid UTF-8,
no NUL). And the SDK wraps positional arguments containing a space or a quote in literal double
quotes (contract §7.2.2); identifiers are unwrapped with the exact inverse of the SDK's
`add_quotes`, so that the SDK and a raw HTTP client name the same object.
"""

from __future__ import annotations

import re

from pydantic import Field

from ..._kit.sandbox.fields import Text
from .errors import BadRequest
from .wire import WireModel

__all__ = ["AclOptions", "Paging", "Text", "identifier", "principal_name", "unquote"]

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def unquote(value: str) -> str:
    """Undo the SDK's `add_quotes`: it wraps an argument in `"` exactly when it contains a
    space, `"` or `'`, so only such wrapped values are unwrapped."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        if " " in inner or '"' in inner or "'" in inner:
            return inner
    return value


def principal_name(value: str, what: str) -> str:
    """User and group names: no spaces, commas, colons or quotes, since they travel inside
    comma lists and `name:letters` ACL specs."""
    name = unquote(value).strip()
    if not _NAME.fullmatch(name):
        raise BadRequest(
            f"Invalid {what} {value!r}: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "not starting with '.', '@' or '-'"
        )
    return name


def identifier(value: str, what: str, max_length: int = 1024) -> str:
    """KV keys and similar free-form identifiers: non-empty, printable, bounded."""
    text = unquote(value)
    if not text.strip():
        raise BadRequest(f"{what} must not be empty")
    if len(text) > max_length:
        raise BadRequest(f"{what} is longer than {max_length} characters")
    if _CONTROL.search(text):
        raise BadRequest(f"{what} must not contain control characters")
    return text


class AclOptions(WireModel):
    """The CLI-form ACL options accepted by every command that sets or adds an ACL."""

    users: Text | None = None
    groups: Text | None = None
    others: Text | None = None

    def given(self) -> bool:
        return any(v not in (None, "", "None") for v in (self.users, self.groups, self.others))

    def others_letters(self) -> str | None:
        """`None` (leave "others" alone) unless the option was really sent."""
        return None if self.others in (None, "None") else self.others


class Paging(WireModel):
    """`ls` options (contract §1.4). Numbers arrive as strings; pydantic's lax mode parses them."""

    filter: Text | None = None
    sort: Text | None = None
    offset: int | None = Field(default=None, ge=0, le=2**62)
    batch_size: int | None = Field(default=None, alias="batch-size", le=2**62)
