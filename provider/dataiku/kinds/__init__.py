"""Dataiku DSS kinds for the reconcile core, one module per kind (schema, identity, field rules,
list/read/create/update/delete), in the order the core should consider them: groups before the
users, connections and keys that name them; projects before what lives in them."""

from __future__ import annotations

from .api_key import GlobalApiKeyKind
from .code_env import CodeEnvKind
from .connection import ConnectionKind
from .grant import ProjectGroupGrantKind
from .group import GroupKind
from .project import ProjectKind
from .scenario import ScenarioKind
from .user import UserKind
from .variables import InstanceVariableKind, ProjectVariablesKind

__all__ = ["CodeEnvKind", "ConnectionKind", "GlobalApiKeyKind", "GroupKind", "InstanceVariableKind",
           "ProjectGroupGrantKind", "ProjectKind", "ProjectVariablesKind", "ScenarioKind", "UserKind"]
