"""`workflow` (version "2"): triggers `target_dag` when every job of `authorized_job_ids` has
succeeded (§1.6). `target_dag.configuration_id` is the *deployed* id of the target."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import CommonSpec, NonEmpty, Spec, TailerKind, Text


class TargetDag(Spec):
    configuration_type: NonEmpty
    configuration_id: NonEmpty


class WorkflowSpec(CommonSpec):
    configuration_type_value = "workflow"

    version: Literal["2"]
    gcp_project_id: NonEmpty
    authorized_job_ids: list[NonEmpty] = Field(min_length=1)
    target_dag: TargetDag
    schedule_interval_reset: Text | None = None


class WorkflowKind(TailerKind):
    name = "workflow"
    configuration_type = "workflow"
    spec_model = WorkflowSpec
    has_project = True
