"""What the Datatailr kinds share: cached listings (one call per kind per page, shared across
kinds within a run), id/name lookups, the default environment, and tolerant deletes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Strict, StringConstraints

from platforge.core.kind import Context
from platforge.core.schema import Expect

from ..._kit.client import NotFound
from ..client import DatatailrClient
from ..models import Group, User

Environment = Literal["dev", "pre", "prod"]
BUILTIN_GROUPS = frozenset({"dtusers", "admin", "node_admin"})
DEFAULT_GROUP = "dtusers"

#: User and group names as Datatailr accepts them: they travel inside comma lists and
#: `name:letters` ACL specs, so no spaces, commas, colons or quotes; at most 64 characters.
PRINCIPAL_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$"
PrincipalName = Annotated[
    str, Strict(), StringConstraints(pattern=PRINCIPAL_PATTERN),
    Expect("a user or group name: 1 to 64 letters, digits or _ . @ - (not starting with . @ or -)"),
]
#: KV keys: any text of 1 to 1,024 characters without control characters.
KvKey = Annotated[
    str, Strict(), StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,1024}$"),
    Expect("a key of 1 to 1,024 characters without control characters"),
]


class Spec(BaseModel):
    """Base of every declared schema: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def client(ctx: Context) -> DatatailrClient:
    return ctx.client


def users(ctx: Context) -> list[User]:
    return ctx.cached("users", lambda: client(ctx).users.ls())


def groups(ctx: Context) -> list[Group]:
    return ctx.cached("groups", lambda: client(ctx).groups.ls())


def user_names(ctx: Context) -> dict[int, str]:
    return ctx.cached("user_names", lambda: {u.user_id: u.name for u in users(ctx)})


def group_names(ctx: Context) -> dict[int, str]:
    return ctx.cached("group_names", lambda: {g.group_id: g.name for g in groups(ctx)})


def names_of_users(ctx: Context, ids: list[int]) -> dict[int, str]:
    """Names for a few user ids: from the cached listing if there is one, else one filtered call."""
    if not ids:
        return {}
    cached = ctx.peek("user_names")
    if cached is not None:
        return cached
    found = client(ctx).users.ls(f"user_id = [{', '.join(str(i) for i in sorted(set(ids)))}]")
    return {u.user_id: u.name for u in found}


def signed_in_user(ctx: Context) -> str:
    return ctx.cached("signed_user", lambda: client(ctx).users.signed_user().name)


def identities_changed(ctx: Context) -> None:
    """Users and groups changed: drop every listing derived from them."""
    ctx.invalidate("users", "groups", "user_names", "group_names")


def ignore_missing(call: Callable[[], Any]) -> None:
    """Deleting something already gone is success (idempotent delete)."""
    try:
        call()
    except NotFound:
        pass
