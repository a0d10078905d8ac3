"""Kind `scenario`: a DSS scenario and its time-based triggers (DSS's schedules).

    [scenario.nightly]
    project = "MYPROJ"
    name = "Nightly build"
    active = true
    [[scenario.nightly.triggers]]
    frequency = "Daily"                 # Minutely, Hourly, Daily, Weekly, Monthly
    hour = 3
    minute = 15
    timezone = "UTC"
    [[scenario.nightly.triggers]]
    frequency = "Weekly"
    days_of_week = ["Monday", "Thursday"]

DSS assigns a scenario's id from its name at creation (contract §1.2 Scenario) and names need
not be unique, so the kind is `identified_by_id`: the id is kept in the state (as
`PROJECT/ID`), a rename is an update of the same scenario, and an existing scenario is adopted by
name only when exactly one in the project has that name.

`triggers` owns the scenario's `temporal` triggers, in order; every other trigger (dataset
changes, SQL, custom) and every other part of the document (steps, reporters, tags) is written
back as read. A declared trigger takes the place of the live temporal trigger at the same
position, keeping its server-assigned `id`, `name`, `delay` and unknown parameters. What DSS fills
in when a trigger leaves it out (`timezone = "SERVER"`, `repeat_frequency = 1`, the start date)
is no difference (`server_defaults`).

The scenario listing carries no triggers, so each scenario of a declared project costs one
document read per plan (cached for the run).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from platforge.core.kind import Context
from platforge.core.model import Created, LiveObject, ObjectRef, Ref, Resource
from platforge.core.rules import ANY, FieldRule
from platforge.core.schema import Name, StrictBool, StrictInt, expects

from .common import DssKind, ProjectKey, ProjectScoped, Spec, client, document_or_none, forget, ignore_missing, read_each

Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
#: Trigger field -> key of the trigger's `params`.
PARAMS = {"frequency": "frequency", "repeat_frequency": "repeatFrequency", "hour": "hour", "minute": "minute",
          "days_of_week": "daysOfWeek", "monthly_run_on": "monthlyRunOn", "starting_from": "startingFrom",
          "timezone": "timezone"}


class TemporalTrigger(Spec):
    frequency: Literal["Minutely", "Hourly", "Daily", "Weekly", "Monthly"]
    repeat_frequency: StrictInt | None = Field(default=None, ge=1, json_schema_extra=expects("a positive integer"))
    hour: StrictInt | None = Field(default=None, ge=0, le=23, json_schema_extra=expects("an hour from 0 to 23"))
    minute: StrictInt | None = Field(default=None, ge=0, le=59, json_schema_extra=expects("a minute from 0 to 59"))
    days_of_week: list[Weekday] | None = None
    monthly_run_on: Literal["ON_THE_DAY", "LAST_DAY_OF_THE_MONTH", "FIRST_WEEK", "SECOND_WEEK", "THIRD_WEEK",
                            "FOURTH_WEEK", "LAST_WEEK"] | None = None
    starting_from: Name | None = None
    timezone: Name | None = None
    active: StrictBool | None = None


class ScenarioSpec(Spec):
    project: ProjectKey
    name: Name
    type: Literal["step_based", "custom_python"] = "step_based"
    active: StrictBool | None = None
    triggers: list[TemporalTrigger] | None = None


def _split(platform_id: Any) -> tuple[str, str]:
    project, _, scenario_id = str(platform_id).partition("/")
    return project, scenario_id


def _live_trigger(trigger: Mapping[str, Any]) -> dict[str, Any]:
    params = trigger.get("params") if isinstance(trigger.get("params"), dict) else {}
    out = {name: params[key] for name, key in PARAMS.items() if key in params}
    if "active" in trigger:
        out["active"] = trigger["active"]
    return out


def _is_temporal(trigger: Any) -> bool:
    return isinstance(trigger, dict) and trigger.get("type") == "temporal"


def merged_triggers(live: list[Any], declared: list[Mapping[str, Any]]) -> list[Any]:
    """The live trigger list with its temporal triggers replaced, in order, by `declared`:
    the i-th declared trigger reuses the i-th live temporal one (its id, name, delay, unknown
    keys and unknown params); other triggers keep their places; extra declared ones are appended."""
    wanted = iter(declared)
    out: list[Any] = []
    for trigger in live:
        if not _is_temporal(trigger):
            out.append(copy.deepcopy(trigger))
            continue
        spec = next(wanted, None)
        if spec is not None:
            out.append(_trigger(spec, trigger))
    out.extend(_trigger(spec, None) for spec in wanted)
    return out


def _trigger(spec: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    trigger = copy.deepcopy(dict(previous or {}))
    old_params = trigger.get("params") if isinstance(trigger.get("params"), dict) else {}
    params = {k: v for k, v in old_params.items() if k not in PARAMS.values()}  # unknown params stay
    params.update({key: copy.deepcopy(spec[name]) for name, key in PARAMS.items() if name in spec})
    trigger.update({"type": "temporal", "active": spec.get("active", True), "params": params})
    return trigger


class ScenarioKind(ProjectScoped, DssKind):
    name = "scenario"
    spec_model = ScenarioSpec
    identity_fields = ("project", "name")
    identified_by_id = True
    field_rules = {
        "type": FieldRule(replace=True),
        "triggers": FieldRule(server_defaults={
            "*.active": True, "*.timezone": "SERVER", "*.repeat_frequency": 1, "*.starting_from": ANY,
            "*.hour": 0, "*.minute": 0, "*.days_of_week": [],
        }),
    }

    def canonical_spec(self, model: ScenarioSpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        spec["type"] = model.type
        return spec

    def references(self, model: ScenarioSpec) -> list[Ref]:  # type: ignore[override]
        return [Ref("project", model.project)]


    # ---- live state ----------------------------------------------------------------------

    def list_in(self, ctx: Context, scope: Any) -> list[LiveObject]:
        api = client(ctx)
        items = document_or_none(ctx, f"scenarios:{scope}", lambda: api.list_scenarios(scope)) or []
        ids = [str(item["id"]) for item in items if isinstance(item, dict) and item.get("id")]
        documents = read_each(lambda scenario_id: self._document(ctx, scope, scenario_id), ids)
        return [self._live(scope, document) for document in documents if document is not None]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        """By id, one document read; without an id, from the project's listing."""
        if ref.platform_id is None:
            forget(ctx, f"scenarios:{ref.identity[0]}")
            ctx.invalidate_prefix(f"dataiku:scenario:{ref.identity[0]}/")
            return super().read(ctx, ref)
        project, scenario_id = _split(ref.platform_id)
        forget(ctx, f"scenario:{project}/{scenario_id}")
        document = self._document(ctx, project, scenario_id)
        return None if document is None else self._live(project, document)

    def _document(self, ctx: Context, project: str, scenario_id: str) -> dict[str, Any] | None:
        api = client(ctx)
        result: dict[str, Any] | None = document_or_none(
            ctx, f"scenario:{project}/{scenario_id}", lambda: api.get_scenario(project, scenario_id))
        return result

    def _live(self, project: str, document: dict[str, Any]) -> LiveObject:
        triggers = [_live_trigger(t) for t in document.get("triggers") or () if _is_temporal(t)]
        fields = {"project": project, "name": document.get("name"), "type": document.get("type"),
                  "active": document.get("active"), "triggers": triggers}
        return LiveObject(kind=self.name, identity=(project, document.get("name")), fields=fields,
                          platform_id=f"{project}/{document['id']}")

    # ---- writes --------------------------------------------------------------------------

    def _write(self, ctx: Context, project: str, scenario_id: str, spec: Mapping[str, Any], changed: set[str]) -> None:
        api = client(ctx)
        document = api.get_scenario(project, scenario_id)
        if "name" in changed:
            document["name"] = spec["name"]
        if "active" in changed and "active" in spec:
            document["active"] = spec["active"]
        if "triggers" in changed and "triggers" in spec:
            document["triggers"] = merged_triggers(list(document.get("triggers") or ()), spec["triggers"])
        api.put_scenario(project, scenario_id, document)
        self._forget(ctx, project, scenario_id)

    def _forget(self, ctx: Context, project: str, scenario_id: str) -> None:
        forget(ctx, f"scenarios:{project}", f"scenario:{project}/{scenario_id}")

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        project = spec["project"]
        definition: dict[str, Any] = {}
        if "active" in spec:
            definition["active"] = spec["active"]
        if "triggers" in spec:
            definition["triggers"] = merged_triggers([], spec["triggers"])
        scenario_id = client(ctx).create_scenario(project, spec["name"], spec["type"], definition)
        self._forget(ctx, project, scenario_id)
        return Created(platform_id=f"{project}/{scenario_id}")

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        project, scenario_id = _split(live.platform_id)
        self._write(ctx, project, scenario_id, resource.spec, changed)

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is None:
            return
        project, scenario_id = _split(platform_id)
        ignore_missing(lambda: client(ctx).delete_scenario(project, scenario_id))
        self._forget(ctx, project, scenario_id)


__all__ = ["ScenarioKind", "merged_triggers"]
