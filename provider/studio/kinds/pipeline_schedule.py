"""Kind `pipeline_schedule`: when a pipeline definition runs.

    [pipeline_schedule.nightly]
    pipeline = "rathe-kyat"              # a pipeline of the team, by name (a data source)
    cron_expression = "0 0 * * *"
    start_after = 2026-01-01T00:00:00Z   # a TOML date-time or an ISO-8601 string, with its zone
    pause_pipeline = false               # desired state; Studio never shows it (see below)
    # schedule_name = "nightly"          # the table name by default

Studio gives a schedule an integer id (contract §1.4) and every call names it by that id through
POST-style RPCs (`create-schedule`, `update-schedule`, `delete-schedule`); the name is mutable in
place, so the kind is `identified_by_id` (a rename is an update). `update-schedule` takes no
pipeline: a schedule's pipeline is fixed, and a change of it is a replace.

The pipeline is named as Studio names it (a generated name such as `rathe-kyat`): pipelines are
not managed here (no delete, server-made names, §1.5), so the name is looked up in the team's
pipeline listing, and a name that matches nothing is a plan error at the declaration.

`pause_pipeline` is write-only: `update-schedule` accepts it and no answer echoes it (§1.4). The
contract's guess, reading it back from the pipeline's `status`, is not used: that status is the
pipeline's own and changes with `datachain pipeline pause/resume` and with runs, so it would
report drift nobody made. The field is `ignore_remote_changes`: a plan compares the declaration
with the value last applied (a second apply writes nothing; a changed declaration is an update
that sends it), drift never reports it, and adopting an existing schedule sends it once, since
what Studio holds cannot be known. A create sends it with an `update-schedule` right after (the
create RPC has no such field). Within one run, the value written is what the read-back shows.

`cron_expression` is compared trimmed, with runs of blanks as one; `start_after` as the instant
it names, in UTC (Studio answers `…Z` with microseconds). `created_at`, `updated_at`,
`next_run`, `latest_run` and `created_by` are Studio's own (§4). The listing (`GET
pipeline/schedules`) is the read; its items carry no pipeline in the seed (§1.4). The pipeline
is found from the pipeline listing the data source reads anyway: a definition names the newest
schedule that targets it (`schedule_name`, the sandbox's reading of that field, DECISIONS.md
"Pipelines and schedules"). Only a schedule no definition names (an older one of a pipeline with
several) is read on its own with `GET pipeline/schedule`, one request for each such schedule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, Strict, field_validator

from platforge.core.kind import Context
from platforge.core.model import Created, LiveObject, ObjectRef, Resource
from platforge.core.rules import FieldRule
from platforge.core.schema import StrictBool, StrictStr, expects

from ..._kit.client import NotFound
from .common import (
    FreshReads,
    Spec,
    StudioKind,
    StudioName,
    cached,
    client,
    definitions_scheduled_as,
    forget,
    ignore_missing,
    pipeline_name_of,
    pipeline_named,
)

#: The run's record of the `pause_pipeline` values written (schedule id -> value).
WRITTEN_PAUSE = "studio:written-pause"
#: The run's record of the pipelines its creates targeted (schedule id -> pipeline name): a
#: schedule's listing item does not name its pipeline, and the pipeline listing read before the
#: create does not name the schedule yet, so without it each read-back would cost a GET.
WRITTEN_PIPELINE = "studio:written-pipeline"


def cron_of(value: Any) -> Any:
    """A cron expression as compared: trimmed, blanks between fields as one space."""
    return " ".join(value.split()) if isinstance(value, str) else value


def instant_of(value: Any) -> Any:
    """An ISO-8601 instant as compared: UTC, `Z`, microseconds only when there are some."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            return value
    else:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


class PipelineScheduleSpec(Spec):
    schedule_name: StudioName
    pipeline: StudioName = Field(json_schema_extra=expects("the name of a pipeline of the team, such as \"rathe-kyat\""))
    cron_expression: StrictStr = Field(json_schema_extra=expects('a cron expression such as "0 0 * * *" or "@daily"'))
    start_after: Annotated[datetime, Strict()] | StudioName | None = Field(
        default=None, json_schema_extra=expects("a date-time with its time zone, such as 2026-01-01T00:00:00Z"))
    pause_pipeline: StrictBool | None = None

    @field_validator("cron_expression")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) == 1 and fields[0].startswith("@"):
            return fields[0]  # a macro such as @daily
        if not 5 <= len(fields) <= 6:
            raise ValueError(f"a cron expression has 5 fields (minute hour day month weekday); found {len(fields)}")
        return " ".join(fields)

    @field_validator("start_after")
    @classmethod
    def _instant(cls, value: datetime | str | None) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
            except ValueError:
                raise ValueError("expected an ISO-8601 date-time such as 2026-01-01T00:00:00Z") from None
        else:
            moment = value
        if moment.tzinfo is None:
            raise ValueError("a date-time needs its time zone (Z or +hh:mm): Studio would read it in its own")
        result: str = instant_of(moment)
        return result


