"""One stack bound to one live platform: the single code path behind every front door.

The CLI and the Pulumi provider both go through `Engine`, so a change plans the same whichever
door it comes through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .apply import Applier, ApplyOptions, ApplyResult, ProgressHook
from .drift import DriftReport, detect_drift
from .errors import PlanError
from .fingerprint import Fingerprinter
from .kind import Context
from .plan import PLAN_FORMAT, Plan, Platform, Target, make_plan
from .stack import Stack
from .state import LocalStateBackend, ObjectStoreStateBackend, State, StateBackend


class Engine:
    def __init__(self, stack: Stack, platform: Platform, client: Any, backend: StateBackend) -> None:
        self.stack = stack
        self.platform = platform
        self.client = client
        self.backend = backend
        self.ctx = Context(client, Fingerprinter(backend.fingerprint_key()), platform.settings(stack.platform_config, stack.resources))
        self.target = Target(platform=platform.name, endpoint=platform.endpoint_of(client),
                             environment=stack.platform_config.environment, stack=stack.name)

    # ---- plan --------------------------------------------------------------------------

    def load_state(self) -> State:
        state = self.backend.load()
        if state is None:
            state = State(stack=self.stack.name, platform=self.target.to_json())
        return state

    def plan(self, prune: bool = False, state: State | None = None) -> Plan:
        self.ctx.invalidate()
        state = state if state is not None else self.load_state()
        return make_plan(self.platform, self.ctx, self.target, self.stack.resources, state, prune=prune)

    # ---- apply -------------------------------------------------------------------------

    def apply(self, prune: bool = False, saved_plan: dict[str, Any] | None = None,
              progress: ProgressHook | None = None, preview: Plan | None = None) -> tuple[Plan, ApplyResult]:
        """Apply a fresh plan, or a saved one if nothing it was based on changed since.

        `preview` is a plan the caller just showed (it saves one read of live state). An empty
        plan takes no lock and writes nothing. Otherwise the plan is made again under
        the lock, so the apply acts on what is live now, never on a stale read.
        """
        if saved_plan is not None:
            prune = bool(saved_plan.get("prune", prune))
        if preview is None or preview.prune != prune:
            preview = self.plan(prune=prune)
        if saved_plan is not None:
            self._check_saved(saved_plan, preview)
        if not preview.has_changes and not self._state_needs_write(preview):
            return preview, ApplyResult()
        with self.backend.lock("apply"):
            state = self.load_state()
            plan = self.plan(prune=prune, state=state)
            if saved_plan is not None:
                self._check_saved(saved_plan, plan)
            options = ApplyOptions(parallelism=self.stack.platform_config.parallelism)
            applier = Applier(self.platform, self.ctx, self.backend, options, progress)
            result = applier.apply(plan, self.stack.resources, state)
            return plan, result

    def _state_needs_write(self, plan: Plan) -> bool:
        """Adopted in-sync objects, or owned objects that vanished, still need recording."""
        state = self.backend.load()
        if state is None:
            return bool(plan.actions)
        declared = {a.address for a in plan.actions}
        orphans = set(plan.orphans)
        if any(address not in declared and address not in orphans for address in state.resources):
            return True
        by_address = {r.address: r for r in self.stack.resources}
        for action in plan.actions:
            entry = state.resources.get(action.address)
            resource = by_address.get(action.address)
            if entry is None or resource is None or entry.applied != resource.spec:
                return True
        return bool(state.pending())

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

    def drift(self) -> DriftReport:
        self.ctx.invalidate()
        return detect_drift(self.platform, self.ctx, self.target, self.stack.resources, self.backend.load(),
                            self.platform.secret_detection)


def make_backend(stack: Stack, platform: Platform, client: Any) -> StateBackend:
    config = stack.state_config
    if config.backend == "local":
        path = Path(config.path)
        if not path.is_absolute():
            path = stack.directory / path
        return LocalStateBackend(path)
    if config.backend == "platform":
        prefix = config.prefix or f"platforge/stacks/{stack.name}"
        return ObjectStoreStateBackend(platform.object_store(client, stack.platform_config), prefix)
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
