"""Kind `project_group_grant`: what one group may do in one project.

    [project_group_grant.myproj-data-team]
    project = "MYPROJ"
    group = "data_team"
    read_project_content = true
    write_project_content = true
    run_scenarios = true

DSS keeps every grant of a project in one permissions document (`/projects/{key}/permissions`:
`{"owner", "permissions": [{"group", <flags>}], ...}`, contract §1.2), written whole. Each grant
is one entry of that list, so grants of one project share a document (`document_of`), and the
grants of one project that an apply writes in one level go out together (`write_document`):
the document is read once, each grant changes only its own entry, everything else is put back
as read (the owner, other groups' entries, per-user entries, the dashboard fields, flags this
version of platforge does not know), and the document is written once.

Only declared flags are managed; a flag missing from an entry means false (contract §1.2). The
permissions of one project cost one read per plan, shared by all its grants and the project.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from platforge.core.kind import Context
from platforge.core.model import DocumentWrite, LiveObject, ObjectRef, Op, Ref, Resource
from platforge.core.schema import StrictBool

from ..._kit.client import NotFound
from .common import (
    BUILTIN_GROUPS,
    DssKind,
    DssName,
    FreshReads,
    ProjectKey,
    ProjectScoped,
    Spec,
    client,
    document_or_none,
    forget,
    ignore_missing,
    snake,
)

#: The flags of a grant (DSS key; the stack field is its snake_case form).
FLAGS = (
    "admin", "readProjectContent", "writeProjectContent", "exportDatasetsData", "readDashboards",
    "writeDashboards", "moderateDashboards", "runScenarios", "manageDashboardAuthorizations",
    "manageExposedElements", "manageAdditionalDashboardUsers", "executeApp", "shareToWorkspaces",
)
#: Stack field -> entry key.
FIELDS = {snake(flag): flag for flag in FLAGS}


class GrantSpec(Spec):
    project: ProjectKey
    group: DssName
    admin: StrictBool | None = None
    read_project_content: StrictBool | None = None
    write_project_content: StrictBool | None = None
    export_datasets_data: StrictBool | None = None
    read_dashboards: StrictBool | None = None
    write_dashboards: StrictBool | None = None
    moderate_dashboards: StrictBool | None = None
    run_scenarios: StrictBool | None = None
    manage_dashboard_authorizations: StrictBool | None = None
    manage_exposed_elements: StrictBool | None = None
    manage_additional_dashboard_users: StrictBool | None = None
    execute_app: StrictBool | None = None
    share_to_workspaces: StrictBool | None = None


def permissions(ctx: Context, project: str) -> dict[str, Any] | None:
    """A project's permissions document, read once per run (None when the project is absent)."""
    result: dict[str, Any] | None = document_or_none(ctx, f"permissions:{project}",
                                                       lambda: client(ctx).get_permissions(project))
    return result


def _entries(document: Mapping[str, Any]) -> list[Any]:
    entries = document.get("permissions")
    return entries if isinstance(entries, list) else []


class ProjectGroupGrantKind(ProjectScoped, FreshReads, DssKind):
    name = "project_group_grant"
    spec_model = GrantSpec
    identity_fields = ("project", "group")

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return (f"permissions:{identity[0]}",)

    def references(self, model: GrantSpec) -> list[Ref]:  # type: ignore[override]
        refs = [Ref("project", model.project)]
        if model.group not in BUILTIN_GROUPS:
            refs.append(Ref("group", model.group))
        return refs


    def document_of(self, ref: ObjectRef) -> Hashable | None:
        return ("project-permissions", ref.identity[0])

    def list_in(self, ctx: Context, scope: Any) -> list[LiveObject]:
        document = permissions(ctx, scope)
        if document is None:
            return []
        found = []
        for entry in _entries(document):
            if isinstance(entry, dict) and isinstance(entry.get("group"), str):
                fields: dict[str, Any] = {"project": scope, "group": entry["group"]}
                fields.update({name: bool(entry.get(flag, False)) for name, flag in FIELDS.items()})
                found.append(LiveObject(kind=self.name, identity=(scope, entry["group"]), fields=fields,
                                        platform_id=f"{scope}/{entry['group']}"))
        return found

    merges_document_writes = True

    def write_document(self, ctx: Context, writes: Sequence[DocumentWrite]) -> list[Any]:
        project = writes[0].ref.identity[0]

        def change(entries: list[Any]) -> list[Any]:
            for write in writes:
                if write.op is Op.DELETE:
                    entries = _without(entries, write.ref.identity[1])
                elif write.resource is not None:
                    spec = write.resource.spec
                    entries = self._set(entries, spec, set(spec) if write.op is Op.CREATE else set(write.changed))
            return entries

        try:
            self._write(ctx, project, change)
        except NotFound:
            if any(write.op is not Op.DELETE for write in writes):
                raise  # the project is gone: nothing to grant in
        return [f"{project}/{write.ref.identity[1]}" if write.op is Op.CREATE else None for write in writes]

    def _write(self, ctx: Context, project: str, change: Any) -> None:
        """Read the project's permissions, let `change` edit the list, write the document back."""
        api = client(ctx)
        document = api.get_permissions(project)
        updated = copy.deepcopy(document)
        updated["permissions"] = change(copy.deepcopy(_entries(document)))
        api.put_permissions(project, updated)
        forget(ctx, f"permissions:{project}")

    def create(self, ctx: Context, resource: Resource) -> Any:
        spec = resource.spec
        self._write(ctx, spec["project"], lambda entries: self._set(entries, spec, set(spec)))
        return f"{spec['project']}/{spec['group']}"

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        spec = resource.spec
        self._write(ctx, spec["project"], lambda entries: self._set(entries, spec, changed))

    @staticmethod
    def _set(entries: list[Any], spec: Mapping[str, Any], changed: set[str]) -> list[Any]:
        flags = {FIELDS[name]: spec[name] for name in changed if name in FIELDS and name in spec}
        for entry in entries:
            if isinstance(entry, dict) and entry.get("group") == spec["group"]:
                entry.update(flags)
                return entries
        entries.append({"group": spec["group"], **flags})
        return entries

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        project, group = ref.identity
        ignore_missing(lambda: self._write(ctx, project, lambda entries: _without(entries, group)))


def _without(entries: list[Any], group: str) -> list[Any]:
    return [e for e in entries if not (isinstance(e, dict) and e.get("group") == group)]
