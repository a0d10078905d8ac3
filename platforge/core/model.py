"""The vocabulary of the core: declared resources, live objects, actions and field changes.

Everything here is plain data so that plans, state and reports serialise to JSON without a
custom encoder, and so that the CLI and the Pulumi front door can share one plan shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

#: An object's natural key on its platform, e.g. ("alice",) or ("prod", "warehouse/url").
Identity = tuple[Any, ...]


class Op(str, Enum):
    CREATE = "create"
    #: Take over an existing object the stack does not own yet (with any field changes it needs).
    #: Only with consent: `--adopt ADDRESS` or the stack's `[adopt]` table.
    IMPORT = "import"
    UPDATE = "update"
    #: A new version of a versioned object (a job's save): its own operation, since it produces
    #: a version number later actions may use, and leaves the older versions in place.
    SAVE = "save"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"


class Cause(str, Enum):
    """Why live differs from what it should be (drift report causes)."""

    DECLARED_CHANGE = "declared_change"  # the stack changed and was not applied yet
    OUT_OF_BAND = "out_of_band"  # somebody changed a managed field on the platform
    UNMANAGED = "unmanaged"  # exists live, never owned by this stack
    MISSING = "missing"  # owned by this stack, gone from the platform
    NOT_OBSERVABLE = "not_observable"  # the platform cannot show it: applied, but unverifiable


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

    @cached_property
    def address(self) -> str:
        """Kept once made: a plan asks each resource for it about ten times (a resource's kind
        and name never change; a changed copy is a new Resource)."""
        return f"{self.kind}.{self.name}"

    def __getstate__(self) -> dict[str, Any]:
        """A pickle (Pulumi pickles what its dynamic providers hold, multiprocessing pickles
        arguments) carries no secret value: the copy must resolve its secrets again."""
        state = dict(self.__dict__)
        state["secrets"] = {}
        return state


def address_of(kind: str, identity: Identity | list[Any]) -> str:
    """The address of an object known only by its identity (unmanaged, or owned and no longer
    declared): the same `kind.name` form as a declared one, parts of a composite identity
    joined with `/` (`kv.prod/warehouse/url`)."""
    return f"{kind}.{'/'.join(str(part) for part in identity)}"


class Observability(str, Enum):
    """What a platform lets a kind read back."""

    FULL = "full"  # list and read return every field, secrets included (fingerprinted)
    SECRETS_WRITE_ONLY = "secrets_write_only"  # every field but sensitive values
    NONE = "none"  # deploy-only: never read; planned from the last applied state


@dataclass(frozen=True)
class ObjectRef:
    """How a kind is told which object to read, update or delete: its natural key and, where
    the platform assigns one and the state knows it, its id."""

    identity: Identity
    platform_id: Any = None


@dataclass
class Created:
    """What a create (or a save) returns: the id the platform assigned, the revision (version)
    it produced, and values the platform shows only once (an API key's secret), which are
    handed to the caller and never stored."""

    platform_id: Any = None
    revision: Any = None
    shown_once: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class DocumentWrite:
    """One action's part of a write to a document several objects share (`Kind.document_of`):
    a create or an update of `resource` (`changed`: the fields an update changes), or a delete
    of `ref` (`resource` is None)."""

    op: Op
    ref: ObjectRef
    resource: Resource | None
    changed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Readiness:
    """Whether an object a write produced is usable yet (a job built, a delete finished)."""

    ready: bool
    failed: str | None = None  # why it will never become ready (a permanent failure)

    @classmethod
    def pending(cls) -> Readiness:
        return cls(False)

    @classmethod
    def done(cls) -> Readiness:
        return cls(True)

    @classmethod
    def failure(cls, reason: str) -> Readiness:
        return cls(False, reason)


@dataclass(frozen=True)
class RunStatus:
    """What an alive probe (`Kind.probe`) found for an object the platform cannot show: the
    status of its last *run* (a job's, a pipeline's), never the object's own state. `status` is
    the platform's word ("SUCCESS", "FAILED"), "never_run" when it has no run, or "unknown" when
    the probe failed (`error` says why)."""

    status: str
    run_id: str | None = None
    at: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "run_id": self.run_id, "at": self.at}
        if self.error:
            data["error"] = self.error
        return data


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
    #: The version the platform reports for a versioned object (None for others).
    revision: Any = None
    #: An empty default the platform made along with its parent (a new project's variables
    #: document): it holds nothing of anyone's, so declaring it takes it over without consent,
    #: and it is never reported as unmanaged.
    placeholder: bool = False

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.identity, self.platform_id)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: `old` is what the platform holds now, `new` what the stack
    declares, and `reason` why they differ (a code, see REASONS)."""

    path: str
    old: Any
    new: Any
    sensitive: bool = False
    forces_replace: bool = False
    reason: str = ""
    #: The change needs a new version of the object (a save), not an in-place update.
    new_version: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "old": self.old, "new": self.new, "sensitive": self.sensitive,
                                "forces_replace": self.forces_replace}
        if self.sensitive:
            data["old"] = data["new"] = "(sensitive)"
        if self.reason:
            data["reason"] = self.reason
        if self.new_version:
            data["new_version"] = True
        return data


#: Why a field differs, as FieldChange.reason says it.
REASONS: dict[str, str] = {
    "create": "set by the create",
    "declared": "the declaration changed since the last apply",
    "remote": "changed on the platform since the last apply",
    "both": "changed in the declaration and on the platform since the last apply",
    "no_history": "differs, and there is no last apply to say which side changed",
    "after_apply": "depends on a value another action of this apply produces",
}


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
    #: For a replace whose identity changes (a rename, or a move to another kind of the same
    #: identity space): the object it replaces, {"address", "kind", "identity", "platform_id"}.
    replaces: dict[str, Any] | None = None
    #: Why this delete needs its own confirmation (`--confirm-delete ADDRESS`), and whether it
    #: was given.
    confirm: str | None = None
    confirmed: bool = False
    #: For an action that deletes (a delete, or a replace of the old object) of a kind whose
    #: delete is not a removal (`Kind.delete_verb`): {"verb": "archive", "note": ...}.
    delete_as: dict[str, str] | None = None

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
        if self.replaces:
            data["replaces"] = {**self.replaces, "identity": list(self.replaces["identity"])}
        if self.confirm:
            data["confirm"] = self.confirm
            data["confirmed"] = self.confirmed
        if self.delete_as:
            data["delete_as"] = dict(self.delete_as)
        return data
