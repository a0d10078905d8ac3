"""Datatailr kinds for the reconcile core, one module per kind (schema, identity, field rules,
list/read/create/update/delete), in the order the core should consider them."""

from __future__ import annotations

from .group import GroupKind
from .kv import KvKind, SecretKind
from .membership import GroupMembershipKind
from .user import UserKind

__all__ = ["GroupKind", "GroupMembershipKind", "KvKind", "SecretKind", "UserKind"]