class PipelineScheduleKind(FreshReads, StudioKind):
    name = "pipeline_schedule"
    spec_model = PipelineScheduleSpec
    identity_fields = ("schedule_name",)
    identified_by_id = True
    field_rules = {
        "pipeline": FieldRule(replace=True),  # update-schedule takes no pipeline
        "pause_pipeline": FieldRule(ignore_remote_changes=True),  # write-only: compared with the last applied
    }

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return ("schedules",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("schedule_name", name)
        return raw

    def desired(self, ctx: Context, resource: Resource) -> Resource:
        """The pipeline must be one of the team's (a plan error at the declaration otherwise)."""
        pipeline_named(ctx, resource, resource.spec["pipeline"])
        return resource

    # ---- live state --------------------------------------------------------------------

    def _written(self, ctx: Context) -> dict[Any, bool]:
        result: dict[Any, bool] = ctx.cached(WRITTEN_PAUSE, dict)
        return result

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        rows = cached(ctx, "schedules", lambda: [s for s in client(ctx).list_schedules() if s.get("id") is not None])
        return [live for live in (self._live(ctx, row) for row in rows) if live is not None]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        """One schedule by its id (`GET pipeline/schedule`, S4), as Studio shows one: refreshing
        or importing a schedule costs one request, not a listing of the team's schedules."""
        if ref.platform_id is None or not str(ref.platform_id).isdigit():
            return super().read(ctx, ref)
        forget(ctx, f"schedule:{ref.platform_id}")
        try:
            row = client(ctx).get_schedule(int(str(ref.platform_id)))
        except NotFound:
            return None
        return self._live(ctx, row) if isinstance(row, dict) and row.get("id") is not None else None

    def _live(self, ctx: Context, row: dict[str, Any]) -> LiveObject | None:
        if not isinstance(row.get("schedule_name"), str):
            return None
        fields: dict[str, Any] = {
            "schedule_name": row["schedule_name"], "pipeline": self._pipeline_of(ctx, row),
            "cron_expression": cron_of(row.get("cron_expression")), "start_after": instant_of(row.get("start_after")),
        }
        written = self._written(ctx)
        if row["id"] in written:
            fields["pause_pipeline"] = written[row["id"]]
        return LiveObject(kind=self.name, identity=(row["schedule_name"],), fields=fields, platform_id=row["id"],
                          extra={"row": row})

    def _pipeline_of(self, ctx: Context, row: dict[str, Any]) -> str | None:
        """The name of the schedule's pipeline: from the listing's item when it carries one, else
        from the schedule itself (`GET pipeline/schedule`, cached for the run)."""
        pipeline = row.get("pipeline")
        if isinstance(pipeline, dict):
            if isinstance(pipeline.get("name"), str):
                return str(pipeline["name"])
            if pipeline.get("pipeline_id"):
                return pipeline_name_of(ctx, pipeline["pipeline_id"])
        if isinstance(row.get("pipeline_name"), str):
            return str(row["pipeline_name"])
        if row.get("pipeline_id"):
            return pipeline_name_of(ctx, row["pipeline_id"])
        written = ctx.cached(WRITTEN_PIPELINE, dict)
        if row["id"] in written:
            return str(written[row["id"]])
        # A definition names the newest schedule that targets it (`schedule_name`); schedule names
        # are unique in a team, so that names the pipeline of most schedules from one listing.
        targets = definitions_scheduled_as(ctx, row["schedule_name"])
        if len(targets) == 1:
            return str(targets[0]["name"])
        one = cached(ctx, f"schedule:{row['id']}", lambda: client(ctx).get_schedule(row["id"]))
        inner = one.get("pipeline") if isinstance(one, dict) else None
        return str(inner["name"]) if isinstance(inner, dict) and isinstance(inner.get("name"), str) else None

    # ---- writes ------------------------------------------------------------------------

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        pipeline = pipeline_named(ctx, resource, spec["pipeline"])
        body: dict[str, Any] = {"schedule_name": spec["schedule_name"], "pipeline_id": pipeline["pipeline_id"],
                                "pipeline_name": pipeline["name"]}
        body["cron_expression"] = spec["cron_expression"]
        if spec.get("start_after") is not None:
            body["start_after"] = spec["start_after"]
        created = client(ctx).create_schedule(body)
        schedule_id = created["id"]
        ctx.cached(WRITTEN_PIPELINE, dict)[schedule_id] = pipeline["name"]
        forget(ctx, "schedules")
        if spec.get("pause_pipeline") is not None:
            client(ctx).update_schedule(schedule_id, {"schedule_name": spec["schedule_name"],
                                                      "pause_pipeline": spec["pause_pipeline"]})
            self._written(ctx)[schedule_id] = spec["pause_pipeline"]
        return Created(platform_id=schedule_id)

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        spec = resource.spec
        row: dict[str, Any] = live.extra.get("row") or {}
        body: dict[str, Any] = {"schedule_name": spec["schedule_name"]}
        for name in ("start_after", "cron_expression"):
            value = spec.get(name) if name in changed and spec.get(name) is not None else row.get(name)
            if value is not None:
                body[name] = value
        if "pause_pipeline" in changed and spec.get("pause_pipeline") is not None:
            body["pause_pipeline"] = spec["pause_pipeline"]
        client(ctx).update_schedule(live.platform_id, body)
        if spec.get("pause_pipeline") is not None:
            # Sent now, or (unchanged) as last applied: either way what the schedule holds.
            self._written(ctx)[live.platform_id] = spec["pause_pipeline"]
        forget(ctx, "schedules", f"schedule:{live.platform_id}")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is not None:
            ignore_missing(lambda: client(ctx).delete_schedule(platform_id))
            self._written(ctx).pop(platform_id, None)
        forget(ctx, "schedules")


__all__ = ["PipelineScheduleKind", "PipelineScheduleSpec", "cron_of", "instant_of"]
