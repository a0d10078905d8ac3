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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from .collector import collector_paused
from .diff import changes_against_live, declared_fingerprints, diff_resource, live_fingerprints
from .errors import Problem, StackError
from .graph import dependency_levels
from .kind import Context, Kind
from .model import Action, FieldChange, Identity, LiveObject, ObjectRef, Op, Resource, address_of
from .outputs import AFTER_APPLY, output_refs, resolve
from .policy import NO_POLICY, Policy
from .secrets import SecretUnavailable
from .state import JournalEntry, ResourceState, State

PLAN_FORMAT = "platforge.plan/v2"


class Platform(Protocol):
    """What the core needs from a platform: its kinds (in dependency-friendly order: a kind
    comes after the kinds it refers to), how to connect, and where state can live on it."""

    name: str
    kinds: Mapping[str, Kind]
    #: How out-of-band changes to secrets are detected, said in drift reports.
    secret_detection: str
    # Optional: `config_model`, the platform's `[platform]` table (a core.stack.PlatformConfig
    # subclass); `declaration_defaults(kind, config) -> dict`, what that table implies for a
    # declaration; `is_internal(kind, identity) -> bool`, the tool's own objects.

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
    identity: Identity
    platform_id: Any = None

    @property
    def address(self) -> str:
        return address_of(self.kind, self.identity)

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "kind": self.kind, "identity": list(self.identity),
                "platform_id": self.platform_id}


@dataclass
class LiveView:
    """Everything read from the platform for one plan. Several live objects may share one
    identity where names are not unique; each is kept, and found by identity or by id."""

    by_identity: dict[tuple[str, Identity], list[LiveObject]] = field(default_factory=dict)
    by_id: dict[tuple[str, Any], LiveObject] = field(default_factory=dict)
    listed_kinds: set[str] = field(default_factory=set)

    def add(self, obj: LiveObject) -> None:
        self.by_identity.setdefault((obj.kind, tuple(obj.identity)), []).append(obj)
        if obj.platform_id is not None:
            self.by_id[(obj.kind, obj.platform_id)] = obj

    def matches(self, kind: str, identity: Identity) -> list[LiveObject]:
        return self.by_identity.get((kind, tuple(identity)), [])

    def get(self, kind: str, identity: Identity) -> LiveObject | None:
        found = self.matches(kind, identity)
        return found[0] if found else None

    def with_id(self, kind: str, platform_id: Any) -> LiveObject | None:
        return self.by_id.get((kind, platform_id))

    def all(self) -> list[LiveObject]:
        return [obj for objs in self.by_identity.values() for obj in objs]


@dataclass
class Unmanaged:
    """Live objects nobody in this stack declared or owns, after the stack's policy (external,
    ignored, and the tool's own objects never count), with coverage per kind: how many of the
    live objects of a kind the stack manages."""

    objects: list[UnmanagedObject]
    coverage: dict[str, dict[str, int]]
    ignored: int = 0


