"""Dataloop kinds for the reconcile core, one module per kind (schema, identity, field rules,
list/read/create/update/delete), in the order the core should consider them: the organisation's
members and integrations and the projects first, then what lives in a project (role bindings,
datasets, services), then what calls services (triggers, pipelines)."""

from __future__ import annotations

from .dataset import DatasetKind
from .integration import IntegrationKind
from .org_member import OrgMemberKind
from .pipeline import PipelineKind
from .project import ProjectKind
from .project_member import ProjectMemberKind
from .service import ServiceKind
from .trigger import TriggerKind

__all__ = ["DatasetKind", "IntegrationKind", "OrgMemberKind", "PipelineKind", "ProjectKind", "ProjectMemberKind",
           "ServiceKind", "TriggerKind"]
