"""Drive platforge's Pulumi dynamic provider the way the Pulumi engine does, without the CLI.

Two layers (the engine behaviour they copy is in the Pulumi engine's source: the provider plugin
client, the step generator and the `pulumi-resource-pulumi-python` shim):

* `ProviderProcess`: the wire. It launches `python -u -m pulumi.dynamic <engine-address>` as the
  engine's `pulumi-resource-pulumi-python` shim does (same argv shape, env with `PULUMI_PROJECT`,
  `PULUMI_CONFIG` and `PULUMI_RUNTIME_*`, cwd = the program directory), reads the port from the first
  stdout line, dials it over gRPC and speaks `ResourceProvider`. Requests are plain dicts serialized
  with `pulumi.runtime.rpc`; answers are plain dicts again (numbers come back as floats: protobuf
  `Struct`). Configure sends secret-wrapped config values; the plugin answers `acceptSecrets=False`,
  so afterwards every secret wrapper is stripped before sending, as the engine does.
* `MiniEngine`: the step generator. A per-URN state of inputs and outputs (secret properties kept
  as rpc secret wrappers, like the engine's state), and the engine's decisions for `up` (Check, then
  Create or Diff → same / update / replace honouring deleteBeforeReplace), `preview` (Check + Diff
  only, Unknowns allowed), `refresh` (Read; an empty id means gone), `destroy` (Delete), program-level
  `up_program`/`preview_program` (deletes = URNs in state no longer declared), aliases (an old
  URN in state is taken over by the resource that names it) and the secret annotation of outputs
  (`annotateSecrets` + `additional_secret_outputs`).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime._serialization import _serialize
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

UNKNOWN = rpc.UNKNOWN
PROVIDER_KEY = "__provider"
#: The type of a `pulumi.dynamic.Resource` subclass that declares no `module=`/`name=`; a
#: subclass that does is `pulumi-python:dynamic/<module>:<name>`.
DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"
DEFAULT_PROJECT = "platforge-stack"
DEFAULT_STACK = "dev"

# ---- values -------------------------------------------------------------------------------


def secret(value: Any) -> dict[str, Any]:
    """A value marked secret, as the engine keeps it (the rpc secret wrapper)."""
    return rpc.wrap_rpc_secret(value)


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def reveal(value: Any) -> Any:
    """The value with every secret wrapper removed (what the engine sends when acceptSecrets=False)."""
    if rpc.is_rpc_secret(value):
        return reveal(value["value"])
    if isinstance(value, Mapping):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [reveal(v) for v in value]
    return value


def secret_keys(props: Mapping[str, Any]) -> set[str]:
    return {k for k, v in props.items() if rpc.is_rpc_secret(v)}


def has_unknowns(value: Any) -> bool:
    if value == UNKNOWN or isinstance(value, Unknown):
        return True
    if isinstance(value, Mapping):
        return any(has_unknowns(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_unknowns(v) for v in value)
    return False


def serialize_like_sdk(provider: Any) -> str:
    """`__provider` exactly as `pulumi.dynamic.Resource.__init__` computes it (before any secret
    wrapping, which KindProvider turns off with serialize_as_secret_always=False)."""
    serialized, contains_secrets = _serialize(True, serialize_provider, provider)
    if contains_secrets or getattr(provider, "serialize_as_secret_always", True):
        raise AssertionError("this provider's __provider would be a secret")
    return serialized


def to_struct(props: Mapping[str, Any]):
    """Plain dict → protobuf Struct with the SDK's own serializer."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(dict(props), {}))
    finally:
        loop.close()


def _unknowns_back(value: Any) -> Any:
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _unknowns_back(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unknowns_back(v) for v in value]
    return value


def from_struct(struct) -> dict[str, Any]:
    """protobuf Struct → plain dict (secret wrappers kept, Unknowns as the UNKNOWN sentinel)."""
    return _unknowns_back(rpc.deserialize_properties(struct, keep_unknowns=True))


# ---- the wire ----------------------------------------------------------------------------