def find_unmanaged(platform: Platform, live: LiveView, claimed: set[int], policy: Policy) -> Unmanaged:
    """`claimed`: the `id()` of every live object a declaration or an owned entry stands for."""
    external = {(kind, platform.kinds[kind].identity_of_name(name))
                for kind, names in policy.external.items() if kind in platform.kinds for name in names}
    internal = getattr(platform, "is_internal", None)
    objects: list[UnmanagedObject] = []
    counted: dict[str, dict[str, int]] = {}
    unclaimed: list[LiveObject] = []
    ignored = 0
    for obj in live.all():
        kind, identity = obj.kind, tuple(obj.identity)
        if obj.builtin or obj.placeholder or (internal is not None and internal(kind, identity)):
            continue
        counts = counted.get(kind)
        if counts is None:
            counts = counted[kind] = {"managed": 0, "live": 0}
        counts["live"] += 1
        if id(obj) in claimed:
            counts["managed"] += 1
        elif (kind, identity) not in external:
            unclaimed.append(obj)
    # Only what nobody claimed is sorted (for a stable report): most of a plan's live objects are claimed.
    for obj in sorted(unclaimed, key=lambda o: (o.kind, [str(x) for x in o.identity], str(o.platform_id))):
        item = UnmanagedObject(kind=obj.kind, identity=tuple(obj.identity), platform_id=obj.platform_id)
        if policy.ignores(item.address):
            ignored += 1
            continue
        objects.append(item)
    return Unmanaged(objects, {kind: counted[kind] for kind in sorted(counted)}, ignored)


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
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Address -> what later actions may use of it (platform_id, revision) as planned; not in
    #: the document: an apply resolves output references from live values and its own writes.
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    #: Whether every managed secret's value was read to make it (`--refresh-secrets`): an apply
    #: of the saved plan must read them too, or it cannot see what the plan saw.
    refresh_secrets: bool = False

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.op is not Op.NOOP]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def needs_attention(self) -> bool:
        """Changes to apply, or owned objects no longer declared that wait for `--prune`: what
        makes `plan` exit 2, so that plan and drift agree."""
        return self.has_changes or bool(self.orphans)

    @property
    def imports(self) -> list[Action]:
        return [a for a in self.actions if a.op is Op.IMPORT]

    def refusals(self) -> list[tuple[str, str]]:
        """(address, why) for every action apply must refuse: imports without consent and
        writes the kind calls unsafe. Checked before the first write."""
        out = [(a.address, a.blocked) for a in self.actions if a.blocked and a.op is not Op.NOOP]
        out += [(a.address, "exists on the platform and is not owned by this stack: adopting it needs consent")
                for a in self.imports if not a.adopt and not a.blocked]
        out += [(a.address, f"{a.confirm}; confirm this delete with --confirm-delete {a.address}")
                for a in self.actions if a.confirm and not a.confirmed and a.op in (Op.DELETE, Op.REPLACE, Op.IMPORT)]
        return out

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
            "refresh_secrets": self.refresh_secrets,
            "state": {"lineage": self.state_lineage, "serial": self.state_serial},
            "live_digest": self.live_digest,
            "desired_digest": self.desired_digest,
            "summary": self.summary(),
            "actions": [a.to_json() for a in self.actions],
            "unmanaged": [u.to_json() for u in self.unmanaged],
            "coverage": self.coverage,
            "orphans": self.orphans,
        }


def ownership_index(state: State | None) -> dict[tuple[str, Identity], str]:
    """(kind, identity) -> address of everything the state owns, built once per plan so that
    looking up ownership stays linear in the size of the stack."""
    if state is None:
        return {}
    index: dict[tuple[str, Identity], str] = {}
    for address, entry in state.resources.items():
        index.setdefault((entry.kind, tuple(entry.identity)), address)
    for intent in unsettled(state):
        if intent.op in ("create", "replace"):  # a create that may have happened is ours if it did
            index.setdefault((intent.kind, tuple(intent.identity)), intent.address)
    return index


def unsettled(state: State) -> list[JournalEntry]:
    """Writes of earlier runs whose outcome nobody saw: killed mid-flight, or ambiguous."""
    return [e for e in state.journal if e.status in ("pending", "unknown")]


#: Listings read at once by a plan or a drift report (as `--refresh per-object` reads 10 at a time).
READ_CONCURRENCY = 8


