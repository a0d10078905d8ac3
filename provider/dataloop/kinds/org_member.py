"""Kind `org_member`: who belongs to the organisation, and with which role.

    [org_member.bob]
    email = "bob@acme.com"
    role = "member"                     # owner, admin, member, worker

Users have no id of their own on Dataloop's wire: the e-mail is the key in paths and bodies
(contract §5.1), so the kind is keyed by e-mail, compared in lower case (the gate stores it so).
The listing is one request for every member (`GET /orgs/{org}/members`). A role left undeclared
is the platform's; a new member gets Dataloop's default, `member`. Removing a member is shown
prominently in a plan.
"""

from __future__ import annotations

from typing import Any, Literal

from platforge.core.kind import Context, Kind
from platforge.core.model import Created, LiveObject, ObjectRef, Resource

from .common import LIST_PAGE_SIZE, Email, FreshReads, Spec, client, forget, ignore_missing

OrgRole = Literal["owner", "admin", "member", "worker"]
DEFAULT_ORG_ROLE = "member"


def email_of(row: dict[str, Any]) -> str | None:
    value = row.get("email") or row.get("id")
    return value.lower() if isinstance(value, str) and "@" in value else None


def lower_email(raw: dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw.get("email"), str):
        raw["email"] = raw["email"].lower()
    return raw


class OrgMemberSpec(Spec):
    email: Email
    role: OrgRole | None = None


class OrgMemberKind(FreshReads, Kind):
    name = "org_member"
    spec_model = OrgMemberSpec
    identity_fields = ("email",)
    list_page_size = LIST_PAGE_SIZE
    destructive = True

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return ("org-members",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        return lower_email(raw)

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        api = client(ctx)
        rows = ctx.cached("dataloop:org-members", lambda: api.list_org_members(api.org_id()))
        found = []
        for row in rows:
            email = email_of(row) if isinstance(row, dict) else None
            if email is not None:
                found.append(LiveObject(kind=self.name, identity=(email,),
                                        fields={"email": email, "role": row.get("role")}, platform_id=email))
        return found

    def create(self, ctx: Context, resource: Resource) -> Created:
        api = client(ctx)
        email = resource.spec["email"]
        api.add_org_member(api.org_id(), email, resource.spec.get("role") or DEFAULT_ORG_ROLE)
        forget(ctx, "org-members")
        return Created(platform_id=email)

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        api = client(ctx)
        if "role" in changed and resource.spec.get("role"):
            api.update_org_member(api.org_id(), resource.spec["email"], resource.spec["role"])
        forget(ctx, "org-members")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        api = client(ctx)
        ignore_missing(lambda: api.delete_org_member(api.org_id(), ref.identity[0]))
        forget(ctx, "org-members")



__all__ = ["DEFAULT_ORG_ROLE", "OrgMemberKind", "OrgRole", "email_of", "lower_email"]