class ProviderError(Exception):
    """A failed provider RPC: the gRPC status code and the details (the plugin's traceback)."""

    def __init__(self, method: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{method} failed ({code.name}): {details}")
        self.method = method
        self.code = code
        self.details = details or ""


@dataclass
class CheckResult:
    inputs: dict[str, Any]
    failures: list[tuple[str, str]]


@dataclass
class DiffResult:
    changes: str  # "none" | "some" | "unknown"
    replaces: list[str]
    delete_before_replace: bool


@dataclass
class ReadResult:
    id: str
    outputs: dict[str, Any]
    inputs: dict[str, Any] | None


_DIFF_CHANGES = {
    provider_pb2.DiffResponse.DIFF_NONE: "none",
    provider_pb2.DiffResponse.DIFF_SOME: "some",
    provider_pb2.DiffResponse.DIFF_UNKNOWN: "unknown",
}


def urn_of(name: str, *, stack: str = DEFAULT_STACK, project: str = DEFAULT_PROJECT,
           type_: str = DYNAMIC_TYPE) -> str:
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def is_dynamic(type_: str) -> bool:
    """Whether a registration's type is a dynamic resource (served by the pulumi-python plugin)."""
    return type_ == DYNAMIC_TYPE or type_.startswith("pulumi-python:dynamic/")


_RUNNING: set[ProviderProcess] = set()


@atexit.register
def _stop_leftovers() -> None:  # a test run interrupted before its fixtures' teardown
    for process in list(_RUNNING):
        process.close()


class ProviderProcess:
    """One `pulumi-resource-pulumi-python` plugin process and a gRPC stub on it."""

    def __init__(self, cwd: str | Path, *, project: str = DEFAULT_PROJECT, env: Mapping[str, str | None] | None = None,
                 runtime_options: Mapping[str, str] | None = None, python: str = sys.executable,
                 engine_address: str = "127.0.0.1:1", start_timeout: float = 30.0) -> None:
        self.cwd = str(cwd)
        self.project = project
        self.calls: list[tuple[str, str]] = []  # (method, urn or "") in order, for assertions
        self.accept_secrets = True  # until Configure answers
        self.configure_response: dict[str, bool] | None = None
        child_env = dict(os.environ)
        for key, value in (runtime_options or {"toolchain": "pip"}).items():
            child_env[f"PULUMI_RUNTIME_{key.upper()}"] = value
        child_env["PULUMI_PROJECT"] = project
        child_env["PULUMI_CONFIG"] = "{}"  # the config of namespace `pulumi-python`: normally empty
        child_env.update(env or {})
        for key in [k for k, v in child_env.items() if v is None]:
            del child_env[key]
        self._stderr = tempfile.NamedTemporaryFile(prefix="pulumi-plugin-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [python, "-u", "-m", "pulumi.dynamic", engine_address],
            cwd=self.cwd, env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        _RUNNING.add(self)
        self.port = self._read_port(start_timeout)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=start_timeout)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def _read_port(self, timeout: float) -> int:
        box: list[bytes] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = box[0].strip() if box else b""
        if not line.isdigit():
            self.close()
            raise RuntimeError(f"the provider plugin printed no port (got {line!r}); stderr:\n{self.stderr()}")
        return int(line)

    # ---- lifecycle ------------------------------------------------------------------------

    def stderr(self) -> str:
        self._stderr.flush()
        return Path(self._stderr.name).read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        _RUNNING.discard(self)
        if getattr(self, "channel", None) is not None:
            self.channel.close()
            self.channel = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()
        try:
            os.unlink(self._stderr.name)
        except OSError:
            pass

    def __enter__(self) -> ProviderProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- RPCs -----------------------------------------------------------------------------

    def _call(self, method: str, request: Any, urn: str = "") -> Any:
        self.calls.append((method, urn))
        try:
            return getattr(self.stub, method)(request, timeout=60)
        except grpc.RpcError as exc:
            raise ProviderError(method, exc.code(), exc.details()) from None

    def _outgoing(self, props: Mapping[str, Any]):
        """What the engine sends after Configure: no secret wrappers unless the plugin accepts them."""
        return to_struct(props if self.accept_secrets else reveal(props))

    def get_plugin_info(self) -> str:
        return self._call("GetPluginInfo", empty_pb2.Empty()).version

    def configure(self, config: Mapping[str, Any], secret_keys: Iterable[str] = ()) -> dict[str, bool]:
        """The whole stack config, `ns:key` → string; `secret_keys` are sent secret-wrapped (decrypted)."""
        secret_names = set(secret_keys)
        args = {k: rpc.wrap_rpc_secret(str(v)) if k in secret_names else str(v) for k, v in config.items()}
        request = provider_pb2.ConfigureRequest(
            variables={k: str(v) for k, v in config.items()}, args=to_struct(args),
            acceptSecrets=True, acceptResources=True,
        )
        response = self._call("Configure", request)
        self.accept_secrets = response.acceptSecrets
        self.configure_response = {"acceptSecrets": response.acceptSecrets,
                                   "supportsPreview": response.supportsPreview,
                                   "acceptResources": response.acceptResources}
        return self.configure_response

    def check_response(self, urn: str, olds: Mapping[str, Any], news: Mapping[str, Any]):
        """The CheckResponse message itself (for assertions on everything the engine receives)."""
        return self._call("Check", provider_pb2.CheckRequest(
            urn=urn, olds=self._outgoing(olds), news=self._outgoing(news), randomSeed=os.urandom(32)), urn)

    def check(self, urn: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> CheckResult:
        response = self.check_response(urn, olds, news)
        return CheckResult(from_struct(response.inputs), [(f.property, f.reason) for f in response.failures])

    def diff(self, id_: str, urn: str, olds: Mapping[str, Any], news: Mapping[str, Any],
             old_inputs: Mapping[str, Any] | None = None) -> DiffResult:
        response = self._call("Diff", provider_pb2.DiffRequest(
            id=id_, urn=urn, olds=self._outgoing(olds), news=self._outgoing(news),
            old_inputs=self._outgoing(old_inputs or {})), urn)
        return DiffResult(_DIFF_CHANGES[response.changes], list(response.replaces), response.deleteBeforeReplace)

    def create(self, urn: str, properties: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        response = self._call("Create", provider_pb2.CreateRequest(
            urn=urn, properties=self._outgoing(properties), timeout=60), urn)
        return response.id, from_struct(response.properties)

    def read(self, id_: str, urn: str, properties: Mapping[str, Any],
             inputs: Mapping[str, Any] | None = None) -> ReadResult:
        response = self._call("Read", provider_pb2.ReadRequest(
            id=id_, urn=urn, properties=self._outgoing(properties), inputs=self._outgoing(inputs or {})), urn)
        new_inputs = from_struct(response.inputs) if response.HasField("inputs") else None
        return ReadResult(response.id, from_struct(response.properties), new_inputs)

    def update(self, id_: str, urn: str, olds: Mapping[str, Any], news: Mapping[str, Any],
               old_inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = self._call("Update", provider_pb2.UpdateRequest(
            id=id_, urn=urn, olds=self._outgoing(olds), news=self._outgoing(news), timeout=60,
            old_inputs=self._outgoing(old_inputs or {})), urn)
        return from_struct(response.properties)

    def delete(self, id_: str, urn: str, properties: Mapping[str, Any],
               old_inputs: Mapping[str, Any] | None = None) -> None:
        self._call("Delete", provider_pb2.DeleteRequest(
            id=id_, urn=urn, properties=self._outgoing(properties), timeout=60,
            old_inputs=self._outgoing(old_inputs or {})), urn)


# ---- the step generator ------------------------------------------------------------------


class CheckFailed(Exception):
    def __init__(self, urn: str, failures: list[tuple[str, str]]) -> None:
        super().__init__(f"{urn}: " + "; ".join(f"{p}: {r}" for p, r in failures))
        self.urn = urn
        self.failures = failures


@dataclass
class ResourceState:
    urn: str
    id: str
    inputs: dict[str, Any]  # checked inputs, secret properties wrapped
    outputs: dict[str, Any]  # secret properties wrapped
    additional_secret_outputs: tuple[str, ...] = ()
    delete_before_replace: bool = False  # the resource option


@dataclass
class Step:
    urn: str
    op: str  # create | same | update | replace | delete | refresh-same | refresh-update | refresh-delete
    id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    diff: DiffResult | None = None
    delete_before_replace: bool | None = None


@dataclass
class Declared:
    """One resource as a program registers it: inputs include `__provider`."""

    urn: str
    inputs: dict[str, Any]
    additional_secret_outputs: tuple[str, ...] = ()
    delete_before_replace: bool = False
    aliases: tuple[str, ...] = ()  # old URNs this resource may have been recorded under


class MiniEngine:
    """The engine's step decisions for dynamic resources, over one ProviderProcess."""

    def __init__(self, provider: ProviderProcess) -> None:
        self.provider = provider
        self.state: dict[str, ResourceState] = {}
        self._lock = threading.Lock()  # the mock monitor may register from several threads

    # ---- secret annotation (engine: annotateSecrets + additional secret outputs) ----------

    @staticmethod
    def _annotate(props: Mapping[str, Any], secret_names: Iterable[str]) -> dict[str, Any]:
        names = set(secret_names)
        return {k: secret(reveal(v)) if k in names else v for k, v in props.items()}

    def _check(self, urn: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        result = self.provider.check(urn, olds, news)
        if result.failures:
            raise CheckFailed(urn, result.failures)
        return self._annotate(result.inputs, secret_keys(news))

    def _outputs(self, outputs: Mapping[str, Any], inputs: Mapping[str, Any], extra: Iterable[str]) -> dict[str, Any]:
        return self._annotate(outputs, secret_keys(inputs) | set(extra))

    # ---- single resources ---------------------------------------------------------------

    def _take_alias(self, urn: str, aliases: Iterable[str]) -> None:
        """The engine looks a resource up by its URN, then by its aliases: state recorded under an
        alias becomes this resource's (no create, no delete of the old URN)."""
        if urn in self.state:
            return
        for alias in aliases:
            if alias in self.state:
                old = self.state.pop(alias)
                old.urn = urn
                self.state[urn] = old
                return

    def up(self, urn: str, inputs: Mapping[str, Any], *, additional_secret_outputs: Iterable[str] = (),
           delete_before_replace: bool = False, aliases: Iterable[str] = ()) -> Step:
        if has_unknowns(inputs):
            raise ValueError(f"{urn}: `up` needs known inputs (the engine waits for them)")
        extra = tuple(additional_secret_outputs)
        with self._lock:
            self._take_alias(urn, aliases)
            old = self.state.get(urn)
            news = self._check(urn, old.inputs if old else {}, inputs)
            if old is None:
                id_, outs = self.provider.create(urn, news)
                if not id_:
                    raise AssertionError(f"{urn}: Create returned an empty id")
                self.state[urn] = ResourceState(urn, id_, news, self._outputs(outs, news, extra), extra,
                                                delete_before_replace)
                return Step(urn, "create", id_, self.state[urn].outputs)
            diff = self.provider.diff(old.id, urn, old.outputs, news, old.inputs)
            op = self._op(diff, old.inputs, news)
            if op == "same":
                old.inputs = news
                return Step(urn, "same", old.id, old.outputs, diff)
            if op == "update":
                outs = self.provider.update(old.id, urn, old.outputs, news, old.inputs)
                self.state[urn] = ResourceState(urn, old.id, news, self._outputs(outs, news, extra), extra,
                                                delete_before_replace)
                return Step(urn, "update", old.id, self.state[urn].outputs, diff)
            dbr = bool(diff.delete_before_replace or delete_before_replace or old.delete_before_replace)
            if dbr:
                self.provider.delete(old.id, urn, old.outputs, old.inputs)
                id_, outs = self.provider.create(urn, news)
            else:
                id_, outs = self.provider.create(urn, news)
                self.provider.delete(old.id, urn, old.outputs, old.inputs)
            self.state[urn] = ResourceState(urn, id_, news, self._outputs(outs, news, extra), extra,
                                            delete_before_replace)
            return Step(urn, "replace", id_, self.state[urn].outputs, diff, dbr)

    @staticmethod
    def _op(diff: DiffResult, old_inputs: Mapping[str, Any], news: Mapping[str, Any]) -> str:
        if diff.changes == "none":
            return "same"
        if diff.changes == "unknown":  # the engine diffs old and new inputs itself, __provider included
            return "same" if reveal(old_inputs) == reveal(news) else "update"
        return "replace" if diff.replaces else "update"

    def preview(self, urn: str, inputs: Mapping[str, Any], *, aliases: Iterable[str] = ()) -> Step:
        """Check + Diff only (supportsPreview is false): no Create or Update; state unchanged."""
        old = self.state.get(urn) or next((self.state[a] for a in aliases if a in self.state), None)
        news = self._check(urn, old.inputs if old else {}, inputs)
        if old is None:
            return Step(urn, "create", "", dict(news))
        diff = self.provider.diff(old.id, urn, old.outputs, news, old.inputs)
        op = self._op(diff, old.inputs, news)
        outputs = old.outputs if op == "same" else dict(news)
        return Step(urn, op, old.id, outputs, diff,
                    bool(diff.delete_before_replace or old.delete_before_replace) if op == "replace" else None)

    def refresh(self, urn: str) -> Step:
        with self._lock:
            old = self.state[urn]
            result = self.provider.read(old.id, urn, old.outputs, old.inputs)
            if not result.id:
                del self.state[urn]
                return Step(urn, "refresh-delete", old.id)
            secret_names = secret_keys(old.outputs) | set(old.additional_secret_outputs)
            outputs = self._annotate(result.outputs, secret_names)
            inputs = self._annotate(result.inputs, secret_keys(old.inputs)) if result.inputs is not None else old.inputs
            changed = reveal(outputs) != reveal(old.outputs)
            self.state[urn] = ResourceState(urn, result.id, inputs, outputs, old.additional_secret_outputs,
                                            old.delete_before_replace)
            return Step(urn, "refresh-update" if changed else "refresh-same", result.id, outputs)

    def destroy(self, urn: str) -> Step:
        with self._lock:
            old = self.state.pop(urn)
            try:
                self.provider.delete(old.id, urn, old.outputs, old.inputs)
            except Exception:
                self.state[urn] = old
                raise
            return Step(urn, "delete", old.id)

    # ---- whole programs -----------------------------------------------------------------

    def up_program(self, program: Iterable[Declared]) -> list[Step]:
        """Register every resource in order, then delete what the program no longer declares
        (in reverse order of creation, as the engine deletes dependents first)."""
        declared = list(program)
        steps = [self.up(d.urn, d.inputs, additional_secret_outputs=d.additional_secret_outputs,
                         delete_before_replace=d.delete_before_replace, aliases=d.aliases) for d in declared]
        return steps + self.prune({d.urn for d in declared})

    def prune(self, registered: Iterable[str]) -> list[Step]:
        """The end of an `up`: delete what is in state but was not registered this run."""
        wanted = set(registered)
        return [self.destroy(urn) for urn in reversed([u for u in self.state if u not in wanted])]

    def preview_program(self, program: Iterable[Declared]) -> list[Step]:
        declared = list(program)
        steps = [self.preview(d.urn, d.inputs, aliases=d.aliases) for d in declared]
        wanted = {d.urn for d in declared} | {a for d in declared for a in d.aliases}
        steps += [Step(urn, "delete", self.state[urn].id) for urn in reversed(list(self.state)) if urn not in wanted]
        return steps

    def destroy_all(self) -> list[Step]:
        return [self.destroy(urn) for urn in reversed(list(self.state))]


def summarize(steps: Iterable[Step]) -> dict[str, list[str]]:
    """op → sorted resource names (the last URN segment)."""
    out: dict[str, list[str]] = {}
    for step in steps:
        out.setdefault(step.op, []).append(step.urn.rsplit("::", 1)[-1])
    return {op: sorted(names) for op, names in out.items()}


def dumps(value: Any) -> str:
    """A stable JSON rendering of anything the harness holds (for 'never appears in' assertions)."""
    return json.dumps(value, sort_keys=True, default=repr)