def read_live(platform: Platform, ctx: Context, resources: list[Resource], state: State | None,
              policy: Policy = NO_POLICY, concurrency: int = READ_CONCURRENCY) -> LiveView:
    """List every observable kind the stack declares, owns or names as external, in every scope
    it touches (deploy-only kinds are never read: they are planned from the state).

    The listings of different kinds and scopes are independent, so they run `concurrency` at a
    time (the client's rate limiter keeps them within the platform's budget); under latency a
    stack spread over many scopes (a project each) would otherwise wait for each in turn. The
    view is filled in a fixed order, whatever order the answers come in."""
    view = LiveView()
    owned_by_kind: dict[str, list[Identity]] = {}
    if state is not None:
        for entry in state.resources.values():
            owned_by_kind.setdefault(entry.kind, []).append(tuple(entry.identity))
        for intent in unsettled(state):
            owned_by_kind.setdefault(intent.kind, []).append(tuple(intent.identity))
    declared_by_kind: dict[str, list[Resource]] = {}
    for resource in resources:
        declared_by_kind.setdefault(resource.kind, []).append(resource)
    jobs: list[tuple[Kind, list[Any]]] = []
    for kind_name, kind in platform.kinds.items():
        declared = declared_by_kind.get(kind_name, [])
        owned = owned_by_kind.get(kind_name, [])
        external = [kind.identity_of_name(n) for n in sorted(policy.external.get(kind_name, ()))]
        if not kind.observable or (not declared and not owned and not external):
            continue
        scopes = kind.scopes(declared, ctx.settings) | {kind.scope_of(i) for i in [*owned, *external]}
        ordered = sorted(scopes, key=lambda s: (s is None, str(s)))
        if kind.lists_scopes_together and len(ordered) > 1:
            jobs.append((kind, ordered))
        else:
            jobs.extend((kind, [scope]) for scope in ordered)
        view.listed_kinds.add(kind_name)

    def listing(job: tuple[Kind, list[Any]]) -> list[LiveObject]:
        kind, scopes = job
        return kind.list(ctx, scopes[0]) if len(scopes) == 1 else kind.list_scopes(ctx, scopes)

    if len(jobs) <= 1 or concurrency <= 1:
        listings = [listing(job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(jobs))) as pool:
            listings = list(pool.map(listing, jobs))
    for listed in listings:
        for live in listed:
            view.add(live)
    return view


def read_live_per_object(platform: Platform, ctx: Context, resources: list[Resource], state: State | None,
                         concurrency: int = 10) -> LiveView:
    """The baseline most engines use, for APIs with no list call (`--refresh per-object`): one
    read per declared or owned object, `concurrency` at a time, as Terraform refreshes. It
    cannot see objects nobody declared, so a plan made this way reports nothing unmanaged."""
    targets: dict[tuple[str, Identity], ObjectRef] = {}
    if state is not None:
        for entry in state.resources.values():
            targets[(entry.kind, tuple(entry.identity))] = ObjectRef(tuple(entry.identity), entry.platform_id)
    for resource in resources:  # an owned one is already there, with its id
        targets.setdefault((resource.kind, tuple(resource.identity)), ObjectRef(tuple(resource.identity)))
    readable = [(platform.kinds[k], ref) for (k, _), ref in targets.items()
                if k in platform.kinds and platform.kinds[k].observable]
    view = LiveView()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for live in pool.map(lambda item: item[0].read(ctx, item[1]), readable):
            if live is not None:
                view.add(live)
    view.listed_kinds.update(kind.name for kind, _ in readable)
    return view


class Located:
    """The live object a declaration stands for, or why it cannot be told."""

    def __init__(self, current: LiveObject | None, problem: str | None = None) -> None:
        self.current = current
        self.problem = problem


