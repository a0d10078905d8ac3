"""Jobs: workflows (`batch`), services, apps, Excel add-ins (contract §2.6, §2.7, §3, §6).

Retry safety: every call here is an apply's write, so none is sent twice after an ambiguous
failure (see `users`); the applier reads live state and decides. Several verbs would not even
be safe to repeat: `save` adds a version, `start` a run, and `rm`/`restore` without a version
act on "the current version", which changes when they succeed.
"""

from __future__ import annotations

import base64
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._kit.client import Conflict
from .filters import combine
from .models import Acl, CronSchedule, Job, JobRun, JobSaveResult, StartResult, memory_text
from .wire import Arg, comma_list

if TYPE_CHECKING:
    from .client import DatatailrClient

JOB_NAMESPACE = uuid.UUID("A3FB3D5A-1AD4-4341-AA66-BAC8A26ECBAD")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def normalize_job_name(display_name: str) -> str:
    """A job's name from its display name (contract §0.5): NFKC, lower case, runs of other
    characters → `-`, no `-` at the ends."""
    text = unicodedata.normalize("NFKC", display_name).lower()
    return _NOT_ALNUM.sub("-", text).strip("-")


def platform_job_id(name: str, environment: str) -> str:
    """The id the platform assigns to `(name, environment)`."""
    return str(uuid.uuid5(JOB_NAMESPACE, name + environment))


@dataclass(frozen=True)
class ScheduleHelpers:
    """The schedule helper options of `job cron` and `job save` (contract §6.1). Lists are
    comma-joined; `None` fields are not sent."""

    at_minutes: Sequence[int] | int | str | None = None
    at_hours: Sequence[int] | int | str | None = None
    every_minute: int | str | None = None
    every_hour: int | str | None = None
    weekdays: Sequence[str] | str | None = None
    day_of_month: Sequence[int] | int | str | None = None
    in_month: Sequence[str] | str | None = None
    every_month: int | str | None = None

    def to_args(self) -> dict[str, Arg]:
        out: dict[str, Arg] = {}
        for name in ("at_minutes", "at_hours", "every_minute", "every_hour", "weekdays", "day_of_month",
                     "in_month", "every_month"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, Sequence) and not isinstance(value, str):
                value = comma_list(list(value), name)
            out[name.replace("_", "-")] = str(value)
        return out


@dataclass(frozen=True)
class RepoBundle:
    """The code bundle the remote CLI uploads with `job save` (contract §3.1)."""

    archive: bytes  # a .tar.gz of the module directory
    repo_dir_name: str
    module_path: str
    local_hostname: str | None = None

    def to_args(self) -> dict[str, Arg]:
        return {
            "repo_archive_b64": base64.b64encode(self.archive).decode("ascii"),
            "repo_dir_name": self.repo_dir_name,
            "repo_module_path": self.module_path,
            "local_hostname": self.local_hostname,
        }


