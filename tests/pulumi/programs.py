"""Run Pulumi programs under `pulumi.runtime.set_mocks`: plain mocks (wiring only) and
engine-backed mocks (dynamic resources go through `MiniEngine` into a real provider process).

`CapturingMonitor` records what the SDK registers — inputs with their secret wrappers, explicit
dependencies, `additionalSecretOutputs` and aliases — which `MockResourceArgs` does not expose,
and refuses a second registration of one URN as the engine does.
"""

from __future__ import annotations

import asyncio
import runpy
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs, Mocks, set_mocks
from pulumi.runtime.settings import ROOT, get_root_resource

from .harness import DEFAULT_PROJECT, DEFAULT_STACK, Declared, MiniEngine, Step, is_dynamic, urn_of


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]  # as the SDK sent them: secret properties wrapped
    dependencies: list[str]
    additional_secret_outputs: list[str]
    aliases: list[str] = field(default_factory=list)  # as URNs


class DuplicateUrn(Exception):
    """The engine's answer to a second registration of one URN in a run."""


def _alias_urns(request) -> list[str]:
    """Alias specs as the engine resolves them for a top-level resource (no parent type)."""
    out = []
    for alias in request.aliases:
        if alias.HasField("urn"):
            out.append(alias.urn)
        else:
            spec = alias.spec
            out.append(urn_of(spec.name or request.name, type_=spec.type or request.type,
                              stack=spec.stack or DEFAULT_STACK, project=spec.project or DEFAULT_PROJECT))
    return out


class CapturingMonitor(MockMonitor):
    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}  # by resource name (tests name them uniquely)
        self.by_urn: dict[str, Registration] = {}
        self.order: list[str] = []  # URNs
        self._lock = threading.Lock()

    def RegisterResource(self, request):
        if request.type != "pulumi:pulumi:Stack":
            # The engine's URN: a resource parented to the root stack carries no `Stack$` prefix
            # (the mock monitor adds one); every platforge resource is top-level.
            urn = urn_of(request.name, type_=request.type)
            registration = Registration(urn, request.type, request.name, rpc.deserialize_properties(request.object),
                                        list(request.dependencies), list(request.additionalSecretOutputs),
                                        _alias_urns(request))
            with self._lock:
                if urn in self.by_urn:  # the engine's step generator refuses it the same way
                    raise DuplicateUrn(f"Duplicate resource URN '{urn}'; try giving it a unique name")
                self.by_urn[urn] = registration
                self.registrations[request.name] = registration
                self.order.append(urn)
        return super().RegisterResource(request)

    def declared(self) -> list[Declared]:
        """The registrations in order, as MiniEngine inputs."""
        return [Declared(r.urn, dict(r.inputs), tuple(r.additional_secret_outputs), aliases=tuple(r.aliases))
                for r in (self.by_urn[u] for u in self.order) if is_dynamic(r.type)]


class PlainMocks(Mocks):
    """Echo inputs as outputs (secret wrappers kept, so secret inputs stay secret Outputs)."""

    def new_resource(self, args: MockResourceArgs):
        outputs = dict(args.inputs)
        outputs.setdefault("platform_id", f"mock-{args.name}")
        return f"{args.name}-id", outputs

    def call(self, args):
        return {}


class EngineMocks(Mocks):
    """Dynamic resources go to `MiniEngine.up` (or `preview`) on a real provider process."""

    def __init__(self, engine: MiniEngine, *, preview: bool = False) -> None:
        self.engine = engine
        self.preview = preview
        self.monitor: CapturingMonitor | None = None
        self.steps: list[Step] = []

    def new_resource(self, args: MockResourceArgs):
        if not is_dynamic(args.typ):
            return f"{args.name}-id", dict(args.inputs)
        registration = self.monitor.by_urn[urn_of(args.name, type_=args.typ)]
        if self.preview:
            step = self.engine.preview(registration.urn, args.inputs, aliases=registration.aliases)
        else:
            step = self.engine.up(registration.urn, args.inputs,
                                  additional_secret_outputs=registration.additional_secret_outputs,
                                  aliases=registration.aliases)
        self.steps.append(step)
        return step.id or None, step.outputs

    def call(self, args):
        return {}


@dataclass
class ProgramRun:
    monitor: CapturingMonitor
    exports: dict[str, Any] = field(default_factory=dict)
    namespace: dict[str, Any] = field(default_factory=dict)

    @property
    def registrations(self) -> dict[str, Registration]:
        return self.monitor.registrations


def run_program(program: Callable[[], dict[str, Any] | None], mocks: Mocks, *,
                config: Mapping[str, str] | None = None, secret_config: tuple[str, ...] = (),
                preview: bool = False) -> ProgramRun:
    """Run `program` as the Pulumi runtime would, wait for every registration and output, and
    return what the monitor captured plus the resolved stack exports."""
    ROOT.set(None)
    # Another test in this worker may have run asyncio.run(), which leaves the main thread with
    # no current loop; the SDK's Stack() needs one.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    set_all_config(dict(config or {}), list(secret_config))
    monitor = CapturingMonitor(mocks)
    if isinstance(mocks, EngineMocks):
        mocks.monitor = monitor
    set_mocks(mocks, project=DEFAULT_PROJECT, stack=DEFAULT_STACK, preview=preview, monitor=monitor)
    run = ProgramRun(monitor)

    @pulumi.runtime.test
    def body():
        namespace = dict(program() or {})
        extra = namespace.pop("__wait__", None)  # more Outputs/awaitables the caller wants resolved
        run.namespace.update(namespace)
        stack = get_root_resource()
        exports = dict(getattr(stack, "outputs", {}) or {})
        done = pulumi.Output.from_input(exports).apply(lambda values: run.exports.update(values))
        return pulumi.Output.all(done, extra) if extra is not None else done

    try:
        body()
    finally:
        ROOT.set(None)
        set_all_config({}, [])
    return run


def main_program(path: Path) -> Callable[[], dict[str, Any]]:
    """`stacks/__main__.py` run as the language host runs it (run_name `__main__`)."""
    return lambda: runpy.run_path(str(path), run_name="__main__")


def stack_program(stack_dir: Path) -> Callable[[], dict[str, Any]]:
    def program() -> dict[str, Any]:
        from platforge.pulumi import declare_stack

        return {"resources": declare_stack(stack_dir)}

    return program


def declared_from_stack(stack_dir: Path) -> list[Declared]:
    """What `declare_stack` registers for this stack (run under plain mocks), as MiniEngine inputs."""
    return run_program(stack_program(stack_dir), PlainMocks()).monitor.declared()