def locate(kind: Kind, resource: Resource, live: LiveView, entry: ResourceState | None,
           owned: bool, policy: Policy) -> Located:
    """Owned objects of kinds with server ids are found again by id, so a rename is an update;
    others by natural key. Adoption by natural key only when it is unambiguous, or when the
    stack names the id to adopt."""
    if entry is not None and entry.platform_id is not None and kind.identified_by_id:
        return Located(live.with_id(kind.name, entry.platform_id))
    candidates = live.matches(kind.name, resource.identity)
    chosen = policy.adopt_id(resource.address)
    if chosen is not None and not owned:
        picked = [c for c in candidates if str(c.platform_id) == chosen]
        if not picked:
            return Located(None, f"[adopt] names id {chosen} for it, but no {kind.name} "
                                 f"{'/'.join(map(str, resource.identity))} with that id exists")
        return Located(picked[0])
    if len(candidates) > 1:
        if entry is not None and entry.platform_id is not None:
            mine = [c for c in candidates if c.platform_id == entry.platform_id]
            if mine:
                return Located(mine[0])
        ids = ", ".join(str(c.platform_id) for c in candidates)
        return Located(None, f"{len(candidates)} live {kind.name} objects match "
                             f"{'/'.join(map(str, resource.identity))} (ids {ids}); name the one to adopt with "
                             f'[adopt] ids = {{ "{resource.address}" = "<id>" }} or --adopt {resource.address}=<id>')
    return Located(candidates[0] if candidates else None)


def make_plan(
    platform: Platform,
    ctx: Context,
    target: Target,
    resources: list[Resource],
    state: State | None,
    *,
    prune: bool = False,
    policy: Policy = NO_POLICY,
    live: LiveView | None = None,
) -> Plan:
    """Plan every declared and owned object against live state, with the cyclic garbage
    collector paused: a plan builds a large, long-lived graph (the stack, the state, the live
    view) and little cyclic garbage, and at 10,000 objects the collector's passes over that
    graph cost a third of the plan's CPU. Reference counting still frees everything else."""
    with collector_paused():
        live = live if live is not None else read_live(platform, ctx, resources, state, policy)
        return _make_plan(platform, ctx, target, resources, state, live, prune, policy)


