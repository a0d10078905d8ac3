"""Kinds `service`, `app`, `excel_addin` and `workflow`: Datatailr jobs in dev (contract §2.6,
§2.7, §3, §6).

    [service.price-server]
    display_name = "Price Server"       # default: the table name; its normalised form is the job's name
    entrypoint = "pricing.server:main"
    memory = "256m"                     # sizes compare as bytes; "256m" == "256Mi" == 268435456
    cpus = 0.5
    env = { MODE = "fast" }
    run_as = "svc-pricing"
    state = "running"                   # or "stopped"
    [service.price-server.image]
    python_version = "3.12"
    requirements = ["flask"]
    source = { path = "src/pricing" }   # bundled deterministically; or { repository = "...", commit = "..." }
    [service.price-server.acl]
    read = { groups = ["analysts"] }

    [workflow.nightly]
    state = "scheduled"
    [workflow.nightly.schedule]         # helper fields, compiled by the server, or cron = "0 0 2 * * *"
    at_hours = [2]
    timezone = "Europe/Berlin"
    [workflow.nightly.tasks.extract]
    entrypoint = "etl.tasks:extract"
    [workflow.nightly.tasks.load]
    entrypoint = "etl.tasks:load"
    depends_on = ["extract"]

Every `job save` makes a new version and rebuilds the image, so the field rules tell apart what
needs a save (`new_version`: image, entrypoint, env, vram, tasks, timezone) from what `job
modify` changes in place (display name, memory, CPUs, app section, ACL, run-as, schedule); a
run state changes with start/stop. A plan that finds nothing different saves nothing.

Jobs are saved in dev only; pre and prod receive versions by promotion (kind `promotion`). The
four kinds share one name space on the platform (`identity_space`), so moving a job from one
kind to another is a replace. A schedule is a field of its workflow, never a kind of its own:
on Datatailr it is the workflow version's `schedule` (§2.7), and one field has one owner.

Live state is read with `job ls` (one call per page, tasks included with `show-children`); a
workflow whose listing lacks its tasks costs one `job get`.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator

from platforge.core.errors import PermanentError
from platforge.core.kind import Context, Kind, canonicalize
from platforge.core.model import Created, FieldChange, LiveObject, ObjectRef, Readiness, Ref, Resource
from platforge.core.rules import ANY, Collection, FieldRule
from platforge.core.schema import Expect, Name, StrictFloat, StrictInt, expects

from ..._kit.client import PollTimeout
from ..jobs import ScheduleHelpers, normalize_job_name, platform_job_id
from ..models import Job, memory_bytes, memory_text
from .acl import AclSpec, canonical_acl, live_acl, to_client_acl
from .common import PrincipalName, Spec, client, groups, ignore_missing, users

ENV_PREFIX = "DATATAILR_JOB_ENV_"
DEV = "dev"
#: What the SDK fills in when a job does not say (contract §3.2, §3.3).
DEFAULT_PYTHON = "3.12"
RUNNING_STATES = frozenset({"running", "pending", "starting"})

Entrypoint = Annotated[
    str, StringConstraints(strict=True, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"),
    Expect("an entrypoint 'module:function', e.g. 'pricing.server:main'"),
]
Size = Annotated[
    StrictInt | Annotated[str, StringConstraints(strict=True, pattern=r"(?i)^\s*\d+(\.\d+)?\s*[kmgtp]?i?b?\s*$")],
    Expect("a size such as '256m', '2g' or a number of bytes"),
]
Cpus = Annotated[StrictInt | StrictFloat, Field(gt=0, le=1024), Expect("a number of CPUs greater than 0, e.g. 0.5")]
PythonVersion = Annotated[
    str, StringConstraints(strict=True, pattern=r"^3\.1[0-4](\.\d+)?$"), Expect("a Python version from 3.10 to 3.14"),
]
TaskName = Annotated[
    str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$"),
    Expect("a task name: letters, digits, _ . -"),
]
EnvName = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---- schema -----------------------------------------------------------------------------

class SourceSpec(Spec):
    """Where the image's code comes from: a local folder (bundled deterministically, so unchanged
    code is an unchanged bundle and no new version), or a repository at a commit."""

    path: Name | None = Field(default=None, json_schema_extra=expects("a folder, relative to the stack"))
    repository: Name | None = None
    commit: Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-fA-F]{7,64}$")] | None = None
    branch: Name | None = None
    module: Name | None = None
    #: Computed from the folder's content (any value given is replaced); accepted so that a
    #: declaration's canonical form (what the Pulumi stack door passes on) validates again.
    bundle: Name | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SourceSpec:
        if (self.path is None) == (self.repository is None):
            raise ValueError("give either path (a local folder) or repository and commit")
        if self.repository is not None and self.commit is None:
            raise ValueError("a repository source needs its commit")
        return self


class ImageSpec(Spec):
    python_version: PythonVersion | None = None
    requirements: list[Name] | None = None
    requirements_file: Name | None = Field(default=None, json_schema_extra=expects("a file, relative to the stack"))
    build_script_pre: Name | None = None
    build_script_post: Name | None = None
    source: SourceSpec | None = None

    @model_validator(mode="after")
    def _one_requirements(self) -> ImageSpec:
        if self.requirements is not None and self.requirements_file is not None:
            raise ValueError("give requirements or requirements_file, not both")
        return self


class JobAclSpec(AclSpec):
    """Read, write, operate (start/stop), access (use a service or app) and promote."""


class JobSpec(Spec):
    name: Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-z]+(-[0-9a-z]+)*$")]
    display_name: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
    image: ImageSpec | None = None
    memory: Size | None = None
    cpus: Cpus | None = None
    vram: Size | None = None
    env: dict[EnvName, Name] | None = None
    run_as: PrincipalName | None = None
    acl: JobAclSpec | None = None


class ServiceSpec(JobSpec):
    entrypoint: Entrypoint
    app_section: Name | None = None
    state: Literal["running", "stopped"] | None = None


class AppSpec(ServiceSpec):
    framework: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_-]*$")] | None = None


class ExcelAddinSpec(JobSpec):
    entrypoint: Entrypoint
    state: Literal["running", "stopped"] | None = None


class ScheduleSpec(Spec):
    """A raw `cron` expression, or the helper fields the server compiles (contract §6)."""

    cron: Annotated[str, StringConstraints(strict=True, pattern=r"^\S+(\s+\S+){4,5}$")] | None = Field(
        default=None, json_schema_extra=expects("a cron expression of 5 or 6 fields"))
    at_minutes: list[Annotated[StrictInt, Field(ge=0, le=59)]] | None = None
    at_hours: list[Annotated[StrictInt, Field(ge=0, le=23)]] | None = None
    every_minute: Annotated[StrictInt, Field(ge=1, le=59)] | None = None
    every_hour: Annotated[StrictInt, Field(ge=1, le=23)] | None = None
    weekdays: list[Annotated[str, StringConstraints(strict=True, min_length=3)]] | None = None
    day_of_month: Annotated[StrictInt, Field(ge=1, le=31)] | None = None
    in_month: list[Annotated[str, StringConstraints(strict=True, min_length=3)]] | None = None
    every_month: Annotated[StrictInt, Field(ge=1, le=12)] | None = None
    timezone: Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$")] | None = None

    @model_validator(mode="after")
    def _cron_or_helpers(self) -> ScheduleSpec:
        helpers = self.helpers()
        if self.cron is not None and helpers:
            raise ValueError("give cron or helper fields (at_hours, weekdays, ...), not both")
        if self.cron is None and not helpers:
            raise ValueError("give cron, or at least one helper field (at_minutes, at_hours, every_minute, ...)")
        for name, allowed in (("weekdays", WEEKDAYS), ("in_month", MONTHS)):
            for item in getattr(self, name) or ():
                if item[:3].capitalize() not in allowed:
                    raise ValueError(f"{name}: {item!r} is not one of {', '.join(allowed)}")
        return self

    def helpers(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"cron", "timezone"}).items() if v is not None}


class TaskSpec(Spec):
    entrypoint: Entrypoint
    depends_on: list[TaskName] = Field(default_factory=list)
    memory: Size | None = None
    cpus: Cpus | None = None
    vram: Size | None = None
    env: dict[EnvName, Name] | None = None


class WorkflowSpec(JobSpec):
    tasks: dict[TaskName, TaskSpec] = Field(min_length=1)
    schedule: ScheduleSpec | None = None
    state: Literal["scheduled", "stopped"] | None = None

    @model_validator(mode="after")
    def _dag(self) -> WorkflowSpec:
        for name, task in self.tasks.items():
            for dep in task.depends_on:
                if dep not in self.tasks or dep == name:
                    raise ValueError(f"task {name!r} depends on {dep!r}, which is not another task of this workflow")
        try:
            task_order({n: t.depends_on for n, t in self.tasks.items()})
        except CycleError as exc:
            raise ValueError(f"the dependencies of tasks {' -> '.join(exc.args[1])} form a cycle") from None
        if self.state == "scheduled" and self.schedule is None:
            raise ValueError("state = 'scheduled' needs a schedule")
        return self


# ---- values -----------------------------------------------------------------------------

def cron6(text: str | None) -> str | None:
    """A cron expression as the platform stores it: six fields, seconds first (a five-field
    expression gets `0 ` in front, as the SDK does with the server's replies)."""
    if text is None or not str(text).strip() or str(text).strip() == "None":
        return None
    parts = str(text).split()
    return " ".join(["0", *parts] if len(parts) == 5 else parts)


def env_from_wire(value: Any) -> dict[str, str]:
    """`[{"DATATAILR_JOB_ENV_A": "1"}, ...]` or a plain dict → `{"A": "1"}`."""
    items: list[tuple[str, Any]] = []
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        for entry in value:
            if isinstance(entry, Mapping):
                items += list(entry.items())
    return {(k[len(ENV_PREFIX):] if k.startswith(ENV_PREFIX) else k): str(v) for k, v in items}


def env_to_wire(env: Mapping[str, str]) -> list[dict[str, str]]:
    return [{f"{ENV_PREFIX}{k}": str(v)} for k, v in sorted(env.items())]


def _requirements(text: Any) -> list[str]:
    if isinstance(text, list):
        return [str(t).strip() for t in text if str(t).strip()]
    return [line.strip() for line in str(text or "").replace(",", "\n").splitlines() if line.strip()]


def live_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """The comparable form of a live image; `source` from where the code came from."""
    out: dict[str, Any] = {
        "python_version": str(image.get("python_version") or DEFAULT_PYTHON),
        "requirements": _requirements(image.get("python_requirements")),
        "build_script_pre": str(image.get("build_script_pre") or ""),
        "build_script_post": str(image.get("build_script_post") or ""),
    }
    commit = str(image.get("commit_hash") or "")
    if commit.startswith("sha256:"):
        out["source"] = {"bundle": commit, "path": str(image.get("path_to_repo") or ""),
                         "module": str(image.get("path_to_module") or "")}
    elif image.get("path_to_repo") or commit:
        source = {"repository": str(image.get("path_to_repo") or ""), "commit": commit}
        if image.get("branch_name"):
            source["branch"] = str(image["branch_name"])
        if image.get("path_to_module"):
            source["module"] = str(image["path_to_module"])
        out["source"] = source
    return out


def image_to_wire(image: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "python_version": image.get("python_version", DEFAULT_PYTHON),
        "python_requirements": "\n".join(image.get("requirements", [])),
        "build_script_pre": image.get("build_script_pre", ""),
        "build_script_post": image.get("build_script_post", ""),
    }
    source = image.get("source")
    if source and "bundle" in source:
        out.update(path_to_repo=source["path"], path_to_module=source["module"], commit_hash=source["bundle"],
                   branch_name="")
    elif source:
        out.update(path_to_repo=source["repository"], commit_hash=source["commit"],
                   branch_name=source.get("branch", ""), path_to_module=source.get("module", ""))
    return out


# ---- the kinds ---------------------------------------------------------------------------

class JobKind(Kind):
    """What every job kind shares: identity, image, resources, env, ACL, run state, versions."""

    identity_fields = ("name",)
    identity_space = "datatailr.job"
    job_type: ClassVar[str]
    #: `platforge export`: a job's image is built from code (a local folder bundled at apply, or
    #: a repository commit); what the platform holds is the built image, not the code in Git.
    export_refusal = ("its image is built from code that export cannot bring back into Git; declare the job "
                      "with its code (image.source) and adopt it with --adopt")
    #: How long a save may take to build before apply gives up on it (seconds).
    ready_timeout = 900.0
    #: Fields `job modify` changes in place (the platform's option names).
    MODIFY: ClassVar[dict[str, str]] = {"display_name": "display-name", "memory": "memory", "cpus": "num-cpus",
                                        "app_section": "app-section", "run_as": "run-as", "acl": "acl",
                                        "schedule": "schedule"}
    field_rules = {
        "name": FieldRule(replace=True),
        "image": FieldRule(new_version=True, document=True, server_defaults={"source": ANY}),
        "entrypoint": FieldRule(new_version=True),
        "env": FieldRule(new_version=True),
        "vram": FieldRule(new_version=True),
    }
    #: Env entries a kind writes itself and reads back as its own fields.
    OWN_ENV: ClassVar[dict[str, str]] = {}

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("display_name", name)
        display = raw["display_name"]
        if isinstance(display, str):
            raw["name"] = normalize_job_name(display)
        return raw

    def declare(self, name: str, raw: Mapping[str, Any], source: Any, base_dir: str = ".",
                secret_values: Mapping[str, str] | None = None) -> Resource:
        resource = super().declare(name, raw, source, base_dir, secret_values)
        image = resource.spec.get("image")
        if image is not None:
            resource.spec["image"] = self._image_spec(image, Path(base_dir), resource.address)
        return resource

    def _image_spec(self, image: dict[str, Any], base_dir: Path, address: str) -> dict[str, Any]:
        """The declared image as the platform will hold it: SDK defaults filled in, the
        requirements file read, a local source bundled and named by its content hash."""
        from ..bundle import BundleError, build_bundle

        out: dict[str, Any] = {
            "python_version": image.get("python_version", DEFAULT_PYTHON),
            "build_script_pre": image.get("build_script_pre", ""),
            "build_script_post": image.get("build_script_post", ""),
        }
        if "requirements_file" in image:
            path = base_dir / image["requirements_file"]
            try:
                out["requirements"] = _requirements(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ValueError(f"{address}.image.requirements_file: cannot read {path}: {exc.strerror}") from None
        else:
            out["requirements"] = _requirements(image.get("requirements", []))
        source = image.get("source")
        if source and source.get("path") is not None:
            folder = base_dir / source["path"]
            try:
                bundle = build_bundle(folder, module=source.get("module"))
            except BundleError as exc:
                raise ValueError(f"{address}.image.source: {exc}") from None
            out["source"] = {"bundle": f"sha256:{bundle.sha256}", "path": source["path"],
                             "module": bundle.module_path}
        elif source:
            out["source"] = {k: source[k] for k in ("repository", "commit", "branch", "module") if k in source}
        return out

    def canonical_spec(self, model: Any) -> dict[str, Any]:
        spec = super().canonical_spec(model)
        for size in ("memory", "vram"):
            if size in spec:
                spec[size] = memory_bytes(spec[size])
        if "acl" in spec:
            spec["acl"] = canonical_acl(model.acl)
        return spec

    def references(self, model: Any) -> builtins.list[Ref]:
        refs = model.acl.refs() if model.acl is not None else []
        if model.run_as is not None:
            refs.append(Ref("user", model.run_as))
        return refs

    # ---- live state ------------------------------------------------------------------

    def _listing(self, ctx: Context) -> builtins.list[Job]:
        return ctx.cached("jobs:dev", lambda: client(ctx).jobs.ls(where={"environment": DEV}, show_children=True))

    def list(self, ctx: Context, scope: Any) -> builtins.list[LiveObject]:
        return [self._live(ctx, job) for job in self._listing(ctx) if job.type == self.job_type]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        job = client(ctx).jobs.get(str(ref.identity[0]), environment=DEV, show_children=self.job_type == "batch")
        if job is None or job.type != self.job_type or job.name != ref.identity[0]:
            return None
        return self._live(ctx, job)

    def _live(self, ctx: Context, job: Job) -> LiveObject:
        env = env_from_wire(job.env)
        fields: dict[str, Any] = {
            "name": job.name,
            "display_name": job.display_name,
            "image": live_image(job.image),
            "memory": job.memory,
            "cpus": job.num_cpus,
            "run_as": job.run_as,
            "acl": live_acl(ctx, job.acl),
        }
        if job.vram is not None:
            fields["vram"] = job.vram
        fields.update(self._live_fields(ctx, job, env))
        return LiveObject(kind=self.name, identity=(job.name,), fields=fields, platform_id=job.id,
                          revision=job.version, extra={"state": job.state, "job": job})

    def _live_fields(self, ctx: Context, job: Job, env: dict[str, str]) -> dict[str, Any]:
        for key in self.OWN_ENV.values():
            env.pop(key, None)
        return {"env": env, "entrypoint": job.entrypoint, "app_section": job.app_section,
                "state": "running" if job.state in RUNNING_STATES else "stopped"}

    # ---- writes ------------------------------------------------------------------------

    def _wire(self, ctx: Context, resource: Resource, live: LiveObject | None) -> dict[str, Any]:
        """The job JSON of a save. A field the stack leaves to the platform keeps its live value
        (a save must not reset what someone set in place), or takes the SDK's default."""
        spec = resource.spec
        now = live.fields if live is not None else {}

        def kept(field_name: str, default: Any) -> Any:
            if field_name in spec:
                return spec[field_name]
            return now.get(field_name) if now.get(field_name) not in (None, "") else default

        memory = kept("memory", None)
        data: dict[str, Any] = {
            "environment": DEV,
            "image": image_to_wire(spec.get("image") or now.get("image") or {}),
            "type": self.job_type,
            "display_name": spec["display_name"],
            "name": spec["name"],
            "run_as": kept("run_as", ""),
            "memory": memory_text(memory) if isinstance(memory, int) else self.DEFAULT_MEMORY,
            "num_cpus": kept("cpus", self.DEFAULT_CPUS),
            "app_section": kept("app_section", ""),
        }
        if not data["run_as"]:
            del data["run_as"]  # the signed-in user, as the SDK does
        if "vram" in spec:
            data["vram"] = memory_text(spec["vram"])
        if "acl" in spec:
            data["acl"] = self._acl_ids(ctx, spec["acl"])
        data.update(self._wire_body(resource))
        return data

    DEFAULT_MEMORY: ClassVar[str] = "128m"
    DEFAULT_CPUS: ClassVar[float] = 0.25

    def _wire_body(self, resource: Resource) -> dict[str, Any]:
        spec = resource.spec
        env = dict(spec.get("env") or {})
        env.update(self._own_env(spec))
        return {"entrypoint": spec["entrypoint"], "env": env_to_wire(env)}

    def _own_env(self, spec: Mapping[str, Any]) -> dict[str, str]:
        return {}

    def _acl_ids(self, ctx: Context, acl: Mapping[str, Any]) -> dict[str, builtins.list[int]]:
        user_ids = {u.name: u.user_id for u in users(ctx)}
        group_ids = {g.name: g.group_id for g in groups(ctx)}
        out: dict[str, builtins.list[int]] = {}
        for perm, principals in acl.items():
            ids = [user_ids[u] for u in principals.get("users", []) if u in user_ids]
            ids += [-group_ids[g] for g in principals.get("groups", []) if g in group_ids]
            missing = [u for u in principals.get("users", []) if u not in user_ids] + \
                [g for g in principals.get("groups", []) if g not in group_ids]
            if missing:
                raise PermanentError(f"acl.{perm} names {', '.join(missing)}, which do(es) not exist on the platform")
            out[perm] = sorted(ids)
        return out

    def create(self, ctx: Context, resource: Resource) -> Created:
        return self.save(ctx, resource, None)

    def save(self, ctx: Context, resource: Resource, live: LiveObject | None) -> Created:  # type: ignore[override]
        """One `job save` (a new version, built in dev), a wait until it is built, then the
        declared run state."""
        from ..bundle import build_bundle

        spec = resource.spec
        bundle = None
        source = (spec.get("image") or {}).get("source") or {}
        if "bundle" in source:
            base = Path(resource.source.file).parent if resource.source is not None else Path(".")
            folder = base / source["path"]
            built = build_bundle(folder, module=source.get("module"))
            if f"sha256:{built.sha256}" != source["bundle"]:
                raise PermanentError(f"{resource.address}: the code in {folder} changed since the plan was made "
                                     "(its bundle hash differs); plan again")
            bundle = built.to_repo_bundle()
        result = client(ctx).jobs.save(self._wire(ctx, resource, live), timezone=self._timezone(spec), bundle=bundle)
        job_id = platform_job_id(spec["name"], DEV)
        version = result.version_of(job_id)
        self._changed(ctx)
        job = self._wait_built(ctx, spec["name"], version)
        self._set_run_state(ctx, spec, job.state, version=job.version)
        return Created(platform_id=job.id, revision=job.version)

    def _timezone(self, spec: Mapping[str, Any]) -> str | None:
        return None

    def _wait_built(self, ctx: Context, name: str, version: int | None) -> Job:
        """Wait, within this kind's budget, until the saved version is built; a failed build is
        permanent and reported with the tail of its build log."""

        def check() -> tuple[Job, Readiness]:
            job = client(ctx).jobs.get(name, environment=DEV, version=version)
            if job is None:
                raise PermanentError(f"job {name} version {version} is not there after its save")
            return job, self._readiness(ctx, job)

        try:
            job, readiness = client(ctx).poll(check, what=f"job {name} version {version} to be built",
                                              timeout=self.ready_timeout, interval=0.2, max_interval=5.0,
                                              is_done=lambda state: state[1].ready or bool(state[1].failed))
        except PollTimeout as exc:
            raise PermanentError(str(exc)) from None
        if readiness.failed:
            raise PermanentError(readiness.failed)
        return job

    def _readiness(self, ctx: Context, job: Job) -> Readiness:
        if job.state in ("created", "building"):
            return Readiness.pending()
        if job.state == "failed" and job.image.get("last_build_succeeded") is False:
            log = str(job.image.get("build_stderr") or job.image.get("build_stdout") or "")
            tail = "\n".join(log.splitlines()[-5:])
            return Readiness.failure(f"the build of job {job.name} version {job.version} failed"
                                     + (f":\n{tail}" if tail else ""))
        return Readiness.done()

    def ready(self, ctx: Context, live: LiveObject) -> Readiness:
        job = live.extra.get("job")
        return self._readiness(ctx, job) if isinstance(job, Job) else Readiness.done()

    def _set_run_state(self, ctx: Context, spec: Mapping[str, Any], live_state: str,
                       version: int | None = None) -> None:
        wanted = spec.get("state")
        if wanted is None:
            return
        running = live_state in RUNNING_STATES or live_state == "scheduled"
        if wanted in ("running", "scheduled") and not running:
            client(ctx).jobs.start(spec["name"], environment=DEV, version=version)
        elif wanted == "stopped" and running:
            client(ctx).jobs.stop(spec["name"], environment=DEV)
        self._changed(ctx)

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        """One `job modify` for every in-place field that differs, then the run state."""
        spec = resource.spec
        options: dict[str, Any] = {}
        for field_name in sorted(changed & self.MODIFY.keys()):
            value = spec.get(field_name)
            if field_name == "acl":
                options["acl"] = to_client_acl(value or {})
            elif field_name == "memory":
                options["memory"] = value
            elif field_name == "cpus":
                options["num_cpus"] = value
            elif field_name == "schedule":
                options["schedule"] = value or ""
            else:
                options[field_name] = value
        if options:
            client(ctx).jobs.modify(spec["name"], environment=DEV, **options)
            self._changed(ctx)
        if "state" in changed:
            state = str(live.extra.get("state", ""))
            if state in ("created", "building"):  # a save whose apply was cut short: built first
                state = self._wait_built(ctx, spec["name"], live.revision).state
            self._set_run_state(ctx, spec, state)

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        """The platform's soft delete of every version (`job restore` brings it back)."""
        ignore_missing(lambda: client(ctx).jobs.rm(str(ref.identity[0]), environment=DEV, all_versions=True))
        self._changed(ctx)

    def _changed(self, ctx: Context) -> None:
        ctx.invalidate("jobs:dev")

    def describe_drift(self, changes: builtins.list[FieldChange]) -> str | None:
        words = []
        for change in changes:
            top = change.path.split(".", 1)[0]
            if top == "state":
                words.append("job stopped" if change.new in ("stopped", None) else f"job {change.new}")
            elif top == "schedule":
                words.append("schedule changed")
            elif self.rule(top).new_version:
                words.append(f"a new version on the platform ({top} differs)")
        return "; ".join(dict.fromkeys(words)) or None


class ServiceKind(JobKind):
    name = "service"
    spec_model = ServiceSpec
    job_type = "service"


class AppKind(JobKind):
    name = "app"
    spec_model = AppSpec
    job_type = "app"
    OWN_ENV = {"framework": "DATATAILR_FRAMEWORK"}

    def _own_env(self, spec: Mapping[str, Any]) -> dict[str, str]:
        return {"DATATAILR_FRAMEWORK": spec["framework"]} if "framework" in spec else {}

    def _live_fields(self, ctx: Context, job: Job, env: dict[str, str]) -> dict[str, Any]:
        framework = env.get("DATATAILR_FRAMEWORK")
        fields = super()._live_fields(ctx, job, env)
        if framework is not None:
            fields["framework"] = framework
        return fields

    field_rules = {**JobKind.field_rules, "framework": FieldRule(new_version=True)}


class ExcelAddinKind(JobKind):
    name = "excel_addin"
    spec_model = ExcelAddinSpec
    job_type = "excel"
    OWN_ENV = {"local": "DATATAILR_LOCAL"}

    def _own_env(self, spec: Mapping[str, Any]) -> dict[str, str]:
        return {"DATATAILR_LOCAL": "false"}  # as the SDK serialises an add-in (contract §3.2)


class WorkflowKind(JobKind):
    name = "workflow"
    spec_model = WorkflowSpec
    job_type = "batch"
    DEFAULT_MEMORY = "100m"
    DEFAULT_CPUS = 1.0
    field_rules = {
        **JobKind.field_rules,
        "tasks": FieldRule(new_version=True, document=True, collection=Collection.ORDERED),
        "timezone": FieldRule(new_version=True),
    }

    def canonical_spec(self, model: Any) -> dict[str, Any]:
        spec = super().canonical_spec(model)
        memory = spec.get("memory", memory_bytes(self.DEFAULT_MEMORY))
        cpus = spec.get("cpus", self.DEFAULT_CPUS)
        env = spec.pop("env", None) or {}
        tasks: dict[str, Any] = {}
        for name, task in sorted(model.tasks.items()):
            entry: dict[str, Any] = {
                "entrypoint": task.entrypoint,
                "depends_on": sorted(task.depends_on),
                "memory": memory_bytes(task.memory) if task.memory is not None else memory,
                "cpus": task.cpus if task.cpus is not None else cpus,
                "env": {**env, **(task.env or {})},
            }
            if task.vram is not None:
                entry["vram"] = memory_bytes(task.vram)
            tasks[name] = entry
        spec["tasks"] = canonicalize(tasks)
        schedule = spec.pop("schedule", None)
        if model.schedule is not None:
            spec["schedule"] = {"cron": cron6(model.schedule.cron)} if model.schedule.cron is not None \
                else {"helpers": model.schedule.helpers()}
            if model.schedule.timezone is not None:
                spec["timezone"] = model.schedule.timezone
        elif schedule is not None:
            spec["schedule"] = schedule
        return spec

    def desired(self, ctx: Context, resource: Resource) -> Resource:
        """Helper fields become the cron string the server compiles from them (one `job cron`
        per distinct schedule per run), so the diff runs on what the platform stores."""
        schedule = resource.spec.get("schedule")
        if not isinstance(schedule, Mapping):
            return resource
        if "cron" in schedule:
            compiled = schedule["cron"]
        else:
            helpers = ScheduleHelpers(**schedule["helpers"])
            key = f"cron:{sorted(helpers.to_args().items())}"
            reply = ctx.cached(key, lambda: client(ctx).jobs.cron(helpers))
            if reply is None:
                raise PermanentError(f"{resource.address}.schedule: the platform did not compile the helper fields "
                                     f"{schedule['helpers']}")
            compiled = cron6(reply.cron)
        spec = dict(resource.spec)
        spec["schedule"] = compiled
        return dataclasses.replace(resource, spec=spec)

    def _live_fields(self, ctx: Context, job: Job, env: dict[str, str]) -> dict[str, Any]:
        children = job.children
        if not children:
            fetched = ctx.cached(f"job-children:{job.name}:{job.version}", lambda: client(ctx).jobs.get(
                job.name, environment=DEV, version=job.version, show_children=True))
            children = fetched.children if fetched is not None else []
        by_number = {c.child_number: c.display_name for c in children}
        tasks = {}
        for child in children:
            entry: dict[str, Any] = {
                "entrypoint": child.entrypoint,
                "depends_on": sorted(by_number.get(n, f"#{n}") for n in child.depends_on),
                "memory": child.memory,
                "cpus": child.num_cpus,
                "env": env_from_wire(child.env),
            }
            if child.vram is not None:
                entry["vram"] = child.vram
            tasks[child.display_name] = entry
        fields: dict[str, Any] = {"tasks": canonicalize(tasks), "schedule": cron6(job.schedule),
                                  "state": "scheduled" if job.state == "scheduled" else "stopped"}
        if job.timezone:
            fields["timezone"] = job.timezone
        return fields

    def _wire_body(self, resource: Resource) -> dict[str, Any]:
        spec = resource.spec
        order = task_order({n: t["depends_on"] for n, t in spec["tasks"].items()})
        numbers = {name: i for i, name in enumerate(order)}
        jobs = []
        for name in order:
            task = spec["tasks"][name]
            entry: dict[str, Any] = {
                "display_name": name, "name": name, "child_number": numbers[name],
                "entrypoint": task["entrypoint"], "memory": memory_text(task["memory"]), "num_cpus": task["cpus"],
                "depends_on": [numbers[d] for d in task["depends_on"]], "env": env_to_wire(task["env"]),
            }
            if "vram" in task:
                entry["vram"] = memory_text(task["vram"])
            jobs.append(entry)
        body: dict[str, Any] = {"jobs": jobs, "schedule": spec.get("schedule"), "fail_after": None,
                                "expire_after": None}
        return body

    def _timezone(self, spec: Mapping[str, Any]) -> str | None:
        return spec.get("timezone")



def task_order(depends_on: Mapping[str, Iterable[str]]) -> builtins.list[str]:
    """Tasks so that each comes after what it depends on, level by level and by name within a
    level: child numbers are positions, so a stable order keeps them stable. Raises CycleError."""
    sorter: TopologicalSorter[str] = TopologicalSorter({n: set(d) for n, d in depends_on.items()})
    sorter.prepare()
    order: builtins.list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order += ready
        sorter.done(*ready)
    return order




__all__ = ["AppKind", "ExcelAddinKind", "JobKind", "ServiceKind", "WorkflowKind", "cron6", "env_from_wire"]
