"""Kind `promotion`: which version of a job pre and prod run (contract §2.6 "Promotion").

    [promotion.price-server]
    job = "service.price-server"   # the declared job; the table name is free, the job's name is the identity
    pre = "promoted"               # the version dev runs after this apply (a save earlier in it included)
    prod = 3                       # pinned; "promoted" would mean: the version pre runs

Pre and prod receive jobs only through `job promote` (copy version N from the previous
environment, keeping its number), so a promotion is its own action in a plan, ordered after the
job's save, and "promoted" is an output reference to the revision that save produces.

Moving forward promotes the version. Lowering a declared version rolls the environment back: the
contract has no "set current version", and the current version is the highest one not removed, so
apply promotes the declared version (a no-op when it is there, a restore when it was removed) and
then soft-deletes (`job rm --version`) each newer version in that environment, which `job restore`
undoes. Drift reports an environment that runs another version than declared. Removing a
promotion from the stack removes the job from pre and prod (soft delete) only with `--prune`,
and in prod only with `--confirm-delete` besides.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from platforge.core.kind import Context, Kind
from platforge.core.model import FieldChange, LiveObject, ObjectRef, Ref, Resource
from platforge.core.outputs import OutputRef
from platforge.core.schema import Expect, StrictInt

from ..jobs import normalize_job_name
from ..models import Job
from .common import Spec, client, ignore_missing

ENVIRONMENTS = ("pre", "prod")
PREVIOUS = {"pre": "dev", "prod": "pre"}
JOB_KINDS = ("service", "app", "excel_addin", "workflow")

JobAddress = Annotated[
    str, StringConstraints(strict=True, pattern=r"^(service|app|excel_addin|workflow)\.[^.]+$"),
    Expect("a job's address, e.g. 'service.price-server'"),
]
Version = Annotated[
    StrictInt | Literal["promoted"] | OutputRef, Field(union_mode="left_to_right"),
    Expect("a version number, \"promoted\" (what the previous environment runs) or an output reference"),
]


class PromotionSpec(Spec):
    job: JobAddress | None = None
    name: Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-z]+(-[0-9a-z]+)*$")] | None = None
    pre: Version | None = None
    prod: Version | None = None

    @model_validator(mode="after")
    def _named(self) -> PromotionSpec:
        if self.job is None and self.name is None:
            raise ValueError("name the job: job = \"service.<name>\" (a declared job) or name = \"<job name>\"")
        if self.job is None and "promoted" in (self.pre, self.prod):
            raise ValueError("\"promoted\" needs job = \"<kind>.<name>\", the declared job whose version it follows")
        return self


class PromotionKind(Kind):
    name = "promotion"
    spec_model = PromotionSpec
    identity_fields = ("name",)
    #: `platforge export`: a promotion names a declared job, and jobs are not exportable.
    export_refusal = "it promotes a declared job, and jobs are not exportable"

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        job = raw.get("job")
        if isinstance(job, str) and "." in job:
            raw.setdefault("name", normalize_job_name(job.split(".", 1)[1]))
        return raw

    def canonical_spec(self, model: Any) -> dict[str, Any]:
        """`promoted` becomes an output reference: pre to the job's revision, prod to whatever
        pre is declared to run (so a whole dev → pre → prod promotion fits in one apply)."""
        spec: dict[str, Any] = {"name": model.name}  # the job itself is a reference (ordering), not a field
        values: dict[str, Any] = {}
        for env in ENVIRONMENTS:
            value = getattr(model, env)
            if value is None:
                continue
            if value == "promoted":
                if env == "pre":
                    value = {"output": f"{model.job}.revision"}
                elif "pre" in values:
                    value = values["pre"]
                else:
                    raise ValueError("prod = \"promoted\" means the version pre runs: declare pre too, or pin prod")
            elif isinstance(value, OutputRef):
                value = {"output": value.output}
            values[env] = value
        spec.update(values)
        return spec

    def references(self, model: Any) -> builtins.list[Ref]:
        if model.job is None:
            return []
        kind, _, name = model.job.partition(".")
        return [Ref(kind, name)]

    def identity_of_name(self, name: str) -> tuple[Any, ...]:
        return (normalize_job_name(name),)

    # ---- live state ------------------------------------------------------------------

    def _listing(self, ctx: Context, env: str) -> builtins.list[Job]:
        return ctx.cached(f"jobs:{env}", lambda: client(ctx).jobs.ls(where={"environment": env}))

    def list(self, ctx: Context, scope: Any) -> builtins.list[LiveObject]:
        found: dict[str, dict[str, Any]] = {}
        for env in ENVIRONMENTS:
            for job in self._listing(ctx, env):
                found.setdefault(job.name, {"name": job.name})[env] = job.version
        return [LiveObject(kind=self.name, identity=(name,), fields=fields, platform_id=name,
                           revision=fields.get("prod", fields.get("pre")))
                for name, fields in sorted(found.items())]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        name = str(ref.identity[0])
        fields: dict[str, Any] = {"name": name}
        for env in ENVIRONMENTS:
            job = client(ctx).jobs.get(name, environment=env)
            if job is not None and job.name == name:
                fields[env] = job.version
        if len(fields) == 1:
            return None
        return LiveObject(kind=self.name, identity=(name,), fields=fields, platform_id=name,
                          revision=fields.get("prod", fields.get("pre")))

    # ---- writes ------------------------------------------------------------------------

    def create(self, ctx: Context, resource: Resource) -> Any:
        self._converge(ctx, resource.spec, {})
        return resource.spec["name"]

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        self._converge(ctx, resource.spec, live.fields)

    def _converge(self, ctx: Context, spec: Mapping[str, Any], live: Mapping[str, Any]) -> None:
        """Pre before prod, since prod is promoted from pre."""
        name = spec["name"]
        jobs = client(ctx).jobs
        for env in ENVIRONMENTS:
            wanted = spec.get(env)
            if not isinstance(wanted, int) or live.get(env) == wanted:
                continue
            current = live.get(env)
            present = jobs.versions(name, environment=env) if isinstance(current, int) else []
            if wanted not in present:
                jobs.promote(name, wanted, PREVIOUS[env])
            if isinstance(current, int) and current > wanted:  # a rollback: newer versions step aside
                for version in present:
                    if version > wanted:
                        jobs.rm(name, environment=env, version=version)
            ctx.invalidate(f"jobs:{env}")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        name = str(ref.identity[0])
        for env in reversed(ENVIRONMENTS):
            def remove(env: str = env) -> None:
                client(ctx).jobs.rm(name, environment=env, all_versions=True)

            ignore_missing(remove)
            ctx.invalidate(f"jobs:{env}")

    def delete_confirmation(self, ref: ObjectRef, live: LiveObject | None) -> str | None:
        if live is None or live.fields.get("prod") is not None:
            return f"this removes job {ref.identity[0]} from prod"
        return None

    def describe_drift(self, changes: builtins.list[FieldChange]) -> str | None:
        """Drift hands over (last applied → live): say what runs now."""
        words = [f"{c.path} runs version {c.new}, declared {c.old}" if c.new is not None
                 else f"the job is gone from {c.path}" for c in changes if c.path in ENVIRONMENTS]
        return "; ".join(words) or None


__all__ = ["PromotionKind"]