def _make_plan(platform: Platform, ctx: Context, target: Target, resources: list[Resource], state: State | None,
               live: LiveView, prune: bool, policy: Policy) -> Plan:
    _check_external(platform, resources, live, policy)
    levels = dependency_levels(resources)
    max_level = max(levels.values(), default=0)
    owners = ownership_index(state)
    actions: list[Action] = []
    declared_keys: set[tuple[str, Identity]] = set()
    claimed: set[int] = set()
    digest_parts: list[Any] = []
    problems: list[Problem] = []
    outputs: dict[str, dict[str, Any]] = {}
    producing: set[str] = set()  # addresses whose action produces new outputs

    declared_addresses = {r.address for r in resources}
    displaced = _Displaceable(platform, state)
    moved: set[str] = set()

    for resource in sorted(resources, key=lambda r: (levels.get(r.address, 0), r.address)):
        kind = platform.kinds[resource.kind]
        key = (resource.kind, tuple(resource.identity))
        declared_keys.add(key)
        owned_address = owners.get(key)
        if owned_address is None and state is not None and resource.address in state.resources \
                and state.resources[resource.address].kind == resource.kind and kind.identified_by_id:
            owned_address = resource.address  # renamed: its identity changed, its id did not
        entry = state.resources.get(owned_address) if state and owned_address else None
        # Only what this resource refers to: copying every output per resource made planning quadratic.
        refs = output_refs(resource.spec)
        target_resource, unknown = resource, set[str]()
        if refs:
            known = {a: outputs[a] for a, _ in refs.values() if a in outputs and a not in producing}
            resolved, unknown = resolve(resource.spec, known)
            if resolved != resource.spec:
                target_resource = replace(resource, spec=resolved)
        if not unknown:
            target_resource = kind.desired(ctx, target_resource)
        if not kind.observable:
            action = _plan_unobservable(kind, ctx, target_resource, entry, owned_address)
            current = None
            if action.op is Op.CREATE and owned_address is None:  # its identity changed: a replace
                old = _displaced(kind, resource, state, displaced, live)
                if old is not None:
                    _as_identity_replace(kind, action, *old, policy)
                    moved.add(old[0])
        else:
            located = locate(kind, resource, live, entry, owned_address is not None, policy)
            if located.problem:
                problems.append(_problem(resource, located.problem))
                continue
            current = located.current
            if current is not None:
                claimed.add(id(current))
            action = _plan_one(kind, ctx, target_resource, current, state, owned_address, policy)
            if action.op is Op.CREATE and owned_address is None:
                old = _displaced(kind, resource, state, displaced, live)
                if old is not None:
                    _as_identity_replace(kind, action, *old, policy)
                    moved.add(old[0])
                    if old[2] is not None:
                        claimed.add(id(old[2]))
        action.level = levels.get(resource.address, 0)
        for name in sorted(unknown):  # shown as known after apply; resolved when the apply gets there
            if action.op is Op.NOOP:
                action.op, action.reason = Op.UPDATE, "depends on a value an earlier action of this apply produces"
            old = current.fields.get(name) if current is not None else None
            action.changes = [c for c in action.changes if c.path != name]
            action.changes.append(FieldChange(name, old, AFTER_APPLY, reason="after_apply"))
        if resource.deferred and (action.op is Op.CREATE or action.forces_replace):
            try:
                kind.resolve_deferred(resource)
            except SecretUnavailable as exc:
                problems.append(_problem(resource, str(exc)))
        if action.op in (Op.CREATE, Op.SAVE, Op.REPLACE) or (action.op is Op.IMPORT and action.forces_replace):
            producing.add(resource.address)
        outputs[resource.address] = _outputs_of(current, entry)
        actions.append(action)
        digest_parts.append([resource.kind, list(resource.identity),
                             _live_digest_part(current, kind, ctx, resource, entry.fingerprints if entry else None)])
    if problems:
        raise StackError(problems)

    rank = {name: i for i, name in enumerate(platform.kinds)}
    orphans: list[str] = []
    if state is not None:
        candidates = [(address, entry.kind, tuple(entry.identity), entry.platform_id)
                      for address, entry in state.resources.items() if address not in declared_addresses]
        candidates += [(e.address, e.kind, tuple(e.identity), None) for e in unsettled(state) if e.op in ("create", "replace")]
        seen: set[str] = set(moved)
        for address, kind_name, identity, platform_id in candidates:
            if address in declared_addresses or (kind_name, identity) in declared_keys or address in seen \
                    or kind_name not in platform.kinds:
                continue
            seen.add(address)
            kind = platform.kinds[kind_name]
            if not kind.observable:
                current = LiveObject(kind=kind_name, identity=identity, fields={}, platform_id=platform_id)
            else:
                found = live.with_id(kind_name, platform_id) if kind.identified_by_id and platform_id is not None \
                    else live.get(kind_name, identity)
                if found is None:
                    continue  # already gone; apply forgets it
                current = found
                claimed.add(id(found))
            if prune:
                confirm = kind.delete_confirmation(ObjectRef(identity, current.platform_id), current)
                last = state.resources.get(address)
                actions.append(Action(
                    address=address, kind=kind_name, identity=identity, op=Op.DELETE,
                    reason="owned by this stack and no longer declared (--prune)",
                    platform_id=current.platform_id, level=max_level + 1 + len(rank) - rank[kind.name],
                    destructive=kind.destructive, confirm=confirm,
                    confirmed=bool(confirm) and policy.confirms_delete(address),
                    blocked=kind.delete_refusal(last.applied) if last is not None else None,
                ))
                digest_parts.append([kind_name, list(identity), current.fields])
            else:
                orphans.append(address)

    unmanaged = find_unmanaged(platform, live, claimed, policy)
    actions.sort(key=lambda a: (a.level, rank.get(a.kind, 0), a.address))
    for action in actions:
        if action.op is not Op.NOOP:
            _call_out_delete(platform, action)
    return Plan(
        target=target,
        actions=actions,
        unmanaged=unmanaged.objects,
        orphans=sorted(orphans),
        live_digest=_digest(digest_parts),
        desired_digest=desired_digest(resources, ctx),
        prune=prune,
        state_lineage=state.lineage if state else None,
        state_serial=state.serial if state else None,
        coverage=unmanaged.coverage,
        outputs=outputs,
    )


