"""Drift: compare live with the last applied state *and* with the declaration, and say why
they differ, one cause per finding:

1. declared_change: the stack says something the platform does not have yet (not applied);
2. out_of_band: a managed field changed on the platform since the last apply;
3. unmanaged: an object exists that this stack never owned;
4. missing: an object this stack owns is gone from the platform;
5. not_observable: applied as declared, but the platform cannot show the kind. Where the kind
   has an alive probe (`Kind.probe`), the finding carries the status of the object's last run
   (`run_status`), labelled as such: it says the object runs, not that it is as declared.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .diff import declared_fingerprints, diff_resource, live_fingerprints
from .kind import Context, Kind
from .model import Cause, FieldChange, Identity, LiveObject, ObjectRef, Resource, RunStatus
from .outputs import output_refs, resolve
from .plan import READ_CONCURRENCY, LiveView, Platform, Target, find_unmanaged, locate, ownership_index, read_live
from .policy import NO_POLICY, Policy
from .state import ResourceState, State

DRIFT_FORMAT = "platforge.drift/v2"


@dataclass
class DriftFinding:
    cause: Cause
    address: str
    kind: str
    identity: Identity
    detail: str
    changes: list[FieldChange] = field(default_factory=list)
    detection: str = "fields"  # or "fingerprint" for secrets
    #: For a not_observable finding of a kind with an alive probe: its last run's status.
    run_status: RunStatus | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "cause": self.cause.value,
            "address": self.address,
            "kind": self.kind,
            "identity": list(self.identity),
            "detail": self.detail,
            "detection": self.detection,
            "changes": [c.to_json() for c in self.changes],
        }
        if self.run_status is not None:
            data["run_status"] = self.run_status.to_json()
        return data


#: The causes that make `drift` exit 2 unless the caller asks for more (`--fail-on unmanaged`):
#: on a shared platform, objects other teams own are normal, not a failure of this stack.
DEFAULT_FAIL_ON = frozenset({Cause.DECLARED_CHANGE, Cause.OUT_OF_BAND, Cause.MISSING})


@dataclass
class DriftReport:
    target: Target
    findings: list[DriftFinding]
    in_sync: list[str]
    secret_detection: str
    state_serial: int | None
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)
    ignored: int = 0
    fail_on: frozenset[Cause] = DEFAULT_FAIL_ON
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    #: Requests the run sent to the platform (login and state reads included), when the front
    #: door knows; None otherwise. Set after detection by whoever owns the client.
    requests: int | None = None
    #: Wall-clock seconds the run took (connecting, reading, probing), when the front door knows.
    duration_seconds: float | None = None

    @property
    def drifted(self) -> bool:
        """Whether a finding of a failing cause exists: what makes `drift` exit 2."""
        return any(f.cause in self.fail_on for f in self.findings)

    def counts(self) -> dict[str, int]:
        counts = {cause.value: 0 for cause in Cause}
        for finding in self.findings:
            counts[finding.cause.value] += 1
        counts["in_sync"] = len(self.in_sync)
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "format": DRIFT_FORMAT,
            "created_at": self.created_at,
            "target": self.target.to_json(),
            "state_serial": self.state_serial,
            "secret_detection": self.secret_detection,
            "summary": self.counts(),
            "drifted": self.drifted,
            "fail_on": sorted(c.value for c in self.fail_on),
            "findings": [f.to_json() for f in self.findings],
            "in_sync": self.in_sync,
            "coverage": self.coverage,
            "ignored": self.ignored,
            "requests": self.requests,
            "duration_seconds": self.duration_seconds,
        }


def detect_drift(platform: Platform, ctx: Context, target: Target, resources: list[Resource],
                 state: State | None, secret_detection: str, live: LiveView | None = None,
                 policy: Policy = NO_POLICY, fail_on: frozenset[Cause] = DEFAULT_FAIL_ON) -> DriftReport:
    # Drift is where a secret changed outside the stack is looked for: it reads secret values live.
    refresh, ctx.refresh_secrets = ctx.refresh_secrets, True
    try:
        return _detect_drift(platform, ctx, target, resources, state, secret_detection, live, policy, fail_on)
    finally:
        ctx.refresh_secrets = refresh


def _detect_drift(platform: Platform, ctx: Context, target: Target, resources: list[Resource],
                  state: State | None, secret_detection: str, live: LiveView | None,
                  policy: Policy, fail_on: frozenset[Cause]) -> DriftReport:
    live = live if live is not None else read_live(platform, ctx, resources, state, policy)
    state = state or State()
    owners = ownership_index(state)
    findings: list[DriftFinding] = []
    in_sync: list[str] = []
    declared_keys: set[tuple[str, Identity]] = set()
    declared_addresses = {r.address for r in resources}
    claimed: set[int] = set()
    probes: list[tuple[DriftFinding, Kind, ObjectRef]] = []
    recorded = {address: {"platform_id": e.platform_id, "revision": e.revision} for address, e in state.resources.items()}

    for resource in resources:
        kind = platform.kinds[resource.kind]
        if output_refs(resource.spec):  # as of the last apply: what the referred objects produced then
            spec, unknown = resolve(resource.spec, recorded)
            resource = replace(resource, spec={k: v for k, v in spec.items() if k not in unknown})
        resource = kind.desired(ctx, resource)
        key = (resource.kind, tuple(resource.identity))
        declared_keys.add(key)
        owned = owners.get(key)
        if owned is None and kind.identified_by_id and resource.address in state.resources:
            owned = resource.address
        entry = state.resources.get(owned) if owned else None

        def finding(cause: Cause, detail: str, changes: list[FieldChange] | None = None,
                    detection: str = "fields", resource: Resource = resource) -> None:
            findings.append(DriftFinding(cause, resource.address, resource.kind, resource.identity, detail,
                                         changes or [], detection))

        if not kind.observable:
            if entry is None:
                finding(Cause.DECLARED_CHANGE, "declared but not applied yet")
                continue
            declared = _declared_changes(kind, resource, entry, LiveObject(resource.kind, resource.identity, {}),
                                         declared_fingerprints(kind, ctx, resource), dict(entry.fingerprints))
            if declared:
                finding(Cause.DECLARED_CHANGE, "declared change not applied yet", declared)
            else:
                finding(Cause.NOT_OBSERVABLE, "applied as declared; the platform cannot show this kind, so it "
                                              "cannot be checked")
                probes.append((findings[-1], kind, ObjectRef(tuple(entry.identity), entry.platform_id)))
            continue
        located = locate(kind, resource, live, entry, owned is not None, policy)
        if located.problem:
            finding(Cause.DECLARED_CHANGE, located.problem)
            continue
        current = located.current
        if current is None:
            if entry is not None:
                finding(Cause.MISSING, "owned by this stack but missing on the platform")
            else:
                finding(Cause.DECLARED_CHANGE, "declared but not created yet")
            continue
        claimed.add(id(current))
        before = len(findings)
        live_fps = live_fingerprints(kind, ctx, current, resource, entry.fingerprints if entry else None)
        if owned is None:  # the plan shows an import here: agree with it
            desired_fps = declared_fingerprints(kind, ctx, resource)
            finding(Cause.DECLARED_CHANGE,
                    "exists on the platform but this stack does not own it yet; `apply --adopt` takes it over",
                    diff_resource(kind, resource, current, desired_fps, live_fps))
            continue
        if entry is not None:
            applied = Resource(kind=resource.kind, name=resource.name, spec=entry.applied,
                               identity=resource.identity)
            # Read as "last applied -> live now": diff_resource gives (live, applied), so swap.
            oob = [FieldChange(c.path, c.new, c.old, c.sensitive, c.forces_replace, reason="remote")
                   for c in diff_resource(kind, applied, current, dict(entry.fingerprints), live_fps)
                   if not kind.rule(c.path.split(".", 1)[0]).ignore_remote_changes]
            if oob:
                secret_only = all(c.sensitive for c in oob)
                finding(Cause.OUT_OF_BAND, kind.describe_drift(oob) or "changed on the platform since the last apply",
                        oob, "fingerprint" if secret_only else "fields")
        desired_fps = declared_fingerprints(kind, ctx, resource)
        baseline_fps = dict(entry.fingerprints) if entry else live_fps
        declared = _declared_changes(kind, resource, entry, current, desired_fps, baseline_fps)
        if declared:
            finding(Cause.DECLARED_CHANGE, "declared change not applied yet", declared)
        if len(findings) == before:
            in_sync.append(resource.address)

    for address, entry in state.resources.items():
        key = (entry.kind, tuple(entry.identity))
        if key in declared_keys or address in declared_addresses or entry.kind not in platform.kinds:
            continue
        kind = platform.kinds[entry.kind]
        if not kind.observable:
            findings.append(DriftFinding(Cause.DECLARED_CHANGE, address, entry.kind, key[1],
                                         "no longer declared; `apply --prune` would delete it"))
            continue
        current = live.with_id(entry.kind, entry.platform_id) if kind.identified_by_id and entry.platform_id \
            is not None else live.get(*key)
        if current is None:
            findings.append(DriftFinding(Cause.MISSING, address, entry.kind, key[1],
                                         "owned by this stack, no longer declared, and missing on the platform"))
        else:
            claimed.add(id(current))
            findings.append(DriftFinding(Cause.DECLARED_CHANGE, address, entry.kind, key[1],
                                         "no longer declared; `apply --prune` would delete it"))

    unmanaged = find_unmanaged(platform, live, claimed, policy)
    for obj in unmanaged.objects:
        findings.append(DriftFinding(Cause.UNMANAGED, obj.address, obj.kind, obj.identity,
                                     "exists on the platform but is not managed by this stack"))

    _probe(ctx, probes)
    manages_secrets = any(set(r.spec) & platform.kinds[r.kind].sensitive_fields for r in resources)
    return DriftReport(target=target, findings=findings, in_sync=sorted(in_sync),
                       secret_detection=secret_detection if manages_secrets else "",
                       state_serial=state.serial if state else None,
                       coverage=unmanaged.coverage, ignored=unmanaged.ignored, fail_on=fail_on)


def _probe(ctx: Context, probes: list[tuple[DriftFinding, Kind, ObjectRef]],
           concurrency: int = READ_CONCURRENCY) -> None:
    """Ask each not-observable object's kind for its last run, `concurrency` at a time (the
    client's rate limiter keeps them within the platform's budget). A failed probe is an unknown
    status on its finding, never a failed drift."""
    def one(item: tuple[DriftFinding, Kind, ObjectRef]) -> RunStatus | None:
        _, kind, ref = item
        try:
            return kind.probe(ctx, ref)
        except Exception as exc:  # a probe is information, never a reason to fail drift
            return RunStatus(status="unknown", error=f"{type(exc).__name__}: {str(exc)[:200]}")

    if not probes:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(probes)))) as pool:
        results = list(pool.map(one, probes))
    for (finding, _, _), status in zip(probes, results, strict=True):
        finding.run_status = status


def _declared_changes(kind: Kind, resource: Resource, entry: ResourceState | None, current: LiveObject,
                      desired_fps: dict[str, str], baseline_fps: dict[str, str]) -> list[FieldChange]:
    """What the declaration changes relative to the last apply (or to live when never applied)."""
    if entry is None:
        return diff_resource(kind, resource, current, desired_fps, baseline_fps)
    applied_as_live = LiveObject(kind=resource.kind, identity=resource.identity, fields=entry.applied)
    return [replace(c, reason="declared") for c in diff_resource(kind, resource, applied_as_live, desired_fps,
                                                                 baseline_fps)]

