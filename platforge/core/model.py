"""The vocabulary of the core: declared resources, live objects, actions and field changes.

Everything here is plain data so that plans, state and reports serialise to JSON without a
custom encoder, and so that the CLI and the Pulumi front door can share one plan shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Op(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"


class Cause(str, Enum):
    """Why live differs from what it should be (drift report causes)."""

    DECLARED_CHANGE = "declared_change"  # the stack changed and was not applied yet
    OUT_OF_BAND = "out_of_band"  # somebody changed a managed field on the platform
    UNMANAGED = "unmanaged"  # exists live, never owned by this stack
    MISSING = "missing"  # owned by this stack, gone from the platform


@dataclass(frozen=True)
class SourceLocation:
    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Ref:
    """A reference from one declared resource to another, by kind and name."""

    kind: str
    name: str

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.name}"


@dataclass
class Resource:
    """One declared object: what the stack says should exist.

    `spec` is the kind's canonical desired form (after validation), `secrets` the resolved
    values of sensitive fields: they are never written to a plan, state or report.
    """

    kind: str
    name: str
    spec: dict[str, Any]
    identity: tuple
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    refs: tuple[Ref, ...] = ()
    source: SourceLocation | None = None

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.name}"


@dataclass
class LiveObject:
    """One object as read from the platform, in the kind's canonical form.

    `fields` compare directly with a Resource's `spec`; `platform_id` is whatever the platform
    calls it by (a numeric id, a UUID) and is kept in state; `fingerprints` hold keyed hashes of
    sensitive values the kind could read back, `extra` anything a kind needs to update it.
    """

    kind: str
    identity: tuple
    fields: dict[str, Any]
    platform_id: Any = None
    fingerprints: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    builtin: bool = False


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any
    sensitive: bool = False
    forces_replace: bool = False

    def to_json(self) -> dict[str, Any]:
        if self.sensitive:
            return {"path": self.path, "old": "(sensitive)", "new": "(sensitive)", "sensitive": True,
                    "forces_replace": self.forces_replace}
        return {"path": self.path, "old": self.old, "new": self.new, "sensitive": False,
                "forces_replace": self.forces_replace}


@dataclass
class Action:
    address: str
    kind: str
    identity: tuple
    op: Op
    reason: str
    changes: list[FieldChange] = field(default_factory=list)
    platform_id: Any = None
    level: int = 0
    destructive: bool = False  # deletes of users and groups are shown prominently

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "identity": list(self.identity),
            "op": self.op.value,
            "reason": self.reason,
            "platform_id": self.platform_id,
            "level": self.level,
            "destructive": self.destructive,
            "changes": [c.to_json() for c in self.changes],
        }
