"""Real plan and drift documents, built from the core's own objects so the renderers are tested
against what the engine writes, not against a hand-copied shape that could drift from it."""

from __future__ import annotations

import json
from typing import Any

from platforge.core.drift import DriftFinding, DriftReport
from platforge.core.model import Action, Cause, FieldChange, Op
from platforge.core.plan import Plan, Target, UnmanagedObject

#: Placed as a secret's value: no renderer may ever print it.
SECRET = "hunter2-SECRET-MARKER-7f3a"
DIGEST_LIVE = "sha256:" + "3f" * 32
DIGEST_DESIRED = "sha256:" + "a1" * 32


def target(stack: str = "team-data", **overrides: str) -> Target:
    values = {"platform": "datatailr", "endpoint": "https://dt.example.com", "environment": "prod", "stack": stack}
    values.update(overrides)
    return Target(**values)


def roundtrip(document: dict[str, Any]) -> dict[str, Any]:
    """What `plan --out` then loading the file gives back."""
    return json.loads(json.dumps(document))


def sample_actions() -> list[Action]:
    return [
        Action("user.alice", "user", ("alice",), Op.CREATE, "does not exist"),
        Action("group.eng", "group", ("eng",), Op.UPDATE, "differs from the declaration",
               [FieldChange("members", ["a"], ["a", "b"]),
                FieldChange("password", SECRET, SECRET + "-new", sensitive=True)],
               platform_id=3, level=1),
        Action("kv.cfg", "kv", ("prod", "cfg"), Op.REPLACE, "region cannot change in place",
               [FieldChange("region", "eu", "us", forces_replace=True)], platform_id="k1", level=1),
        Action("kv.quiet", "kv", ("prod", "quiet"), Op.NOOP, "in sync", platform_id="k2", level=1),
        Action("user.bob", "user", ("bob",), Op.DELETE, "owned by this stack and no longer declared (--prune)",
               platform_id=7, level=2, destructive=True),
        Action("group.old_admins", "group", ("old_admins",), Op.DELETE,
               "owned by this stack and no longer declared (--prune)", platform_id=8, level=2, destructive=True),
        Action("kv.stale", "kv", ("prod", "stale"), Op.DELETE,
               "owned by this stack and no longer declared (--prune)", platform_id="k3", level=2),
    ]


def plan_doc(actions: list[Action] | None = None, *, unmanaged: list[UnmanagedObject] | None = None,
             orphans: list[str] | None = None, stack: str = "team-data", prune: bool = True,
             serial: int | None = 4) -> dict[str, Any]:
    plan = Plan(
        target=target(stack), actions=sample_actions() if actions is None else actions,
        unmanaged=[UnmanagedObject("user", ("zed",), 99)] if unmanaged is None else unmanaged,
        orphans=[] if orphans is None else orphans, live_digest=DIGEST_LIVE, desired_digest=DIGEST_DESIRED,
        prune=prune, state_lineage="5d0e2c1a-7b1f-4c8e-9a57-0f4b8d2e6c11" if serial is not None else None,
        state_serial=serial, created_at="2025-01-15T09:30:00+00:00",
    )
    return plan.to_json()


def empty_plan_doc() -> dict[str, Any]:
    return plan_doc([], unmanaged=[], orphans=[], serial=None, prune=False)


def sample_findings() -> list[DriftFinding]:
    return [
        DriftFinding(Cause.DECLARED_CHANGE, "kv.cfg", "kv", ("prod", "cfg"), "declared change not applied yet",
                     [FieldChange("value.retries", 3, 5)]),
        DriftFinding(Cause.OUT_OF_BAND, "user.alice", "user", ("alice",),
                     "changed on the platform since the last apply",
                     [FieldChange("password", SECRET, SECRET, sensitive=True)], detection="fingerprint"),
        DriftFinding(Cause.OUT_OF_BAND, "group.eng", "group", ("eng",), "changed on the platform since the last apply",
                     [FieldChange("members", ["a", "mallory"], ["a"])]),
        DriftFinding(Cause.MISSING, "kv.gone", "kv", ("prod", "gone"), "owned by this stack but missing on the platform"),
        DriftFinding(Cause.UNMANAGED, "user[zed]", "user", ("zed",),
                     "exists on the platform but is not managed by this stack"),
    ]


SECRET_DETECTION = "Passwords cannot be read back: changes are detected by stored keyed fingerprint only."


def drift_doc(findings: list[DriftFinding] | None = None, in_sync: list[str] | None = None,
              stack: str = "team-data", secret_detection: str = SECRET_DETECTION) -> dict[str, Any]:
    report = DriftReport(
        target=target(stack), findings=sample_findings() if findings is None else findings,
        in_sync=["group.analysts"] if in_sync is None else in_sync, secret_detection=secret_detection,
        state_serial=4, created_at="2025-01-15T09:30:00+00:00",
    )
    return report.to_json()


def empty_drift_doc() -> dict[str, Any]:
    return drift_doc([], ["group.analysts", "user.alice"])


def leaky(document: dict[str, Any]) -> dict[str, Any]:
    """The document as a buggy producer might write it: secret values left in sensitive changes.
    Renderers must still show only "(sensitive)"."""
    doc = roundtrip(document)
    for item in [*doc.get("actions", ()), *doc.get("findings", ())]:
        for change in item["changes"]:
            if change["sensitive"]:
                change["old"], change["new"] = SECRET, SECRET
    return doc
