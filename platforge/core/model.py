"""The vocabulary of the core: declared resources, live objects, actions and field changes.

Everything here is plain data so that plans, state and reports serialise to JSON without a
custom encoder, and so that the CLI and the Pulumi front door can share one plan shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

#: An object's natural key on its platform, e.g. ("alice",) or ("prod", "warehouse/url").
Identity = tuple[Any, ...]


class Op(str, Enum):
    CREATE = "create"
    #: Take over an existing object the stack does not own yet (with any field changes it needs).
    #: Only with consent: `--adopt ADDRESS` or the stack's `[adopt]` table.
    IMPORT = "import"
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
    identity: Identity
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    refs: tuple[Ref, ...] = ()
    source: SourceLocation | None = None
    #: Create-only secret references (an initial password), resolved only when the object is
    #: about to be created, so that planning existing objects needs no such variable.
    deferred: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.name}"


def address_of(kind: str, identity: Identity | list[Any]) -> str:
    """The address of an object known only by its identity (unmanaged, or owned and no longer
    declared): the same `kind.name` form as a declared one, parts of a composite identity
    joined with `/` (`kv.prod/warehouse/url`)."""
    return f"{kind}.{'/'.join(str(part) for part in identity)}"


@dataclass
class LiveObject:
    """One object as read from the platform, in the kind's canonical form.

    `fields` compare directly with a Resource's `spec`; `platform_id` is whatever the platform
    calls it by (a numeric id, a UUID) and is kept in state; `fingerprints` hold keyed hashes of
    sensitive values the kind could read back, `extra` anything a kind needs to update it.
    """

    kind: str
    identity: Identity
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
    identity: Identity
    op: Op
    reason: str
    changes: list[FieldChange] = field(default_factory=list)
    platform_id: Any = None
    level: int = 0
    destructive: bool = False  # deletes of users and groups are shown prominently
    #: For an import: whether the stack consented to take the object over.
    adopt: bool = False
    #: Why apply must refuse this action whatever the consent (e.g. a secret whose readers
    #: someone else controls); apply checks every action before its first write.
    blocked: str | None = None
    #: For an import: what the platform holds now (non-sensitive fields), so a reviewer sees
    #: what is being taken over.
    live: dict[str, Any] | None = None

    @property
    def forces_replace(self) -> bool:
        return any(c.forces_replace for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
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
        if self.op is Op.IMPORT:
            data["adopt"] = self.adopt
            data["live"] = self.live
        if self.blocked:
            data["blocked"] = self.blocked
        return data
