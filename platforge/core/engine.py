"""One stack bound to one live platform: the single code path behind every front door.

The CLI and the Pulumi provider both go through `Engine`, so a change plans the same whichever
door it comes through.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .apply import Applier, ApplyOptions, ApplyResult, ProgressHook
from .drift import DEFAULT_FAIL_ON, DriftReport, detect_drift
from .errors import PlanError, TargetMismatch
from .fingerprint import Fingerprinter
from .kind import Context
from .model import Action, Cause, Op
from .plan import PLAN_FORMAT, Plan, Platform, Target, make_plan, read_live_per_object, unsettled
from .policy import Policy
from .stack import Stack
from .state import LocalStateBackend, ObjectStoreStateBackend, State, StateBackend, lock_waiting

#: How old (seconds) a plan this engine made may be and still be the apply's plan, when the
#: state under the lock is the one it was made from: no other apply wrote since, and what it
#: read of the platform is as fresh as a read under the lock would have been a moment earlier.
PREVIEW_REUSE_SECONDS = 30.0


class Engine:
    def __init__(self, stack: Stack, platform: Platform, client: Any, backend: StateBackend,
                 check_target: bool = True) -> None:
        self.stack = stack
        self.platform = platform
        self.client = client
        self.backend = backend
        self.target = Target(platform=platform.name, endpoint=platform.endpoint_of(client),
                             environment=stack.platform_config.scope(), stack=stack.name)
        # A state of another target is refused before anything is written. What was read is kept
        # for the first plan or drift of this run (reading a protected platform state costs a
        # dozen requests); anything under the lock reads afresh.
        self._preloaded: list[State | None] = [self._load_bound()] if check_target else []
        self.ctx = Context(client, Fingerprinter(backend.fingerprint_key()), platform.settings(stack.platform_config, stack.resources))
        self.policy = Policy.build(stack.external, stack.adopt, stack.unmanaged_ignore)

    # ---- state, bound to one target ----------------------------------------------------

    def load_state(self, fresh: bool = False) -> State:
        state = self._load_bound(fresh)
        if state is None:
            state = State(stack=self.stack.name, platform=self.target.to_json())
        return state

    def _load_bound(self, fresh: bool = True) -> State | None:
        """The stack's state, refused when it belongs to another target: ownership recorded
        against one platform must never decide what is pruned on another."""
        if not fresh and self._preloaded:
            return self._preloaded.pop()
        state = self.backend.load()
        if state is not None and state.platform and not same_target(state.platform, self.target.to_json()):
            raise TargetMismatch(self.backend.describe(), state.platform, self.target.to_json())
        return state

    def retarget(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Bind the state to this engine's target (a platform that moved to a new URL)."""
        with self.backend.lock("retarget"):
            state = self.backend.load()
            if state is None:
                raise PlanError(f"no state at {self.backend.describe()}: nothing to retarget")
            before = dict(state.platform)
            state.platform = self.target.to_json()
            state.serial += 1
            self.backend.save(state)
            return before, state.platform

    def forget(self, addresses: list[str]) -> list[str]:
        """Stop owning objects without touching them (they become unmanaged)."""
        with self.backend.lock("forget"):
            state = self._load_bound()
            if state is None:
                raise PlanError(f"no state at {self.backend.describe()}: this stack owns nothing yet")
            unknown = [a for a in addresses if a not in state.resources]
            if unknown:
                raise PlanError(f"not owned by this stack: {', '.join(unknown)}")
            for address in addresses:
                del state.resources[address]
            state.serial += 1
            self.backend.save(state)
            return addresses

    # ---- plan --------------------------------------------------------------------------

    #: Seconds an apply waits for another run of this stack to release the state lock (0: fail
    #: at once, naming the holder).
    lock_timeout = 0.0
    #: Told of each wait for the lock: (the holder's message, seconds left).
    on_lock_wait: Callable[[str, float], None] | None = None

    #: How live state is read: "list" (one list call per kind per page) or "per-object" (one
    #: read per object, 10 at a time: the baseline other engines use, for APIs with no list call).
    refresh = "list"

    def plan(self, prune: bool = False, state: State | None = None, adopt: Iterable[str] = ()) -> Plan:
        self.ctx.invalidate()
        state = state if state is not None else self.load_state(fresh=False)
        live = read_live_per_object(self.platform, self.ctx, self.stack.resources, state) \
            if self.refresh == "per-object" else None
        plan = make_plan(self.platform, self.ctx, self.target, self.stack.resources, state, prune=prune,
                         policy=self.policy.with_adopt(adopt), live=live)
        plan.refresh_secrets = self.ctx.refresh_secrets
        self._planned_from = (id(plan), state)
        self._made = (id(plan), time.monotonic(), tuple(sorted(set(adopt))), self.policy)
        return plan

    _made: tuple[int, float, tuple[str, ...], Policy] | None = None
    #: The state the last plan was made from (by the plan's id): read once per run.
    _planned_from: tuple[int, State] | None = None

    def _reusable(self, preview: Plan, state: State | None, adopt: list[str]) -> bool:
        """Whether `preview` may be the apply's plan: made by this engine moments ago, with the
        same consent and policy, from the state that is under the lock now."""
        if self._made is None or self._made[0] != id(preview):
            return False
        _, made_at, consent, policy = self._made
        if time.monotonic() - made_at > PREVIEW_REUSE_SECONDS or consent != tuple(sorted(set(adopt))) \
                or policy is not self.policy:
            return False
        if state is None:  # still no state: the preview was made from none either (every save counts from 1)
            return preview.state_serial == 0
        return (preview.state_lineage, preview.state_serial) == (state.lineage, state.serial)

    # ---- apply -------------------------------------------------------------------------

    def apply(self, prune: bool = False, saved_plan: dict[str, Any] | None = None,
              progress: ProgressHook | None = None, preview: Plan | None = None,
              adopt: Iterable[str] = (), parallelism: int | None = None) -> tuple[Plan, ApplyResult]:
        """Apply a fresh plan, or a saved one if nothing it was based on changed since.

        `preview` is a plan the caller just showed (it saves one read of live state). An empty
        plan takes no lock and writes nothing. Otherwise the plan is made again under
        the lock, so the apply acts on what is live now, never on a stale read. Consent to
        adopt (`adopt` patterns, the stack's `[adopt]`, or a saved plan's) is checked on that
        plan, before the first write, and only there: seen without the lock, a refusal may be
        another apply of this stack at work (the objects it created are not in the state read
        before it saved), which the lock then names ("locked by ..."), or whose finished work
        the fresh plan sees as owned.
        """
        prune, adopt = self._saved_terms(saved_plan, prune, adopt)
        if preview is None or preview.prune != prune:
            preview = self.plan(prune=prune, adopt=adopt)
        if saved_plan is not None:
            self._check_saved(saved_plan, preview)
        if not preview.has_changes and not self._state_needs_write(preview):
            return preview, ApplyResult()
        with lock_waiting(self.backend, "apply", self.lock_timeout, on_wait=self.on_lock_wait):
            bound = self._load_bound()
            state = bound if bound is not None else State(stack=self.stack.name, platform=self.target.to_json())
            # Planned again under the lock unless the preview is that plan already: the same
            # state (no apply wrote since) and moments old, when its reads are as good as new.
            plan = preview if self._reusable(preview, bound, adopt) else \
                self.plan(prune=prune, state=state, adopt=adopt)
            if saved_plan is not None:
                self._check_saved(saved_plan, plan)
            options = ApplyOptions(parallelism=parallelism or self.stack.platform_config.parallelism)
            applier = Applier(self.platform, self.ctx, self.backend, options, progress)
            result = applier.apply(plan, self.stack.resources, state)
            return plan, result

    def preview(self, prune: bool = False, saved_plan: dict[str, Any] | None = None,
                adopt: Iterable[str] = ()) -> Plan:
        """The plan `apply` would act on, to show before it: made on a saved plan's terms (its
        `--prune`, its consent, its secret reads) and refused if that plan is stale, so a front
        door never shows a plan it will not apply. Pass it to `apply` as `preview`."""
        prune, consent = self._saved_terms(saved_plan, prune, adopt)
        plan = self.plan(prune=prune, adopt=consent)
        if saved_plan is not None:
            self._check_saved(saved_plan, plan)
        return plan

    def _saved_terms(self, saved_plan: dict[str, Any] | None, prune: bool,
                     adopt: Iterable[str]) -> tuple[bool, list[str]]:
        """(prune, consent) for a plan made as `saved_plan` was: its prune, the imports it
        consented to; and its secret reads (`--refresh-secrets`) switched on for this run."""
        consent = list(adopt)
        if saved_plan is None:
            return prune, consent
        self.ctx.refresh_secrets = self.ctx.refresh_secrets or bool(saved_plan.get("refresh_secrets"))
        consent += [a["address"] for a in saved_plan.get("actions") or () if a.get("op") == "import" and a.get("adopt")]
        return bool(saved_plan.get("prune", prune)), consent

    def _unrecorded(self, plan: Plan, state: State) -> list[Action]:
        """The plan's actions whose declarations the state does not hold as applied (no entry,
        or another declaration than the one the last apply recorded)."""
        by_address = {r.address: r for r in self.stack.resources}
        out = []
        for action in plan.actions:
            entry = state.resources.get(action.address)
            resource = by_address.get(action.address)
            if entry is None or resource is None or entry.applied != resource.spec:
                out.append(action)
        return out

    def _state_needs_write(self, plan: Plan) -> bool:
        """Adopted in-sync objects, or owned objects that vanished, still need recording."""
        state = self._load_bound()
        if state is None:
            return bool(plan.actions)
        declared = {a.address for a in plan.actions}
        orphans = set(plan.orphans)
        if any(address not in declared and address not in orphans for address in state.resources):
            return True
        return bool(self._unrecorded(plan, state)) or bool(unsettled(state))

    def records_pending(self, plan: Plan) -> list[str]:
        """Objects the plan leaves alone whose declarations differ from what the state recorded
        at the last apply (drift accepted into the stack, a default now spelled out): the next
        apply records them, writing nothing to the platform, and drift reports them as changed
        outside platforge until then."""
        state = self._planned_from[1] if self._planned_from and self._planned_from[0] == id(plan) else \
            self._load_bound()
        if state is None or not state.resources:
            return []
        return sorted(a.address for a in self._unrecorded(plan, state)
                      if a.op is Op.NOOP and a.address in state.resources)

    def _check_saved(self, saved: dict[str, Any], fresh: Plan) -> None:
        if saved.get("format") != PLAN_FORMAT:
            raise PlanError(f"not a platforge plan: format {saved.get('format')!r}, expected {PLAN_FORMAT!r}")
        if saved.get("target") != fresh.target.to_json():
            raise PlanError(f"the saved plan is for {saved.get('target')}, not {fresh.target.to_json()}")
        if saved.get("desired_digest") != fresh.desired_digest:
            raise PlanError("the saved plan is stale: the stack's declarations changed since it was made; plan again")
        if saved.get("live_digest") != fresh.live_digest:
            raise PlanError("the saved plan is stale: the live platform changed since it was made; plan again")

    # ---- drift -------------------------------------------------------------------------

    def drift(self, fail_on: Iterable[Cause] = ()) -> DriftReport:
        self.ctx.invalidate()
        return detect_drift(self.platform, self.ctx, self.target, self.stack.resources, self._load_bound(fresh=False),
                            self.platform.secret_detection, policy=self.policy,
                            fail_on=DEFAULT_FAIL_ON | frozenset(fail_on))


def same_target(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether two targets are the same platform, endpoint and environment (the stack name may
    differ: a renamed stack keeps its state)."""
    return (recorded.get("platform") == current.get("platform")
            and normalise_endpoint(str(recorded.get("endpoint", ""))) == normalise_endpoint(str(current.get("endpoint", "")))
            and recorded.get("environment") == current.get("environment"))


def normalise_endpoint(url: str) -> str:
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def describe_target(target: dict[str, Any]) -> str:
    return f"{target.get('platform')} at {target.get('endpoint')} (environment {target.get('environment')})"


def make_backend(stack: Stack, platform: Platform, client: Any) -> StateBackend:
    config = stack.state_config
    if config.backend == "local":
        path = Path(config.resolved_path())
        if not path.is_absolute():
            path = stack.directory / path
        return LocalStateBackend(path)
    if config.backend == "platform":
        prefix = config.prefix or f"platforge/stacks/{stack.name}"
        return ObjectStoreStateBackend(platform.object_store(client, stack.platform_config), prefix,
                                       operators=config.operators)
    raise PlanError(f"unknown state backend {config.backend!r}: expected 'local' or 'platform'")


def load_plan_file(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"cannot read plan {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise PlanError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PlanError(f"{path} is not a platforge plan")
    return data
