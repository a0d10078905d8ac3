"""Apply: execute a plan level by level, verify every write, and record ownership.

Safety properties:
- the stack's lock is held for the whole apply, so two applies never interleave;
- every write is journalled as `pending` in the state *before* it is sent, so a run killed
  mid-apply leaves a record; the next plan treats pending creates as owned (prunable) and, being
  level-triggered, adopts what already exists instead of creating it twice;
- every write is read back and compared with the declaration (bounded wait for platforms that
  are eventually consistent);
- an empty plan takes no lock and writes nothing, so a second apply makes zero writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import groupby
from threading import Lock
from typing import Any

from .diff import changes_against_live, declared_fingerprints
from .errors import AdoptionError, ApplyError, PermanentError, TemporaryError
from .kind import Context, Kind
from .model import Action, Created, DocumentWrite, FieldChange, LiveObject, ObjectRef, Op, Resource
from .outputs import output_refs, resolve
from .plan import Plan, Platform, unsettled
from .state import JournalEntry, ResourceState, State, StateBackend, now_iso

ProgressHook = Callable[[Action, str], None]


@dataclass
class ApplyResult:
    applied: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    skipped: list[Action] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    #: Address -> values the platform showed only once (never stored: the caller keeps them).
    shown_once: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class Outcome:
    """How an action ended when it did not succeed: `failed` (it did not happen, or the
    platform refused it) or `unknown` (a write was sent and nothing could tell whether it
    landed; the next plan decides from live state)."""

    status: str
    message: str

    def describe(self) -> str:
        if self.status == "unknown":
            return f"outcome unknown ({self.message}); the next plan decides it from live state"
        return self.message


def check_refusals(plan: Plan) -> None:
    """Refuse, before the first write, a plan that adopts without consent or writes where the
    kind says it is unsafe."""
    refusals = plan.refusals()
    if refusals:
        raise AdoptionError(refusals)


@dataclass
class ApplyOptions:
    parallelism: int = 4
    verify_timeout: float = 10.0
    verify_interval: float = 0.2
    #: Attempts per action when the platform calls a failure transient (the client has already
    #: retried what was safe to repeat; this re-reads live state and decides again). As many as
    #: the transport's: a write is never repeated there, so its transient failures end up here.
    max_attempts: int = 8
    retry_delay: float = 0.5


class Applier:
    def __init__(self, platform: Platform, ctx: Context, backend: StateBackend,
                 options: ApplyOptions | None = None, progress: ProgressHook | None = None) -> None:
        self.platform = platform
        self.ctx = ctx
        self.backend = backend
        self.options = options or ApplyOptions()
        self.progress = progress or (lambda action, status: None)
        self._state_lock = Lock()
        self._documents: dict[Hashable, Lock] = {}
        #: Address -> platform_id/revision: what later actions of this apply may use.
        self.outputs: dict[str, dict[str, Any]] = {}
        #: Address -> values the platform showed once (an API key's secret): for the caller, never stored.
        self.shown_once: dict[str, dict[str, str]] = {}
        self._applied: dict[str, ResourceState] = {}

    def apply(self, plan: Plan, resources: list[Resource], state: State) -> ApplyResult:
        """Run `plan` (made under the caller's lock) and persist state after every level."""
        check_refusals(plan)
        by_address = {r.address: r for r in resources}
        result = ApplyResult()
        self.outputs = {address: dict(values) for address, values in plan.outputs.items()}
        self._applied = dict(state.resources)
        self._settle_journal(plan, state)
        self._forget_vanished(plan, state, result)
        self._record_noops(plan, by_address, state)
        changes = plan.changes
        if not changes:
            if result.forgotten or self._state_dirty:
                self._save(state)
            return result
        blocked: set[str] = set()
        for _, level_actions in groupby(changes, key=lambda a: a.level):
            batch = []
            for action in level_actions:
                if self._depends_on_blocked(action, by_address, blocked, bool(result.failed)):
                    result.skipped.append(action)
                    blocked.add(action.address)
                else:
                    batch.append(action)
            if not batch:
                continue
            entries = self._journal(state, batch)
            self._listed = self._list_verified(plan, batch)
            units = self._units(batch)
            pool = ThreadPoolExecutor(max_workers=max(1, self.options.parallelism))
            futures = [pool.submit(self._run_unit, unit, by_address, state) for unit in units]
            try:
                for future in futures:
                    future.result()
                outcomes = self._finish_listed(_in_order(batch, units, [f.result() for f in futures]), state, pool)
            except KeyboardInterrupt:
                # Stop sending: queued actions are cancelled, those in flight finish and are
                # recorded, so the state says exactly what landed; a rerun does the rest.
                pool.shutdown(wait=True, cancel_futures=True)
                settled = [_settled(f) for f in futures]
                self._record(batch, entries, _in_order(batch, units, [
                    [_UNFINISHED] * len(unit) if s is _UNFINISHED else s for s, unit in zip(settled, units, strict=True)
                ]), result, blocked)
                self._save(state)
                raise
            finally:
                pool.shutdown(wait=True)
            self._record(batch, entries, outcomes, result, blocked)
            self._save(state)
        result.shown_once = dict(self.shown_once)
        if result.failed:
            failures = [(a.address, e) for a, e in result.failed]
            raise ApplyError(
                f"{len(result.failed)} action(s) failed; {len(result.applied)} applied, "
                f"{len(result.skipped)} not attempted",
                failures,
                result.shown_once,
            ) from None
        return result

    # ---- internals ---------------------------------------------------------------------

    @staticmethod
    def _record(batch: list[Action], entries: list[JournalEntry], outcomes: list[Any],
                result: ApplyResult, blocked: set[str]) -> None:
        """Journal what each finished action did; a cancelled or unverified one stays pending."""
        for action, entry, outcome in zip(batch, entries, outcomes, strict=True):
            if outcome is _UNFINISHED or isinstance(outcome, _Written):
                continue
            entry.finished_at = now_iso()
            if outcome is None:
                entry.status = "done"
                result.applied.append(action)
            else:
                entry.status = outcome.status
                entry.error = outcome.message
                result.failed.append((action, outcome.describe()))
                blocked.add(action.address)

    @staticmethod
    def _depends_on_blocked(action: Action, by_address: dict[str, Resource], blocked: set[str],
                            anything_failed: bool) -> bool:
        """Skip what depends on a failed (or skipped) action; deletes wait for a clean run,
        since they come last precisely because other objects may still point at them."""
        if action.op is Op.DELETE:
            return anything_failed
        resource = by_address.get(action.address)
        return resource is not None and any(ref.address in blocked for ref in resource.refs)

    _state_dirty = False

    def _journal(self, state: State, batch: list[Action]) -> list[JournalEntry]:
        entries = [JournalEntry(address=a.address, kind=a.kind, identity=list(a.identity), op=a.op.value)
                   for a in batch]
        with self._state_lock:
            # Keep the journal bounded: finished entries of earlier runs are history.
            state.journal = [e for e in state.journal if e.status == "pending"][-1000:] + entries
        self._save(state)
        return entries

    def _save(self, state: State) -> None:
        with self._state_lock:
            state.serial += 1
            self.backend.save(state)
            self._state_dirty = False

    def _settle_journal(self, plan: Plan, state: State) -> None:
        """Resolve intents left pending by a killed run. This run's plan was made from live
        state, so it already accounts for whatever those writes did; what must not be lost is
        ownership of objects they created that are no longer declared."""
        planned = {a.address: a for a in plan.actions}
        for entry in unsettled(state):
            action = planned.get(entry.address)
            leftover = action is None or action.op is Op.DELETE
            if leftover and entry.op in ("create", "replace") and entry.address not in state.resources:
                if entry.address in plan.orphans or action is not None:
                    state.resources[entry.address] = ResourceState(kind=entry.kind, identity=entry.identity)
            entry.status = "done"
            entry.finished_at = now_iso()
            entry.error = "settled by a later run"
            self._state_dirty = True

    def _forget_vanished(self, plan: Plan, state: State, result: ApplyResult) -> None:
        """Owned objects that are gone and no longer declared leave the state quietly."""
        declared = {a.address for a in plan.actions}
        for address in list(state.resources):
            if address in declared or address in plan.orphans:
                continue
            del state.resources[address]
            result.forgotten.append(address)
        state.journal = [e for e in state.journal if not (e.status == "pending" and e.address in result.forgotten)]

    def _record_noops(self, plan: Plan, by_address: dict[str, Resource], state: State) -> None:
        """In-sync objects that state does not yet own (adopted) become owned."""
        for action in plan.actions:
            if action.op is not Op.NOOP:
                continue
            resource = by_address.get(action.address)
            entry = state.resources.get(action.address)
            if resource is None:
                continue
            resolved = self._resolved(resource)
            known = self.outputs.get(action.address, {})
            wanted = self._resource_state(resolved, action.platform_id or known.get("platform_id"),
                                          known.get("revision"))
            if entry is None or entry.applied != wanted.applied or entry.fingerprints != wanted.fingerprints \
                    or tuple(entry.identity) != tuple(wanted.identity) or entry.revision != wanted.revision:
                state.resources[action.address] = wanted
                self._state_dirty = True

    def _resource_state(self, resource: Resource, platform_id: Any, revision: Any = None) -> ResourceState:
        kind = self.platform.kinds[resource.kind]
        return ResourceState(kind=resource.kind, identity=list(resource.identity), platform_id=platform_id,
                             revision=revision, applied=resource.spec,
                             fingerprints=declared_fingerprints(kind, self.ctx, resource))

    def _resolved(self, resource: Resource) -> Resource:
        """The resource with its output references replaced by the values earlier actions of
        this apply produced (or the values live when nothing changed them)."""
        refs = output_refs(resource.spec)
        if not refs:  # most resources: no copy of every output per action (that made apply quadratic)
            return self.platform.kinds[resource.kind].desired(self.ctx, resource)
        with self._state_lock:
            known = {address: dict(self.outputs[address]) for address, _ in refs.values() if address in self.outputs}
        spec, unknown = resolve(resource.spec, known)
        if unknown:
            raise PermanentError(f"{resource.address}: {', '.join(sorted(unknown))} depend(s) on a value no earlier "
                                 "action produced")
        resolved = resource if spec == resource.spec else replace(resource, spec=spec)
        return self.platform.kinds[resource.kind].desired(self.ctx, resolved)

    def _document_lock(self, kind: Kind, action: Action) -> Lock | None:
        """One lock per shared platform document: writes to it run one at a time, so each
        read-modify-write sees the previous one."""
        document = kind.document_of(ObjectRef(tuple(action.identity), action.platform_id))
        if document is None:
            return None
        with self._state_lock:
            return self._documents.setdefault(document, Lock())

    def _units(self, batch: list[Action]) -> list[list[Action]]:
        """The level's actions as units of work: one action each, except the creates, updates
        and deletes of one document by a kind that merges them, which go together."""
        units: list[list[Action]] = []
        shared: dict[tuple[str, Any], list[Action]] = {}
        for action in batch:
            kind = self.platform.kinds[action.kind]
            document = kind.document_of(self._ref(action)) \
                if kind.merges_document_writes and kind.observable and action.op in _MERGED_OPS else None
            if document is None:
                units.append([action])
                continue
            unit = shared.get((kind.name, document))
            if unit is None:
                unit = shared[(kind.name, document)] = []
                units.append(unit)
            unit.append(action)
        return units

    def _run_unit(self, unit: list[Action], by_address: dict[str, Resource], state: State) -> list[Any]:
        if len(unit) == 1:
            return [self._run(unit[0], by_address.get(unit[0].address), state)]
        return self._run_merged(unit, by_address, state)

    def _run(self, action: Action, resource: Resource | None, state: State) -> Outcome | _Written | None:
        kind = self.platform.kinds[action.kind]
        lock = self._document_lock(kind, action)
        if lock is None:
            return self._run_action(kind, action, resource, state)
        with lock:
            return self._run_action(kind, action, resource, state)

    def _run_merged(self, unit: list[Action], by_address: dict[str, Resource], state: State) -> list[Any]:
        """One write of a shared document for all of `unit`, then each action's own read-back.
        If that write fails, nothing tells which parts landed: each action then decides from
        live state on its own, as after any ambiguous failure, and writes alone if it must (so
        one refused object does not hold the others back)."""
        kind = self.platform.kinds[unit[0].kind]
        lock = self._document_lock(kind, unit[0])
        assert lock is not None
        with lock:
            try:
                writes = [DocumentWrite(a.op, self._ref(a), None if a.op is Op.DELETE else
                                        self._resolved(by_address[a.address]),
                                        frozenset(c.path.split(".", 1)[0] for c in a.changes)) for a in unit]
                answers = kind.write_document(self.ctx, writes)
            except Exception:
                return [self._run_action(kind, a, by_address.get(a.address), state, step="decide") for a in unit]
            return [self._run_action(kind, a, by_address.get(a.address), state, step="verify",
                                     created=_as_created(answer, Created(platform_id=a.platform_id)))
                    for a, answer in zip(unit, answers, strict=True)]

    def _run_action(self, kind: Kind, action: Action, resource: Resource | None, state: State,
                    step: str = "write", created: Created | None = None) -> Outcome | _Written | None:
        """Write, read back, wait until ready, record. A write is sent again only when a read of
        live state proves the first did not happen: after an ambiguous failure, the next step is
        always a read; after an acknowledged write, only the read-back is repeated (an eventually
        consistent platform may not show it yet, which is not proof). When no read could decide,
        the outcome is `unknown` and the next plan decides from live state. A kind the platform
        cannot show is never read: its write is recorded as soon as it is acknowledged."""
        self.progress(action, "start")
        attempt = 0
        # "write" first; "decide": read live state first; "verify": the write is acknowledged.
        todo: Action | None = action
        created = created if created is not None else Created(platform_id=action.platform_id)
        target = resource
        while True:
            attempt += 1
            try:
                if resource is not None and action.op is not Op.DELETE:
                    target = self._resolved(resource)
                if step == "decide":
                    if not kind.observable:
                        raise _Undecidable("the platform cannot show this kind, so nothing can tell what landed")
                    todo = self._reconsider(kind, action, target)
                    step = "write" if todo is not None else "verify"
                if step == "write" and todo is not None:
                    step = "decide"  # from here until acknowledged, a failure leaves live state unknown
                    created = _as_created(self._execute(kind, todo, target), created)
                    step = "verify"
                if action.op is Op.DELETE:
                    if kind.observable:
                        self._verify_deleted(kind, action)
                    with self._state_lock:
                        state.resources.pop(action.address, None)
                else:
                    assert target is not None
                    if kind.observable and (kind.name, kind.scope_of(tuple(target.identity))) in self._listed:
                        # Verified after the level's writes, from one listing per page instead
                        # of one read per object (the write is acknowledged: only its read-back waits).
                        return _Written(kind, action, target, created)
                    live = None
                    if kind.observable:
                        live = self._verify(kind, target, created.platform_id)
                        self._await_ready(kind, live)
                    self._record_written(action, target, created, live, state)
                break
            except _Undecidable as exc:
                self.progress(action, "failed")
                return Outcome("unknown", str(exc))
            except Exception as exc:  # one failed action must not hide the others' outcome
                if attempt >= self.options.max_attempts or not self._transient(kind, exc):
                    self.progress(action, "failed")
                    ambiguous = step == "decide" and self._transient(kind, exc)
                    return Outcome("unknown" if ambiguous else "failed", f"{type(exc).__name__}: {exc}")
                time.sleep(min(self.options.retry_delay * 2 ** (attempt - 1), 5.0))
        self.progress(action, "done")
        return None

    def _record_written(self, action: Action, target: Resource, created: Created, live: LiveObject | None,
                        state: State) -> None:
        """A write verified (or, for a kind the platform cannot show, acknowledged): own it."""
        if live is not None:
            created.platform_id = live.platform_id if live.platform_id is not None else created.platform_id
            created.revision = live.revision if live.revision is not None else created.revision
        with self._state_lock:
            if action.replaces and action.replaces["address"] != action.address:
                state.resources.pop(action.replaces["address"], None)
            previous = state.resources.get(action.address)
            revision = created.revision if created.revision is not None else (previous.revision if previous else None)
            state.resources[action.address] = self._resource_state(target, created.platform_id, revision)
            self.outputs[action.address] = {k: v for k, v in
                                            (("platform_id", created.platform_id), ("revision", revision))
                                            if v is not None}
            if created.shown_once:
                self.shown_once[action.address] = dict(created.shown_once)

    # ---- verification by listing -------------------------------------------------------

    _listed: frozenset[tuple[str, Any]] = frozenset()

    def _list_verified(self, plan: Plan, batch: list[Action]) -> frozenset[tuple[str, Any]]:
        """The (kind, scope) pairs of this level whose writes are verified with one listing
        (its pages) rather than one read each: where the listing has fewer pages than there
        are objects to verify. The request budget then goes to writes."""
        counts: dict[tuple[str, Any], int] = {}
        creates: dict[str, int] = {}
        for action in plan.actions:
            if action.op is Op.CREATE:
                creates[action.kind] = creates.get(action.kind, 0) + 1
        for action in batch:
            kind = self.platform.kinds[action.kind]
            if action.op is Op.DELETE or not kind.observable or (action.op is Op.IMPORT and not action.changes):
                continue
            key = (kind.name, kind.scope_of(tuple(action.identity)))
            counts[key] = counts.get(key, 0) + 1
        chosen = set()
        together: dict[str, int] = {}  # kinds listed for all their scopes at once: objects to verify
        for (name, _), count in counts.items():
            if self.platform.kinds[name].lists_scopes_together:
                together[name] = together.get(name, 0) + count
        for (name, scope), count in counts.items():
            kind = self.platform.kinds[name]
            size = plan.coverage.get(name, {}).get("live", 0) + creates.get(name, 0)
            pages = 1 if kind.list_page_size is None else size // max(1, kind.list_page_size) + 1
            if name in together:
                count = together[name]  # one listing (its pages) covers every scope of the level
            if count >= 2 and pages < count:
                chosen.add((name, scope))
        return frozenset(chosen)

    def _finish_listed(self, results: list[Any], state: State, pool: ThreadPoolExecutor) -> list[Any]:
        """Verify the level's written objects from one listing per (kind, scope); an object the
        listing does not show as declared yet is read on its own, within the usual bounded wait."""
        written = [r for r in results if isinstance(r, _Written)]
        if not written:
            return results
        scopes_of: dict[str, list[Any]] = {}
        kinds: dict[str, Kind] = {}
        for item in written:
            scope = item.kind.scope_of(tuple(item.target.identity))
            kinds[item.kind.name] = item.kind
            if scope not in scopes_of.setdefault(item.kind.name, []):
                scopes_of[item.kind.name].append(scope)
        listings: dict[tuple[str, Any], dict[Any, LiveObject]] = {}
        for name, scopes in scopes_of.items():
            kind = kinds[name]
            groups = [scopes] if kind.lists_scopes_together and len(scopes) > 1 else [[s] for s in scopes]
            for group in groups:
                try:
                    found = kind.list(self.ctx, group[0]) if len(group) == 1 else kind.list_scopes(self.ctx, group)
                except Exception:  # the listing failed: every object is read on its own instead
                    found = []
                indexes: dict[Any, dict[Any, LiveObject]] = {scope: {} for scope in group}
                for live in found:
                    index = indexes.get(kind.scope_of(tuple(live.identity))) if len(group) > 1 else indexes[group[0]]
                    if index is None:
                        continue
                    index[("id", live.platform_id)] = live
                    index.setdefault(("identity", tuple(live.identity)), live)
                for scope, index in indexes.items():
                    listings[(name, scope)] = index
        futures = {id(item): pool.submit(self._finish_one, item, listings, state) for item in written}
        return [futures[id(r)].result() if isinstance(r, _Written) else r for r in results]

    def _finish_one(self, item: _Written, listings: dict[tuple[str, Any], dict[Any, LiveObject]],
                    state: State) -> Outcome | None:
        kind, action, target, created = item.kind, item.action, item.target, item.created
        index = listings[(kind.name, kind.scope_of(tuple(target.identity)))]
        live = index.get(("id", created.platform_id)) if created.platform_id is not None and kind.identified_by_id \
            else index.get(("identity", tuple(target.identity)))
        try:
            if live is None or self._remaining(kind, target, live):
                live = self._verify(kind, target, created.platform_id)
            self._await_ready(kind, live)
            self._record_written(action, target, created, live, state)
        except Exception as exc:
            self.progress(action, "failed")
            return Outcome("failed", f"{type(exc).__name__}: {exc}")
        self.progress(action, "done")
        return None

    def _transient(self, kind: Kind, exc: Exception) -> bool:
        """The kind says first (its own errors), then the platform; the core never guesses."""
        if isinstance(exc, PermanentError):
            return False
        if isinstance(exc, TemporaryError):
            return True
        verdict = kind.classify_error(exc)
        if verdict is not None:
            return verdict
        check = getattr(self.platform, "is_transient", None)
        return bool(check and check(exc))

    def _ref(self, action: Action) -> ObjectRef:
        return ObjectRef(tuple(action.identity), action.platform_id)

    def _reconsider(self, kind: Kind, action: Action, resource: Resource | None) -> Action | None:
        """After an ambiguous failure (the write may or may not have happened), decide again from
        live state, level-triggered: nothing left to do (None), or the action still needed."""
        live = kind.read(self.ctx, self._ref(action))
        if action.op is Op.DELETE:
            return None if live is None else action
        assert resource is not None
        if live is None:
            return Action(action.address, action.kind, action.identity, Op.CREATE, "retry after a failed write")
        changes = self._remaining(kind, resource, live)
        if not changes:
            return None
        op = Op.REPLACE if any(c.forces_replace for c in changes) else \
            Op.SAVE if any(c.new_version for c in changes) else Op.UPDATE
        return Action(action.address, action.kind, action.identity, op, "retry after a failed write", changes,
                      live.platform_id)

    def _current(self, kind: Kind, action: Action) -> LiveObject | None:
        """The object as it is now: read from the platform, or, for a kind the platform cannot
        show, as last applied."""
        if kind.observable:
            return kind.read(self.ctx, self._ref(action))
        entry = self._applied.get(action.address)
        if entry is None:
            return None
        return LiveObject(kind=action.kind, identity=tuple(entry.identity), fields=dict(entry.applied),
                          platform_id=entry.platform_id, fingerprints=dict(entry.fingerprints), revision=entry.revision)

    def _execute(self, kind: Kind, action: Action, resource: Resource | None) -> Any:
        ctx = self.ctx
        if action.op is Op.IMPORT:  # consent was checked before the first write
            if not action.changes:
                return Created(platform_id=action.platform_id)
            op = Op.REPLACE if action.forces_replace else Op.SAVE if any(c.new_version for c in action.changes) \
                else Op.UPDATE
            action = Action(action.address, action.kind, action.identity, op, action.reason, action.changes,
                            action.platform_id)
        if action.op is Op.DELETE:
            kind.delete(ctx, self._ref(action), self._current(kind, action) if kind.observable else None)
            return None
        if resource is None:
            raise ValueError(f"{action.address}: a {action.op.value} needs the declared resource")
        if action.op is Op.CREATE:
            return kind.create(ctx, resource)
        if action.op in (Op.UPDATE, Op.SAVE):
            live = self._current(kind, action)
            if live is None:
                return kind.create(ctx, resource)
            if action.op is Op.SAVE:
                return _as_created(kind.save(ctx, resource, live), Created(platform_id=live.platform_id))
            changed = {c.path.split(".", 1)[0] for c in action.changes}
            kind.update(ctx, resource, live, changed)
            return Created(platform_id=live.platform_id, revision=live.revision)
        if action.op is Op.REPLACE and action.replaces:
            # The identity changes: the old object is found under its old identity (and kind),
            # and goes first, since both may claim one name on the platform.
            old = action.replaces
            old_kind = self.platform.kinds[old["kind"]]
            old_ref = ObjectRef(tuple(old["identity"]), old["platform_id"])
            old_live = old_kind.read(ctx, old_ref) if old_kind.observable else None
            if not kind.delete_before_replace and old_kind is kind:
                # The kind says old and new never claim one name (another identity is another
                # object): the new one exists before the old one goes.
                new = kind.create(ctx, resource)
                if old_live is not None or not old_kind.observable:
                    old_kind.delete(ctx, old_ref, old_live)
                return new
            if old_live is not None or not old_kind.observable:
                old_kind.delete(ctx, old_ref, old_live)
            return kind.create(ctx, resource)
        if action.op is Op.REPLACE:
            live = self._current(kind, action)
            ref = live.ref if live is not None else self._ref(action)
            if kind.delete_before_replace:
                kind.delete(ctx, ref, live)
                return kind.create(ctx, resource)
            new = kind.create(ctx, resource)
            kind.delete(ctx, ref, live)
            return new
        raise ValueError(f"{action.address}: apply does not know the operation {action.op.value!r}")

    def _verify(self, kind: Kind, resource: Resource, platform_id: Any) -> LiveObject:
        """Read back until the platform shows what was declared, within a bounded wait."""
        deadline = time.monotonic() + self.options.verify_timeout
        ref = ObjectRef(tuple(resource.identity), platform_id)
        while True:
            live = kind.read(self.ctx, ref)
            if live is not None:
                remaining = self._remaining(kind, resource, live)
                if not remaining:
                    return live
            if time.monotonic() >= deadline:
                detail = "object not found" if live is None else ", ".join(c.path for c in remaining)
                raise ApplyError(f"read-back after write does not match the declaration ({detail})")
            time.sleep(self.options.verify_interval)

    def _await_ready(self, kind: Kind, live: LiveObject) -> None:
        """Wait, within the kind's own budget, until the object is usable (separate from the
        read-back matching); a readiness failure is permanent, a timeout temporary."""
        deadline = time.monotonic() + kind.ready_timeout
        while True:
            readiness = kind.ready(self.ctx, live)
            if readiness.ready:
                return
            if readiness.failed:
                raise PermanentError(f"not ready: {readiness.failed}")
            if time.monotonic() >= deadline:
                raise TemporaryError(f"not ready after {kind.ready_timeout:g} s")
            time.sleep(self.options.verify_interval)
            current = kind.read(self.ctx, live.ref)
            if current is None:
                raise TemporaryError("the object disappeared while becoming ready")
            live = current

    def _remaining(self, kind: Kind, resource: Resource, live: LiveObject) -> list[FieldChange]:
        """What live still lacks after our own write. A secret the platform cannot read back is
        taken to hold what was just written."""
        return changes_against_live(kind, self.ctx, resource, live, declared_fingerprints(kind, self.ctx, resource))

    def _verify_deleted(self, kind: Kind, action: Action) -> None:
        """Bounded by the kind's readiness budget: some platforms delete asynchronously."""
        deadline = time.monotonic() + max(self.options.verify_timeout, kind.ready_timeout)
        while kind.read(self.ctx, self._ref(action)) is not None:
            if time.monotonic() >= deadline:
                raise TemporaryError("object still present after delete")
            time.sleep(self.options.verify_interval)


#: What a kind that merges document writes gets in one `write_document` call.
_MERGED_OPS = frozenset({Op.CREATE, Op.UPDATE, Op.DELETE})


def _in_order(batch: list[Action], units: list[list[Action]], results: list[list[Any]]) -> list[Any]:
    """Each unit's outcomes, one per action, back in the level's order."""
    by_action = {id(a): r for unit, rs in zip(units, results, strict=True) for a, r in zip(unit, rs, strict=True)}
    return [by_action[id(a)] for a in batch]


@dataclass
class _Written:
    """An acknowledged write whose read-back waits for the level's listing."""

    kind: Kind
    action: Action
    target: Resource
    created: Created


#: An action that did not get to finish (cancelled by an interrupt): its intent stays pending.
_UNFINISHED = object()


def _settled(future: Future[Any]) -> Any:
    if future.cancelled() or not future.done() or future.exception() is not None:
        return _UNFINISHED
    return future.result()


class _Undecidable(Exception):
    """Nothing can tell whether a write landed."""


def _as_created(value: Any, fallback: Created) -> Created:
    """A kind's create/save may return a `Created` or just an id (or nothing)."""
    if isinstance(value, Created):
        if value.platform_id is None:
            value.platform_id = fallback.platform_id
        return value
    if value is None:
        return fallback
    return Created(platform_id=value, revision=fallback.revision)
