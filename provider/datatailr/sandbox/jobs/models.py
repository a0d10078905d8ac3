"""Request models of the job routes: hyphenated wire keys, and numbers that may arrive as strings
(the SDK's CLI sends every option as text). Validation beyond the wire types lives in
`definition` and `values`, so that a bad value gets the field-naming message, not pydantic's."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..fields import Paging, Text, unquote
from ..wire import WireModel

Number = Text | int


class SaveBody(WireModel):
    data: Any = None
    repo_archive_b64: str | None = None
    repo_dir_name: Text | None = None
    repo_module_path: Text | None = None
    local_hostname: Text | None = None
    at_minutes: Number | None = Field(None, alias="at-minutes")
    every_minute: Number | None = Field(None, alias="every-minute")
    at_hours: Number | None = Field(None, alias="at-hours")
    every_hour: Number | None = Field(None, alias="every-hour")
    weekdays: Text | None = None
    day_of_month: Number | None = Field(None, alias="day-of-month")
    in_month: Text | None = Field(None, alias="in-month")
    every_month: Number | None = Field(None, alias="every-month")
    timezone: Text | None = None


class JobRef(WireModel):
    job_name: Text
    environment: Text | None = None

    @property
    def name(self) -> str:
        """The SDK wraps a positional containing a space in literal quotes (contract §7.2.2)."""
        return unquote(self.job_name)


class StartBody(JobRef):
    version: Number | None = None
    now: bool = False
    run_date: Text | None = Field(None, alias="run-date")


class StopBody(JobRef):
    by_run_id: bool = Field(False, alias="by-run-id")


class RemoveBody(JobRef):
    version: Number | None = None
    all: bool = False


class PromoteBody(JobRef):
    version: Number
    environment: Text


class ModifyBody(JobRef):
    version: Number | None = None
    child: Number | None = None
    schedule: Text | None = None
    memory: Number | None = None
    num_cpus: Text | int | float | None = Field(None, alias="num-cpus")
    display_name: Text | None = Field(None, alias="display-name")
    app_section: Text | None = Field(None, alias="app-section")
    users: Text | None = None
    groups: Text | None = None
    others: Text | None = None
    run_as: Text | None = Field(None, alias="run-as")


class RerunBody(WireModel):
    run_id: Number = Field(alias="run-id")
    version: Number | None = None
    full: bool = False


class JobQuery(JobRef):
    version: Text | None = None
    show_children: bool = Field(False, alias="show-children")
    build_logs: Text | None = Field(None, alias="build-logs")


class LsQuery(Paging):
    all: bool = False
    show_children: bool = Field(False, alias="show-children")


class CronQuery(WireModel):
    at_minutes: Text | None = Field(None, alias="at-minutes")
    every_minute: Text | None = Field(None, alias="every-minute")
    at_hours: Text | None = Field(None, alias="at-hours")
    every_hour: Text | None = Field(None, alias="every-hour")
    weekdays: Text | None = None
    day_of_month: Text | None = Field(None, alias="day-of-month")
    in_month: Text | None = Field(None, alias="in-month")
    every_month: Text | None = Field(None, alias="every-month")
