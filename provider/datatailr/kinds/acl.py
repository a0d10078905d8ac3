"""The one ACL model every Datatailr kind shares: permission -> users and groups, by name.

    [kv.db_url.acl]
    read  = { users = ["alice"], groups = ["analysts"] }
    write = { users = ["alice"] }

Declared ACLs are authoritative: what is declared is exactly what the platform ends up with
(`set-acls`), so there are no server-implied extra entries to cause perpetual diffs. The wire
reads ACLs as ids; the kinds turn them into names with the (cached) user and group listings.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from platforge.core.kind import Context
from platforge.core.model import Ref

from ..models import PERMISSIONS, Acl, AclIds
from .common import group_names, user_names


class Principals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: set[str] = set()
    groups: set[str] = set()


class AclSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    read: Principals | None = None
    write: Principals | None = None
    operate: Principals | None = None
    access: Principals | None = None
    promote: Principals | None = None

    def refs(self) -> list[Ref]:
        out: list[Ref] = []
        for perm in PERMISSIONS:
            principals = getattr(self, perm)
            if principals is not None:
                out += [Ref("user", u) for u in sorted(principals.users)]
                out += [Ref("group", g) for g in sorted(principals.groups)]
        return out


def canonical_acl(spec: AclSpec) -> dict[str, dict[str, list[str]]]:
    """Permission -> {"groups": [...], "users": [...]}, only non-empty permissions, sorted."""
    out: dict[str, dict[str, list[str]]] = {}
    for perm in PERMISSIONS:
        principals = getattr(spec, perm)
        if principals is not None and (principals.users or principals.groups):
            out[perm] = {"groups": sorted(principals.groups), "users": sorted(principals.users)}
    return out


def live_acl(ctx: Context, ids: AclIds | None) -> dict[str, dict[str, list[str]]]:
    """The same canonical form from what the API returns; unknown ids stay visible as `#id`."""
    users = user_names(ctx)
    groups = group_names(ctx)
    out: dict[str, dict[str, list[str]]] = {}
    for perm in PERMISSIONS:
        entries = ids.ids(perm) if ids is not None else ()
        u = sorted(users.get(i, f"#{i}") for i in entries if i >= 0)
        g = sorted(groups.get(-i, f"#{-i}") for i in entries if i < 0)
        if u or g:
            out[perm] = {"groups": g, "users": u}
    return out


def to_client_acl(canonical: dict[str, Any]) -> Acl:
    users: dict[str, set[str]] = {}
    groups: dict[str, set[str]] = {}
    for perm, principals in canonical.items():
        for name in principals.get("users", []):
            users.setdefault(name, set()).add(perm)
        for name in principals.get("groups", []):
            groups.setdefault(name, set()).add(perm)
    return Acl(users=users, groups=groups)  # type: ignore[arg-type]