Displaced = tuple[str, ResourceState, LiveObject | None]


class _Displaceable:
    """(identity space, identity) -> owned addresses that a declaration may take the place of:
    those no longer declared (a move to another kind of the same space), and any owned address,
    for a declaration at that same address whose identity changed (a rename). Indexed on the
    first create that asks: a plan that creates nothing never needs it."""

    def __init__(self, platform: Platform, state: State | None) -> None:
        self._platform = platform
        self._state = state
        self._index: dict[Any, list[str]] | None = None

    def get(self, key: Any) -> list[str]:
        if self._index is None:
            self._index = {}
            for address, entry in self._state.resources.items() if self._state is not None else ():
                kind = self._platform.kinds.get(entry.kind)
                if kind is not None:
                    self._index.setdefault((kind.identity_space or kind.name, tuple(entry.identity)), []).append(address)
        return self._index.get(key, [])


def _displaced(kind: Kind, resource: Resource, state: State | None, displaced: _Displaceable,
               live: LiveView) -> Displaced | None:
    """The owned object a new declaration replaces instead of being created beside it: the object
    at the same address under its old identity (the identity changed, and the kind has no server
    ids to follow), or an object of another kind of the same identity space, no longer declared,
    that holds this identity now."""
    if state is None:
        return None
    entry = state.resources.get(resource.address)
    if entry is not None and not kind.identified_by_id and tuple(entry.identity) != tuple(resource.identity) \
            and entry.kind == kind.name:
        return resource.address, entry, live.get(entry.kind, tuple(entry.identity))
    if kind.identity_space is None:
        return None
    for address in displaced.get((kind.identity_space, tuple(resource.identity))):
        other = state.resources[address]
        if address != resource.address and other.kind != kind.name:
            found = live.get(other.kind, tuple(other.identity))
            if found is not None:
                return address, other, found
    return None


def _as_identity_replace(kind: Kind, action: Action, address: str, entry: ResourceState,
                         old: LiveObject | None, policy: Policy) -> None:
    """Turn a create into the replace of the owned object it displaces, shown as such."""
    moved_kind = entry.kind != kind.name
    changes = [FieldChange("kind", entry.kind, kind.name, forces_replace=True, reason="declared")] if moved_kind \
        else [FieldChange(name, before, after, forces_replace=True, reason="declared")
              for name, before, after in zip(kind.identity_fields, entry.identity, action.identity, strict=False)
              if before != after]
    what = f"{entry.kind} → {kind.name}" if moved_kind else \
        f"{'/'.join(map(str, entry.identity))} → {'/'.join(map(str, action.identity))}"
    action.op = Op.REPLACE
    action.reason = (f"{'its kind' if moved_kind else 'its identity'} changes ({what}): the old object is deleted "
                     "and the new one created")
    action.changes = changes + action.changes
    action.replaces = {"address": address, "kind": entry.kind, "identity": tuple(entry.identity),
                       "platform_id": old.platform_id if old is not None else entry.platform_id,
                       "exists": old is not None}
    action.platform_id = None
    if old is not None:
        confirm = kind.delete_confirmation(ObjectRef(tuple(entry.identity), old.platform_id), old)
        action.confirm, action.confirmed = confirm, bool(confirm) and policy.confirms_delete(action.address)


def _outputs_of(current: LiveObject | None, entry: ResourceState | None) -> dict[str, Any]:
    """What later actions may use of an object as it is now (live first, else the state)."""
    out: dict[str, Any] = {}
    if entry is not None:
        if entry.platform_id is not None:
            out["platform_id"] = entry.platform_id
        if entry.revision is not None:
            out["revision"] = entry.revision
    if current is not None:
        if current.platform_id is not None:
            out["platform_id"] = current.platform_id
        if current.revision is not None:
            out["revision"] = current.revision
    return out


