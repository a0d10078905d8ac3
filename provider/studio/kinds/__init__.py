"""Studio kinds for the reconcile core, one module per kind (schema, identity, field rules,
list/create/update/delete), in the order the core should consider them: access groups first,
then what names a group (members, rules), then the schedules of pipelines."""

from __future__ import annotations

from .access_group import AccessGroupKind
from .access_group_member import AccessGroupMemberKind
from .access_rule import AccessRuleKind
from .pipeline_schedule import PipelineScheduleKind

__all__ = ["AccessGroupKind", "AccessGroupMemberKind", "AccessRuleKind", "PipelineScheduleKind"]
