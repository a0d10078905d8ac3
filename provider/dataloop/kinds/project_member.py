"""Kind `project_member`: the role bindings of a project.

    [project_member.vision-bob]
    project = "vision-prod"
    email = "bob@acme.com"
    role = "engineer"                   # owner, engineer, annotator, annotationManager

Keyed by e-mail like `org_member` (contract §5.1). The listing is one request for every binding of
a project (`GET /projects/{id}/members`). It also shows people who hold a role through a group
(`membershipType: "group"`): those rows are the group's, not bindings of the project, so they are
neither drift nor unmanaged. The owner binding Dataloop gives a project's creator is made with
the project: declaring it takes it over without consent, and it is not reported as unmanaged. A
role left undeclared is the platform's; a new binding gets Dataloop's default, `engineer`.
"""

from __future__ import annotations

from typing import Any, Literal

from platforge.core.kind import Context, Kind
from platforge.core.model import Created, LiveObject, ObjectRef, Ref, Resource

from .common import (
    LIST_PAGE_SIZE,
    DlName,
    Email,
    FreshReads,
    ProjectScoped,
    Spec,
    client,
    forget,
    ignore_missing,
    project_id,
    project_ref,
    required_project_id,
)
from .common import projects as project_listing
from .org_member import email_of, lower_email

ProjectRole = Literal["owner", "engineer", "annotator", "annotationManager"]
DEFAULT_PROJECT_ROLE = "engineer"


class ProjectMemberSpec(Spec):
    project: DlName
    email: Email
    role: ProjectRole | None = None


class ProjectMemberKind(ProjectScoped, FreshReads, Kind):
    name = "project_member"
    spec_model = ProjectMemberSpec
    identity_fields = ("project", "email")
    list_page_size = LIST_PAGE_SIZE

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return (f"project-members:{identity[0]}",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        return lower_email(raw)

    def references(self, model: ProjectMemberSpec) -> list[Ref]:  # type: ignore[override]
        return project_ref(model.project)

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        if scope is None:
            return []
        pid = project_id(ctx, scope)
        if pid is None:
            return []
        rows = ctx.cached(f"dataloop:project-members:{scope}", lambda: client(ctx).list_project_members(pid))
        creator = next((p.get("creator") for p in project_listing(ctx) if p["id"] == pid), None)
        found = []
        for row in rows:
            email = email_of(row) if isinstance(row, dict) else None
            if email is None or row.get("membershipType") not in (None, "member", "user"):
                continue  # held through a group: the group's binding, not this project's
            role = row.get("role")
            found.append(LiveObject(
                kind=self.name, identity=(scope, email), fields={"project": scope, "email": email, "role": role},
                platform_id=f"{pid}/{email}",
                placeholder=isinstance(creator, str) and creator.lower() == email and role == "owner"))
        return found

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        pid = required_project_id(ctx, spec["project"])
        client(ctx).add_project_member(pid, spec["email"], spec.get("role") or DEFAULT_PROJECT_ROLE)
        forget(ctx, f"project-members:{spec['project']}")
        return Created(platform_id=f"{pid}/{spec['email']}")

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        spec = resource.spec
        if "role" in changed and spec.get("role"):
            pid = str(live.platform_id).split("/", 1)[0]
            client(ctx).update_project_member(pid, spec["email"], spec["role"])
        forget(ctx, f"project-members:{spec['project']}")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        project, email = ref.identity
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        pid = str(platform_id).split("/", 1)[0] if platform_id is not None else project_id(ctx, project)
        if pid is not None:
            ignore_missing(lambda: client(ctx).remove_project_member(pid, email))
        forget(ctx, f"project-members:{project}")



__all__ = ["DEFAULT_PROJECT_ROLE", "ProjectMemberKind", "ProjectRole"]
