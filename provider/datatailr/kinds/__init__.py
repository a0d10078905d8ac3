"""Datatailr kinds for the reconcile core, one module per kind (schema, identity, field rules,
list/read/create/update/delete), in the order the core should consider them."""

from __future__ import annotations

from .group import GroupKind
from .job import AppKind, ExcelAddinKind, JobKind, ServiceKind, WorkflowKind
from .kv import KvKind, SecretKind
from .membership import GroupMembershipKind
from .promotion import PromotionKind
from .user import UserKind

__all__ = ["AppKind", "ExcelAddinKind", "GroupKind", "GroupMembershipKind", "JobKind", "KvKind", "PromotionKind",
           "SecretKind", "ServiceKind", "UserKind", "WorkflowKind"]