def _plan_unobservable(kind: Kind, ctx: Context, resource: Resource, entry: ResourceState | None,
                       owned_address: str | None) -> Action:
    """A kind the platform cannot show is planned from the last applied state: what was applied
    is taken to be what is there (drift says it cannot check)."""
    def action(op: Op, reason: str, changes: list[FieldChange]) -> Action:
        return Action(address=resource.address, kind=resource.kind, identity=tuple(resource.identity), op=op,
                      reason=reason, changes=changes, platform_id=entry.platform_id if entry else None)

    if entry is None:
        reason = "not applied yet" if owned_address is None else "a previous write's outcome is unknown; deploying again"
        return action(Op.CREATE, reason, _create_changes(kind, resource))
    applied = LiveObject(kind=resource.kind, identity=tuple(entry.identity), fields=entry.applied,
                         platform_id=entry.platform_id, fingerprints=dict(entry.fingerprints))
    changes = diff_resource(kind, resource, applied, declared_fingerprints(kind, ctx, resource),
                            dict(entry.fingerprints), entry.applied, entry.fingerprints)
    changes = [replace_change(c, reason="declared") for c in changes]
    if any(c.forces_replace for c in changes):
        return action(Op.REPLACE, "changed since the last apply (the platform cannot show it)", changes)
    if any(c.new_version for c in changes):
        return action(Op.SAVE, "changed since the last apply: a new version (the platform cannot show it)", changes)
    if changes:
        return action(Op.UPDATE, "changed since the last apply (the platform cannot show it)", changes)
    return action(Op.NOOP, "as last applied (the platform cannot show it)", [])


def _call_out_delete(platform: Platform, action: Action) -> None:
    """Say what an action's delete really is, where the kind's delete is not a removal (an
    archive): on deletes and on replaces (whose old object is deleted)."""
    if action.op is Op.DELETE or action.forces_replace or (action.op is Op.REPLACE and action.replaces):
        name = action.replaces["kind"] if action.replaces else action.kind
        kind = platform.kinds.get(name)
        if kind is not None and (kind.delete_verb != "delete" or kind.delete_note):
            action.delete_as = {"verb": kind.delete_verb, "note": kind.delete_note or ""}


def _check_external(platform: Platform, resources: list[Resource], live: LiveView, policy: Policy) -> None:
    """A reference to an `[external]` object must find it live, or apply would fail halfway."""
    if not policy.external:
        return
    declared = {(r.kind, r.name) for r in resources}
    problems: list[Problem] = []
    for resource in resources:
        for ref in resource.refs:
            if (ref.kind, ref.name) in declared or not policy.is_external(ref.kind, ref.name):
                continue
            kind = platform.kinds.get(ref.kind)
            if kind is None or ref.kind not in live.listed_kinds or ref.name in kind.builtin_names:
                continue
            if live.get(ref.kind, kind.identity_of_name(ref.name)) is None:
                problems.append(_problem(resource, f"refers to {ref.kind} {ref.name!r}, listed under [external] "
                                                   "but not found on the platform"))
    if problems:
        raise StackError(problems)


def problem_at(resource: Resource, message: str) -> Problem:
    """A stack problem placed where `resource` is declared (file, line, address)."""
    return _problem(resource, message)


def _problem(resource: Resource, message: str) -> Problem:
    source = resource.source
    return Problem(file=source.file if source else "<stack>", line=source.line if source else None,
                   path=resource.address, message=message)


def _create_changes(kind: Kind, resource: Resource) -> list[FieldChange]:
    """What a create will set, so a reviewer sees the values (secrets stay `(sensitive)`)."""
    hidden = kind.sensitive_fields | kind.create_only_fields
    return [FieldChange(name, None, None if name in hidden else value, sensitive=name in hidden, reason="create")
            for name, value in resource.spec.items()]


