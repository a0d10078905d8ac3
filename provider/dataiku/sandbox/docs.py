"""Reading and checking settings documents, and routing them.

A settings PUT carries the whole document back (contract §2.6). The sandbox checks the fields it
knows (their types, the identity that must not change), takes the server-managed fields from
what it stored, and keeps everything else exactly as sent.

Routes are registered with and without their trailing slash, since the SDK's paths disagree
(`/admin/users/` but `/admin/general-settings`, contract §3.2 item 4): a client that adds or
drops one reaches the same handler instead of a redirect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter

from ..._kit.sandbox.listing import OffsetPaging, apply_listing
from .errors import BadRequest

__all__ = ["SEALED_PREFIX", "bool_field", "check_object", "dict_field", "full_list", "int_field", "route", "seal",
           "str_field", "str_list_field", "tags_of"]

SEALED_PREFIX = "{sandbox-encrypted}"


def route(router: APIRouter, method: str, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`router.api_route` for `path` and its trailing-slash twin (the twin stays out of the
    OpenAPI document)."""
    twin = path[:-1] if path.endswith("/") else path + "/"

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        router.api_route(path, methods=[method], **kwargs)(func)
        router.api_route(twin, methods=[method], include_in_schema=False, **kwargs)(func)
        return func

    return register


def check_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"Invalid {what}: the request body must be a JSON object")
    return body


def _where(what: str, name: str) -> str:
    return f"{what}.{name}" if what else name


def str_field(doc: dict[str, Any], name: str, what: str, *, optional: bool = True, nullable: bool = True,
              choices: Iterable[str] | None = None, default: Any = None) -> Any:
    value = doc.get(name, default)
    if value is None:
        if name in doc and not nullable:
            raise BadRequest(f"Invalid {_where(what, name)}: must not be null")
        if not optional and value is None:
            raise BadRequest(f"Missing {_where(what, name)}")
        return value
    if not isinstance(value, str):
        raise BadRequest(f"Invalid {_where(what, name)}: expected a string, got {type(value).__name__}")
    if choices is not None:
        allowed = tuple(choices)
        if value not in allowed:
            raise BadRequest(f"Invalid {_where(what, name)} {value!r}: expected one of {', '.join(allowed)}")
    return value


def bool_field(doc: dict[str, Any], name: str, what: str, default: Any = None) -> Any:
    value = doc.get(name, default)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"Invalid {_where(what, name)}: expected true or false")
    if value is None and name in doc:
        raise BadRequest(f"Invalid {_where(what, name)}: expected true or false, got null")
    return value


def int_field(doc: dict[str, Any], name: str, what: str, *, low: int | None = None, high: int | None = None,
              nullable: bool = True) -> Any:
    value = doc.get(name)
    if value is None:
        if name in doc and not nullable:
            raise BadRequest(f"Invalid {_where(what, name)}: expected an integer, got null")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"Invalid {_where(what, name)}: expected an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadRequest(f"Invalid {_where(what, name)} {value}: expected {low} to {high}")
    return value


def dict_field(doc: dict[str, Any], name: str, what: str, *, nullable: bool = False) -> Any:
    value = doc.get(name)
    if value is None:
        if name in doc and not nullable:
            raise BadRequest(f"Invalid {_where(what, name)}: expected an object, got null")
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid {_where(what, name)}: expected an object")
    return value


def str_list_field(doc: dict[str, Any], name: str, what: str, *, nullable: bool = False) -> list[str] | None:
    value = doc.get(name)
    if value is None:
        if name in doc and not nullable:
            raise BadRequest(f"Invalid {_where(what, name)}: expected a list of strings, got null")
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"Invalid {_where(what, name)}: expected a list of strings")
    return value


def tags_of(doc: dict[str, Any], what: str) -> list[str] | None:
    """Tags are a set: DSS answers them sorted, without duplicates (contract §1.2 Project)."""
    tags = str_list_field(doc, "tags", what)
    return None if tags is None else sorted(set(tags))


# ── write-only secrets ───────────────────────────────────────────────────────────────────────

_SECRET_NAME = re.compile(
    r"(password|passwd|secret|secretkey|passphrase|privatekey|apikey|token)$", re.IGNORECASE)


def _sealed() -> str:
    import secrets

    return SEALED_PREFIX + secrets.token_urlsafe(18)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name.replace("_", "").replace("-", "")))


def seal(value: Any, depth: int = 0) -> Any:
    """`value` with every secret replaced by its "encrypted form" (contract §1.2 Connection): a
    string field named like a secret (`password`, `secretKey`, `clientSecret`, `sessionToken`...)
    that is not already sealed gets a fresh opaque token, and its clear value is dropped, never
    stored. A client that PUTs back the token it read keeps the secret; one that PUTs a new clear
    value replaces it (and reads a new token)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, str) and item and is_secret_name(key) and not item.startswith(SEALED_PREFIX):
                out[key] = _sealed()
            else:
                out[key] = seal(item, depth + 1)
        return out
    if isinstance(value, list):
        return [seal(item, depth + 1) for item in value]
    return value


def seal_value(value: Any) -> Any:
    """One secret value (a user secret's `value`), sealed unless it already is."""
    if isinstance(value, str) and value and not value.startswith(SEALED_PREFIX):
        return _sealed()
    return value


# ── listing ──────────────────────────────────────────────────────────────────────────────────


def full_list(rows: Iterable[dict[str, Any]], key: str, predicate: Callable[[dict[str, Any]], bool] | None = None
              ) -> list[dict[str, Any]]:
    """DSS lists are not paged (contract §2.7): every match, in a stable order (by `key`)."""
    page = apply_listing(rows, predicate=predicate, sort=[(key, False)], paging=OffsetPaging(limit=-1))
    return page.items
