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

from pydantic import BaseModel, ConfigDict, Field

from platforge.core.kind import Context
from platforge.core.model import Ref
from platforge.core.schema import expects

from ..models import PERMISSIONS, Acl, AclIds
from .common import PrincipalName, group_names, signed_in_user, user_names


class Principals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: set[PrincipalName] = Field(default_factory=set, json_schema_extra=expects("a list of user names"))
    groups: set[PrincipalName] = Field(default_factory=set, json_schema_extra=expects("a list of group names"))


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


def describe_acl(canonical: dict[str, Any]) -> str:
    """`read: users alice, groups analysts; write: users bob`, or `no entries`."""
    parts = []
    for perm, principals in canonical.items():
        who = [f"{label} {', '.join(principals.get(label) or [])}" for label in ("users", "groups")
               if principals.get(label)]
        if who:
            parts.append(f"{perm}: {'; '.join(who)}")
    return "; ".join(parts) or "no entries"


def foreign_principals(ctx: Context, acl: dict[str, Any], declared: dict[str, Any] | None) -> list[str]:
    """Who the live `acl` lets in besides the applying identity and the principals of the
    `declared` ACL: each as `user x` / `group y`, sorted."""
    allowed_users = {signed_in_user(ctx)}
    allowed_groups: set[str] = set()
    for principals in (declared or {}).values():
        allowed_users |= set(principals.get("users") or ())
        allowed_groups |= set(principals.get("groups") or ())
    found = set()
    for principals in acl.values():
        found |= {f"user {u}" for u in principals.get("users") or () if u not in allowed_users}
        found |= {f"group {g}" for g in principals.get("groups") or () if g not in allowed_groups}
    return sorted(found)


def to_client_acl(canonical: dict[str, Any]) -> Acl:
    users: dict[str, set[str]] = {}
    groups: dict[str, set[str]] = {}
    for perm, principals in canonical.items():
        for name in principals.get("users", []):
            users.setdefault(name, set()).add(perm)
        for name in principals.get("groups", []):
            groups.setdefault(name, set()).add(perm)
    return Acl(users=users, groups=groups)  # type: ignore[arg-type]