def _plan_one(kind: Kind, ctx: Context, resource: Resource, current: LiveObject | None,
              state: State | None, owned_address: str | None, policy: Policy) -> Action:
    def action(op: Op, reason: str, changes: list[FieldChange], **extra: Any) -> Action:
        return Action(address=resource.address, kind=resource.kind, identity=tuple(resource.identity), op=op,
                      reason=reason, changes=changes, **extra)

    if current is None:
        reason = "owned by this stack but missing on the platform" if owned_address else "does not exist"
        return action(Op.CREATE, reason, _create_changes(kind, resource))
    entry = state.resources.get(owned_address) if state and owned_address else None
    changes = changes_against_live(kind, ctx, resource, current, entry.fingerprints if entry else None,
                                   entry.applied if entry else None)
    if owned_address is None:
        consent = policy.adopts(resource.address) or current.placeholder
        if any(c.forces_replace for c in changes):
            fields = ", ".join(sorted({c.path.split('.')[0] for c in changes if c.forces_replace}))
            reason = f"exists, not owned by this stack; adopting it replaces it ({fields} cannot change in place)"
        elif changes:
            reason = "exists, not owned by this stack; adopting it updates it"
        else:
            reason = "exists, not owned by this stack, already as declared"
        replaces = any(c.forces_replace for c in changes)
        confirm = kind.delete_confirmation(current.ref, current) if replaces else None
        return action(Op.IMPORT, reason, changes, platform_id=current.platform_id,
                      destructive=kind.destructive and replaces, adopt=consent,
                      blocked=kind.refuse_write(ctx, resource, current, changes, adopting=True)
                      or (kind.delete_refusal(resource.spec) if replaces else None),
                      live=_visible_fields(kind, current), confirm=confirm,
                      confirmed=bool(confirm) and policy.confirms_delete(resource.address))
    if any(c.forces_replace for c in changes):
        fields = ", ".join(sorted({c.path.split('.')[0] for c in changes if c.forces_replace}))
        # A replace deletes the live object first or last: it needs what any delete of it needs.
        confirm = kind.delete_confirmation(current.ref, current)
        return action(Op.REPLACE, f"{fields} cannot change in place", changes, platform_id=current.platform_id,
                      destructive=kind.destructive, blocked=kind.delete_refusal(resource.spec), confirm=confirm,
                      confirmed=bool(confirm) and policy.confirms_delete(resource.address))
    if any(c.new_version for c in changes):
        fields = ", ".join(sorted({c.path.split('.')[0] for c in changes if c.new_version}))
        return action(Op.SAVE, f"{fields} changed: a new version", changes, platform_id=current.platform_id,
                      blocked=kind.refuse_write(ctx, resource, current, changes, adopting=False))
    if changes:
        return action(Op.UPDATE, "differs from the declaration", changes, platform_id=current.platform_id,
                      blocked=kind.refuse_write(ctx, resource, current, changes, adopting=False))
    return action(Op.NOOP, "in sync", [], platform_id=current.platform_id)


def _visible_fields(kind: Kind, live: LiveObject) -> dict[str, Any]:
    return {k: v for k, v in live.fields.items() if k not in kind.sensitive_fields | kind.create_only_fields}


def replace_change(change: FieldChange, **values: Any) -> FieldChange:
    return replace(change, **values)


def _live_digest_part(current: LiveObject | None, kind: Kind, ctx: Context, resource: Resource,
                      recorded: Mapping[str, str] | None) -> Any:
    if current is None:
        return None
    part: dict[str, Any] = {"fields": current.fields}
    if kind.secrets_readable and resource.secrets:
        part["fingerprints"] = live_fingerprints(kind, ctx, current, resource, recorded)
    return part


def desired_digest(resources: Iterable[Resource], ctx: Context) -> str:
    parts = []
    for r in sorted(resources, key=lambda r: r.address):
        fps = {k: ctx.fingerprinter(v) for k, v in sorted(r.secrets.items())} if r.secrets else {}
        parts.append([r.address, r.spec, fps])
    return _digest(parts)


def _digest(parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()
