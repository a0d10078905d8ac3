"""Kinds `instance_variable` and `project_variables`: DSS's key-value stores.

    [instance_variable.env]             # one key of the instance's global variables
    value = "prod"
    [instance_variable.feature_flags]
    key = "feature_flags"               # default: the table name
    value = { a = 1 }

    [project_variables.MYPROJ]          # a project's variables (the table name is the key)
    standard = { warehouse = "analytics" }   # exported with bundles
    local = { debug = true }                 # kept by this instance

Instance variables are one flat JSON document (`/admin/variables/`) that can only be replaced
whole (contract §1.2): "it is not possible to update a single variable". Each declared key is
its own object in that document (`document_of`); the variables an apply writes in one level go
out together (`write_document`): one read of the document, their keys set or removed, every
other key put back as read, one write. Two variables applied together never lose each other,
and a hundred cost two requests, not two hundred. They are readable by every DSS user:
never put a secret there.

A project's variables are one document of two dicts, `standard` and `local`; a declared dict is
owned whole (a key added in the UI is a difference), an undeclared one is left as it is.
Deleting a `project_variables` object empties both.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from platforge.core.kind import Context
from platforge.core.model import DocumentWrite, LiveObject, ObjectRef, Op, Ref, Resource
from platforge.core.schema import Expect, StrictBool, StrictFloat, StrictInt, StrictStr, expects

from .common import DssKind, FreshReads, ProjectKey, ProjectScoped, Spec, cached, client, document_or_none, forget, ignore_missing

VariableName = Annotated[str, StringConstraints(strict=True, pattern=r"^[^\x00-\x1f\x7f]{1,255}$"),
                         Expect("a variable name of 1 to 255 characters without control characters")]
#: Any value TOML can write except a date: DSS stores JSON.
JsonValue = StrictStr | StrictBool | StrictInt | StrictFloat | list[Any] | dict[str, Any]

INSTANCE_DOCUMENT = ("dataiku-instance-variables",)


class InstanceVariableSpec(Spec):
    key: VariableName
    value: JsonValue = Field(json_schema_extra=expects("a string, number, boolean, list or table"))


class InstanceVariableKind(FreshReads, DssKind):
    name = "instance_variable"
    spec_model = InstanceVariableSpec
    identity_fields = ("key",)

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return ("instance-variables",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("key", name)
        return raw

    def document_of(self, ref: ObjectRef) -> Hashable | None:
        return INSTANCE_DOCUMENT

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        document = cached(ctx, "instance-variables", client(ctx).get_instance_variables)
        return [LiveObject(kind=self.name, identity=(key,), fields={"key": key, "value": value})
                for key, value in document.items()]

    merges_document_writes = True

    def write_document(self, ctx: Context, writes: Sequence[DocumentWrite]) -> list[Any]:
        api = client(ctx)
        document = api.get_instance_variables()
        for write in writes:
            if write.op is Op.DELETE:
                document.pop(write.ref.identity[0], None)
            elif write.resource is not None and (write.op is Op.CREATE or "value" in write.changed):
                document[write.resource.spec["key"]] = write.resource.spec["value"]
        api.put_instance_variables(document)
        forget(ctx, "instance-variables")
        return [write.ref.identity[0] if write.op is Op.CREATE else None for write in writes]

    def _write(self, ctx: Context, key: str, value: Any, remove: bool = False) -> None:
        api = client(ctx)
        document = api.get_instance_variables()
        if remove:
            if key not in document:
                return
            del document[key]
        else:
            document[key] = value
        api.put_instance_variables(document)
        forget(ctx, "instance-variables")

    def create(self, ctx: Context, resource: Resource) -> Any:
        self._write(ctx, resource.spec["key"], resource.spec["value"])
        return resource.spec["key"]

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        if "value" in changed:
            self._write(ctx, resource.spec["key"], resource.spec["value"])

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        self._write(ctx, ref.identity[0], None, remove=True)


class ProjectVariablesSpec(Spec):
    project: ProjectKey
    standard: dict[str, Any] | None = Field(default=None, json_schema_extra=expects("a table of variables"))
    local: dict[str, Any] | None = Field(default=None, json_schema_extra=expects("a table of variables"))


class ProjectVariablesKind(ProjectScoped, FreshReads, DssKind):
    name = "project_variables"
    spec_model = ProjectVariablesSpec
    identity_fields = ("project",)

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return (f"project-variables:{identity[0]}",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("project", name)
        return raw

    def references(self, model: ProjectVariablesSpec) -> list[Ref]:  # type: ignore[override]
        return [Ref("project", model.project)]


    def list_in(self, ctx: Context, scope: Any) -> list[LiveObject]:
        api = client(ctx)
        document = document_or_none(ctx, f"project-variables:{scope}", lambda: api.get_project_variables(scope))
        if document is None:
            return []
        standard, local = document.get("standard") or {}, document.get("local") or {}
        # Every project has this document from its creation: empty, it is nobody's yet.
        return [LiveObject(kind=self.name, identity=(scope,), placeholder=not standard and not local,
                           fields={"project": scope, "standard": standard, "local": local})]

    def _write(self, ctx: Context, project: str, parts: Mapping[str, Any]) -> None:
        """Read-modify-write, except when both parts are written: the document has nothing else
        (contract §1.2), so there is nothing to put back and the read is a request saved."""
        api = client(ctx)
        document = {} if {"standard", "local"} <= set(parts) else api.get_project_variables(project)
        document.update(parts)
        # DSS's own client refuses to send the document without both parts (contract §1.2).
        document.setdefault("standard", {})
        document.setdefault("local", {})
        api.put_project_variables(project, document)
        forget(ctx, f"project-variables:{project}")

    def create(self, ctx: Context, resource: Resource) -> Any:
        spec = resource.spec
        self._write(ctx, spec["project"], {p: spec[p] for p in ("standard", "local") if p in spec})
        return spec["project"]

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        spec = resource.spec
        self._write(ctx, spec["project"], {p: spec.get(p) or {} for p in ("standard", "local") if p in changed})

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        ignore_missing(lambda: self._write(ctx, ref.identity[0], {"standard": {}, "local": {}}))
