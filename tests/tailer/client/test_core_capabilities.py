"""The two core capabilities this platform added, on a minimal deploy-only kind of no platform:
the alive probe (`Kind.probe`: drift only, in parallel, a failure is `unknown`) and the soft
delete (`Kind.delete_verb`/`delete_note`: called out on deletes and replaces), plus the replace
order a kind with `delete_before_replace = False` gets when its identity changes."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from platforge.core.apply import Applier
from platforge.core.drift import detect_drift
from platforge.core.fingerprint import Fingerprinter
from platforge.core.kind import Context, Kind
from platforge.core.model import Cause, Created, LiveObject, ObjectRef, Observability, Op, Resource, RunStatus
from platforge.core.plan import Target, make_plan
from platforge.core.state import LocalStateBackend, State


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int = 1


class _Deployed(Kind):
    name = "job"
    spec_model = _Spec
    identity_fields = ("name",)
    observability = Observability.NONE

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.probed: list[Any] = []
        self.lock = threading.Lock()

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        raise AssertionError("never listed")

    def create(self, ctx: Context, resource: Resource) -> Created:
        self.calls.append(("deploy", resource.identity[0]))
        return Created(platform_id=f"id-{resource.identity[0]}")

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        self.calls.append(("deploy", resource.identity[0]))

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        self.calls.append(("delete", ref.platform_id))


class _Archived(_Deployed):
    delete_before_replace = False
    delete_verb = "archive"
    delete_note = "restorable by an administrator"

    def probe(self, ctx: Context, ref: ObjectRef) -> RunStatus | None:
        with self.lock:
            self.probed.append(ref.platform_id)
        if ref.identity[0] == "broken":
            raise RuntimeError("the status service is down")
        return RunStatus("SUCCESS", f"run-{ref.identity[0]}", "2025-01-01T00:00:00+00:00")


class _Platform:
    name = "mem"
    secret_detection = ""

    def __init__(self, kind: _Deployed) -> None:
        self.kinds = {"job": kind}

    def is_transient(self, exc: Exception) -> bool:
        return False


def _resource(name: str, table: str | None = None, size: int = 1) -> Resource:
    return _Archived().declare(table or name, {"name": name, "size": size}, None)


def _run(kind: _Deployed, resources: list[Resource], state: State, tmp_path: Path, prune: bool = False) -> Any:
    platform = _Platform(kind)
    ctx = Context(None, Fingerprinter(secrets.token_bytes(32)))
    plan = make_plan(platform, ctx, Target("mem", "x", "", "s"), resources, state, prune=prune)
    Applier(platform, ctx, LocalStateBackend(tmp_path / "state.json")).apply(plan, resources, state)
    return plan


def test_the_alive_probe_is_drifts_only_and_a_failure_is_unknown(tmp_path: Path) -> None:
    kind = _Archived()
    state = State()
    resources = [_resource("a"), _resource("broken")]
    plan = _run(kind, resources, state, tmp_path)
    assert kind.probed == []  # a plan never probes
    again = make_plan(_Platform(kind), Context(None, Fingerprinter(secrets.token_bytes(32))),
                      Target("mem", "x", "", "s"), resources, state)
    assert [a.op for a in again.actions] == [Op.NOOP, Op.NOOP] and kind.probed == []
    report = detect_drift(_Platform(kind), Context(None, Fingerprinter(secrets.token_bytes(32))), plan.target,
                          resources, state, "")
    assert sorted(kind.probed) == ["id-a", "id-broken"]
    by_address = {f.address: f.to_json() for f in report.findings}
    assert {f["cause"] for f in by_address.values()} == {Cause.NOT_OBSERVABLE.value} and report.in_sync == []
    assert by_address["job.a"]["run_status"] == {"status": "SUCCESS", "run_id": "run-a", "at": "2025-01-01T00:00:00+00:00"}
    assert by_address["job.broken"]["run_status"]["status"] == "unknown"
    assert "status service is down" in by_address["job.broken"]["run_status"]["error"]
    assert not report.drifted


def test_a_kind_without_a_probe_adds_nothing_to_its_findings(tmp_path: Path) -> None:
    kind = _Deployed()
    state = State()
    resources = [_Deployed().declare("a", {"name": "a"}, None)]
    plan = _run(kind, resources, state, tmp_path)
    report = detect_drift(_Platform(kind), Context(None, Fingerprinter(secrets.token_bytes(32))), plan.target,
                          resources, state, "")
    (finding,) = report.findings
    assert "run_status" not in finding.to_json()


def test_deletes_and_replaces_call_out_an_archive_and_replaces_create_first(tmp_path: Path) -> None:
    kind = _Archived()
    state = State()
    _run(kind, [_resource("a")], state, tmp_path)
    kind.calls.clear()
    plan = _run(kind, [_resource("a2", table="a")], state, tmp_path)  # same address, new identity
    (action,) = plan.actions
    assert action.op is Op.REPLACE and action.delete_as == {"verb": "archive", "note": "restorable by an administrator"}
    assert kind.calls == [("deploy", "a2"), ("delete", "id-a")]  # the new one first, then the old archived
    kind.calls.clear()
    plan = _run(kind, [], state, tmp_path, prune=True)
    (action,) = plan.actions
    assert action.op is Op.DELETE and action.to_json()["delete_as"]["verb"] == "archive"
    assert kind.calls == [("delete", "id-a2")]


def test_an_ordinary_kind_still_deletes_first_and_says_nothing_more(tmp_path: Path) -> None:
    kind = _Deployed()
    state = State()
    _run(kind, [_Deployed().declare("a", {"name": "a"}, None)], state, tmp_path)
    kind.calls.clear()
    plan = _run(kind, [_Deployed().declare("a", {"name": "b"}, None)], state, tmp_path)
    (action,) = plan.actions
    assert action.op is Op.REPLACE and action.delete_as is None and "delete_as" not in action.to_json()
    assert kind.calls == [("delete", "id-a"), ("deploy", "b")]