def _memory(value: int | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return memory_text(value)


class JobsApi:
    def __init__(self, client: DatatailrClient) -> None:
        self._client = client

    def save(self, definition: Mapping[str, Any], *, schedule: ScheduleHelpers | None = None,
             timezone: str | None = None, bundle: RepoBundle | None = None) -> JobSaveResult:
        """Save a new version (an upsert: version N+1, or 1 for a new job). Not idempotent."""
        args: dict[str, Arg] = {
            "data": dict(definition),
            "json": True,
            **(schedule.to_args() if schedule else {}),
            "timezone": timezone,
            **(bundle.to_args() if bundle else {}),
        }
        return JobSaveResult.model_validate(self._client.call("POST", "job/save", args))

    def matches(self, job_name: str, *, environment: str = "dev", version: int | None = None,
                show_children: bool = False) -> list[Job]:
        """What `job get` returns: a list, since a display name may match several jobs."""
        result = self._client.call("GET", "job/get", {
            "job_name": job_name, "environment": environment, "version": version,
            "show-children": show_children, "json": True,
        })
        items = result if isinstance(result, list) else [result] if result else []
        return [Job.model_validate(j) for j in items]

    def get(self, job_name: str, *, environment: str = "dev", version: int | None = None,
            show_children: bool = False) -> Job | None:
        """The job, None when it does not exist, `Conflict` when the name is ambiguous."""
        found = self.matches(job_name, environment=environment, version=version, show_children=show_children)
        if len(found) > 1:
            raise Conflict(f"job name {job_name!r} matches {len(found)} jobs in {environment}: "
                           f"{', '.join(j.name for j in found)}", method="GET", path="/api/job/get")
        return found[0] if found else None

    def ls(self, filter: str | None = None, *, where: Mapping[str, Any] | None = None,
           sort: str | None = None, include_removed: bool = False, show_children: bool = False) -> list[Job]:
        """Every job's current version (all pages; the server returns 100 at a time). With
        `show_children`, workflows carry their tasks (a sandbox decision the contract leaves
        open; a server that ignores it returns workflows without `children_full`)."""
        base = {"filter": combine(filter, where), "sort": sort, "all": include_removed, "json": True,
                "show-children": show_children or None}
        rows = self._client._ls("job/ls", base, key=lambda r: (r.get("name"), r.get("environment")))
        return [Job.model_validate(r) for r in rows]

    def versions(self, job_name: str, *, environment: str = "dev") -> list[int]:
        """The versions not removed, ascending. Tolerates a `"(1, 2, 3)"` text reply (§7.3.7)."""
        result = self._client.call("GET", "job/versions",
                                   {"job_name": job_name, "environment": environment, "json": True})
        if isinstance(result, str):
            result = re.findall(r"\d+", result)
        return sorted(int(v) for v in (result or []))

    def modify(
        self,
        job_name: str,
        *,
        environment: str = "dev",
        version: int | None = None,
        child: int | None = None,
        schedule: str | None = None,
        memory: int | str | None = None,
        num_cpus: float | None = None,
        display_name: str | None = None,
        app_section: str | None = None,
        acl: Acl | None = None,
        run_as: str | None = None,
    ) -> str:
        """Change a version in place (default: the current one). `schedule=""` removes the
        schedule; `acl` *sets* users, groups and others (an empty part clears it); `memory`
        is bytes or a size such as `"2g"`."""
        return self._client.call("PUT", "job/modify", {
            "job_name": job_name,
            "environment": environment,
            "version": version,
            "child": child,
            "schedule": schedule,
            "memory": _memory(memory),
            "num-cpus": num_cpus,
            "display-name": display_name,
            "app-section": app_section,
            **(acl.to_options(include_empty=True) if acl is not None else {}),
            "run-as": run_as,
            "json": True,
        })

    def rm(self, job_name: str, *, environment: str = "dev", version: int | None = None,
           all_versions: bool = False) -> str:
        """Soft-delete one version (default: the current one) or all (undo with `restore`)."""
        return self._client.call("DELETE", "job/rm", {
            "job_name": job_name, "environment": environment, "version": version, "all": all_versions,
        })

    def restore(self, job_name: str, *, environment: str = "dev", version: int | None = None,
                all_versions: bool = False) -> str:
        return self._client.call("POST", "job/restore", {
            "job_name": job_name, "environment": environment, "version": version, "all": all_versions,
        })

    def promote(self, job_name: str, version: int, from_environment: str) -> str:
        """Copy `version` from `from_environment` to the next environment (dev→pre→prod)."""
        return self._client.call("POST", "job/promote", {
            "job_name": job_name, "version": version, "environment": from_environment,
        })

    def start(self, job_name: str, *, environment: str = "dev", version: int | None = None,
              now: bool = False, run_date: str | None = None) -> StartResult:
        result = self._client.call("POST", "job/start", {
            "job_name": job_name, "environment": environment, "version": version,
            "now": now, "run-date": run_date, "json": True,
        })
        return StartResult.model_validate(result) if isinstance(result, Mapping) else StartResult()

    def stop(self, job_name: str, *, environment: str = "dev") -> str:
        return self._client.call("DELETE", "job/stop", {"job_name": job_name, "environment": environment})

    def stop_run(self, run_id: int) -> str:
        return self._client.call("DELETE", "job/stop", {"job_name": run_id, "by-run-id": True})

    def runs(self, filter: str | None = None, *, where: Mapping[str, Any] | None = None,
             sort: str | None = None) -> list[JobRun]:
        """Every run record matching the filter (all pages)."""
        base = {"filter": combine(filter, where), "sort": sort, "json": True}
        rows = self._client._ls("job/runs", base, key=lambda r: (r.get("run_id", r.get("id")), r.get("job_name")))
        return [JobRun.model_validate(r) for r in rows]

    def cron(self, helpers: ScheduleHelpers) -> CronSchedule | None:
        """Compile schedule helpers on the server; None when the reply is not `cron (text)`."""
        return CronSchedule.from_reply(self._client.call("GET", "job/cron", helpers.to_args()))
