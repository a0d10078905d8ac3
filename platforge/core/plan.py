"""Planning: compare declared with live, level-triggered, and say what apply would do.

The plan never compares with the previous commit: it reads live state (list calls, one per kind
per page), normalises both sides through the kind, and diffs. State is consulted only for
ownership (what may be pruned, what is unmanaged) and for fingerprints of secrets a platform
cannot read back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from .diff import changes_against_live
from .graph import dependency_levels
from .kind import Context, Kind
from .model import Action, LiveObject, Op, Resource
from .state import State

PLAN_FORMAT = "platforge.plan/v1"


class Platform(Protocol):
    """What the core needs from a platform: its kinds (in dependency-friendly order: a kind
    comes after the kinds it refers to), how to connect, and where state can live on it."""

    name: str
    kinds: Mapping[str, Kind]
    #: How out-of-band changes to secrets are detected, said in drift reports.
    secret_detection: str

    def validate_stack(self, resources: list[Resource]) -> list[Any]:
        """Cross-resource rules (e.g. one owner per collection); returns core.errors.Problem."""

    def connect(self, config: Any, endpoint: str | None = None) -> Any:
        """A logged-in client, with credentials from the environment variables `config` names."""

    def settings(self, config: Any, resources: list[Resource]) -> dict[str, Any]:
        """Values kinds read from `Context.settings` (e.g. the default environment)."""

    def endpoint_of(self, client: Any) -> str: ...

    def object_store(self, client: Any, config: Any) -> Any:
        """A core.state.ObjectStore on the platform, for the `platform` state backend."""

    def is_transient(self, exc: Exception) -> bool:
        """Whether a failed write may succeed if decided again from live state (5xx, timeouts)."""


@dataclass
class Target:
    """Where a plan applies: recorded in plans and reports, checked when a plan is reused."""

    platform: str
    endpoint: str
    environment: str
    stack: str

    def to_json(self) -> dict[str, str]:
        return {"platform": self.platform, "endpoint": self.endpoint, "environment": self.environment,
                "stack": self.stack}


@dataclass
class UnmanagedObject:
    kind: str
    identity: tuple
    platform_id: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "identity": list(self.identity), "platform_id": self.platform_id}


@dataclass
class LiveView:
    """Everything read from the platform for one plan, keyed by (kind, identity)."""

    objects: dict[tuple[str, tuple], LiveObject] = field(default_factory=dict)
    listed_kinds: set[str] = field(default_factory=set)

    def get(self, kind: str, identity: tuple) -> LiveObject | None:
        return self.objects.get((kind, tuple(identity)))


@dataclass
class Plan:
    target: Target
    actions: list[Action]
    unmanaged: list[UnmanagedObject]
    orphans: list[str]  # owned, no longer declared, kept because --prune was not given
    live_digest: str
    desired_digest: str
    prune: bool
    state_lineage: str | None
    state_serial: int | None
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.op is not Op.NOOP]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def summary(self) -> dict[str, int]:
        counts = {op.value: 0 for op in Op}
        for action in self.actions:
            counts[action.op.value] += 1
        counts["unmanaged"] = len(self.unmanaged)
        counts["orphaned"] = len(self.orphans)
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "created_at": self.created_at,
            "target": self.target.to_json(),
            "prune": self.prune,
            "state": {"lineage": self.state_lineage, "serial": self.state_serial},
            "live_digest": self.live_digest,
            "desired_digest": self.desired_digest,
            "summary": self.summary(),
            "actions": [a.to_json() for a in self.actions],
            "unmanaged": [u.to_json() for u in self.unmanaged],
            "orphans": self.orphans,
        }


def read_live(platform: Platform, ctx: Context, resources: list[Resource], state: State | None) -> LiveView:
    """List every kind the stack declares or owns, in every scope it touches."""
    view = LiveView()
    owned_by_kind: dict[str, list[tuple]] = {}
    if state is not None:
        for entry in state.resources.values():
            owned_by_kind.setdefault(entry.kind, []).append(tuple(entry.identity))
        for entry in state.pending():
            owned_by_kind.setdefault(entry.kind, []).append(tuple(entry.identity))
    for kind_name, kind in platform.kinds.items():
        declared = [r for r in resources if r.kind == kind_name]
        owned = owned_by_kind.get(kind_name, [])
        if not declared and not owned:
            continue
        scopes = kind.scopes(declared, ctx.settings) | {kind.scope_of(i) for i in owned}
        for scope in sorted(scopes, key=lambda s: (s is None, str(s))):
            for live in kind.list(ctx, scope):
                view.objects[(kind_name, tuple(live.identity))] = live
        view.listed_kinds.add(kind_name)
    return view


def make_plan(
    platform: Platform,
    ctx: Context,
    target: Target,
    resources: list[Resource],
    state: State | None,
    *,
    prune: bool = False,
    live: LiveView | None = None,
) -> Plan:
    live = live if live is not None else read_live(platform, ctx, resources, state)
    levels = dependency_levels(resources)
    max_level = max(levels.values(), default=0)
    actions: list[Action] = []
    declared_keys: set[tuple[str, tuple]] = set()
    digest_parts: list[Any] = []

    for resource in resources:
        kind = platform.kinds[resource.kind]
        key = (resource.kind, tuple(resource.identity))
        declared_keys.add(key)
        current = live.get(*key)
        owned_address = state.owned(resource.kind, resource.identity) if state else None
        action = _plan_one(kind, ctx, resource, current, state, owned_address)
        action.level = levels.get(resource.address, 0)
        actions.append(action)
        digest_parts.append([resource.kind, list(resource.identity), _live_digest_part(current, kind, ctx, resource)])

    orphans: list[str] = []
    owned_keys: set[tuple[str, tuple]] = set()
    if state is not None:
        candidates = [(address, entry.kind, tuple(entry.identity)) for address, entry in state.resources.items()]
        candidates += [(e.address, e.kind, tuple(e.identity)) for e in state.pending() if e.op in ("create", "replace")]
        seen: set[tuple[str, tuple]] = set()
        for address, kind_name, identity in candidates:
            key = (kind_name, identity)
            owned_keys.add(key)
            if key in declared_keys or key in seen or kind_name not in platform.kinds:
                continue
            seen.add(key)
            kind = platform.kinds[kind_name]
            current = live.get(kind_name, identity)
            if current is None:
                continue  # already gone; apply forgets it
            if prune:
                actions.append(Action(
                    address=address, kind=kind_name, identity=identity, op=Op.DELETE,
                    reason="owned by this stack and no longer declared (--prune)",
                    platform_id=current.platform_id, level=max_level + 1 + _reverse_rank(kind, platform),
                    destructive=kind.destructive,
                ))
                digest_parts.append([kind_name, list(identity), current.fields])
            else:
                orphans.append(address)

    unmanaged = [
        UnmanagedObject(kind=k, identity=i, platform_id=obj.platform_id)
        for (k, i), obj in sorted(live.objects.items(), key=lambda kv: (kv[0][0], [str(x) for x in kv[0][1]]))
        if (k, i) not in declared_keys and (k, i) not in owned_keys and not obj.builtin
    ]
    actions.sort(key=lambda a: (a.level, _kind_rank(a.kind, platform), a.address))
    return Plan(
        target=target,
        actions=actions,
        unmanaged=unmanaged,
        orphans=sorted(orphans),
        live_digest=_digest(digest_parts),
        desired_digest=desired_digest(resources, ctx),
        prune=prune,
        state_lineage=state.lineage if state else None,
        state_serial=state.serial if state else None,
    )


def _plan_one(kind: Kind, ctx: Context, resource: Resource, current: LiveObject | None,
              state: State | None, owned_address: str | None) -> Action:
    base = dict(address=resource.address, kind=resource.kind, identity=tuple(resource.identity))
    if current is None:
        reason = "owned by this stack but missing on the platform" if owned_address else "does not exist"
        return Action(**base, op=Op.CREATE, reason=reason)
    entry = state.resources.get(owned_address) if state and owned_address else None
    changes = changes_against_live(kind, ctx, resource, current, entry.fingerprints if entry else None)
    adopt = owned_address is None
    if any(c.forces_replace for c in changes):
        fields = ", ".join(sorted({c.path.split('.')[0] for c in changes if c.forces_replace}))
        return Action(**base, op=Op.REPLACE, reason=f"{fields} cannot change in place", changes=changes,
                      platform_id=current.platform_id, destructive=kind.destructive)
    if changes:
        reason = "adopt the existing object and update it" if adopt else "differs from the declaration"
        return Action(**base, op=Op.UPDATE, reason=reason, changes=changes, platform_id=current.platform_id)
    reason = "adopt the existing object, already as declared" if adopt else "in sync"
    return Action(**base, op=Op.NOOP, reason=reason, platform_id=current.platform_id)


def _kind_rank(kind_name: str, platform: Platform) -> int:
    return list(platform.kinds).index(kind_name) if kind_name in platform.kinds else 0


def _reverse_rank(kind: Kind, platform: Platform) -> int:
    names = list(platform.kinds)
    return len(names) - names.index(kind.name) if kind.name in names else 0


def _live_digest_part(current: LiveObject | None, kind: Kind, ctx: Context, resource: Resource) -> Any:
    if current is None:
        return None
    part: dict[str, Any] = {"fields": current.fields}
    if kind.secrets_readable and resource.secrets:
        part["fingerprints"] = kind.fingerprint_live(ctx, current, resource)
    return part


def desired_digest(resources: Iterable[Resource], ctx: Context) -> str:
    parts = []
    for r in sorted(resources, key=lambda r: r.address):
        fps = {k: ctx.fingerprinter(v) for k, v in sorted(r.secrets.items())}
        parts.append([r.address, r.spec, fps])
    return _digest(parts)


def _digest(parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()
