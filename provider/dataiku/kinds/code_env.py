"""Kind `code_env`: a DSS code environment, its definition and its package list.

    [code_env.py311]
    lang = "PYTHON"                     # or "R"; default PYTHON
    deployment_mode = "DESIGN_MANAGED"  # cannot change in place
    python_interpreter = "PYTHON311"    # cannot change in place
    packages = ["pandas==2.2.0", "requests"]
    usable_by_all = true

Creating an environment builds it: DSS answers with a future, awaited with the client kit's
bounded poller (`[platform] future_timeout`); an in-band `messages.error` fails the action.
Saving a package list installs nothing (contract §1.2 CodeEnv), so a declared change of
`packages` is a save followed by the package update, awaited the same way. `packages` compare as
a set of requirement lines. Every other key of the settings document (container
configurations, conda spec, permissions, `desc` fields) is written back as read.

A missing environment is answered with an HTTP 500 (`... doesn't exist`, §1.2): the client
reads it as absent, so a delete of an environment already gone succeeds. The listing carries no
packages, so each environment costs one document read per plan (cached for the run).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import Field

from platforge.core.kind import Context
from platforge.core.model import LiveObject, ObjectRef, Resource
from platforge.core.rules import Collection, FieldRule
from platforge.core.schema import Name, StrictBool, expects

from .common import DssKind, DssName, FreshReads, Spec, cached, client, document_or_none, forget, ignore_missing, read_each


class CodeEnvSpec(Spec):
    name: DssName
    lang: Literal["PYTHON", "R"] = "PYTHON"
    deployment_mode: Name = "DESIGN_MANAGED"
    python_interpreter: Name | None = None
    packages: list[Name] | None = Field(default=None, json_schema_extra=expects("a list of requirement lines"))
    usable_by_all: StrictBool | None = None


def package_lines(spec: Any) -> list[str]:
    """Requirement lines of a `specPackageList`: blank lines and comments are not packages."""
    if not isinstance(spec, str):
        return []
    return sorted({line.strip() for line in spec.splitlines() if line.strip() and not line.strip().startswith("#")})


class CodeEnvKind(FreshReads, DssKind):
    name = "code_env"
    spec_model = CodeEnvSpec
    identity_fields = ("lang", "name")

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return ("code-envs", f"code-env:{identity[0]}/{identity[1]}")
    field_rules = {
        "deployment_mode": FieldRule(replace=True),
        "python_interpreter": FieldRule(replace=True),
        "packages": FieldRule(collection=Collection.SET),
    }
    ready_timeout = 900.0

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def canonical_spec(self, model: CodeEnvSpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        spec["lang"] = model.lang
        spec["deployment_mode"] = model.deployment_mode
        return spec

    def identity_of_name(self, name: str) -> tuple[Any, ...]:
        return ("PYTHON", name)

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        api = client(ctx)
        items = [(str(item.get("envLang", "")).upper(), str(item["envName"]), item)
                 for item in cached(ctx, "code-envs", api.list_code_envs) if item.get("envName")]
        documents = read_each(lambda entry: document_or_none(ctx, f"code-env:{entry[0]}/{entry[1]}",
                                                             lambda: api.get_code_env(entry[0], entry[1])), items)
        return [self._live(lang, name, item, document)
                for (lang, name, item), document in zip(items, documents, strict=True) if document is not None]

    def _live(self, lang: str, name: str, item: dict[str, Any], document: dict[str, Any]) -> LiveObject:
        desc = document.get("desc") if isinstance(document.get("desc"), dict) else {}
        fields: dict[str, Any] = {
            "lang": lang, "name": name,
            "deployment_mode": document.get("deploymentMode", item.get("deploymentMode")),
            "packages": package_lines(document.get("specPackageList")),
        }
        if "pythonInterpreter" in desc:
            fields["python_interpreter"] = desc["pythonInterpreter"]
        usable = document.get("usableByAll", desc.get("usableByAll"))
        if usable is not None:
            fields["usable_by_all"] = usable
        return LiveObject(kind=self.name, identity=(lang, name), fields=fields)

    def _save(self, ctx: Context, resource: Resource, changed: set[str]) -> None:
        spec = resource.spec
        lang, name = spec["lang"], spec["name"]
        api = client(ctx)
        document = copy.deepcopy(api.get_code_env(lang, name))
        if "packages" in changed and "packages" in spec:
            document["specPackageList"] = "\n".join(spec["packages"])
        if "usable_by_all" in changed and "usable_by_all" in spec:
            document["usableByAll"] = spec["usable_by_all"]  # the top-level copy wins on PUT (§1.2)
            if isinstance(document.get("desc"), dict) and "usableByAll" in document["desc"]:
                document["desc"]["usableByAll"] = spec["usable_by_all"]
        api.put_code_env(lang, name, document)
        if "packages" in changed and "packages" in spec:
            api.update_code_env_packages(lang, name)

    def _forget(self, ctx: Context, lang: str, name: str) -> None:
        forget(ctx, "code-envs", f"code-env:{lang}/{name}")

    def create(self, ctx: Context, resource: Resource) -> Any:
        spec = resource.spec
        lang, name = spec["lang"], spec["name"]
        params: dict[str, Any] = {"deploymentMode": spec["deployment_mode"]}
        if "python_interpreter" in spec:
            params["pythonInterpreter"] = spec["python_interpreter"]
        client(ctx).create_code_env(lang, name, params)
        rest = set(spec) & {"packages", "usable_by_all"}
        if rest:
            self._save(ctx, resource, rest)
        self._forget(ctx, lang, name)
        return f"{lang}/{name}"

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        self._save(ctx, resource, changed)
        self._forget(ctx, resource.spec["lang"], resource.spec["name"])

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        lang, name = ref.identity
        ignore_missing(lambda: client(ctx).delete_code_env(lang, name))
        self._forget(ctx, lang, name)
