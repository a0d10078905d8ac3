"""Real plan and drift documents, built from the core's own objects so the renderers are tested
against what the engine writes, not against a hand-copied shape that could drift from it.

Two sources:

- `plan_doc` / `drift_doc` serialise hand-picked `Action`s and `DriftFinding`s through
  `Plan.to_json()` / `DriftReport.to_json()`, for tests that need an exact shape;
- `core_plan_doc` / `core_drift_doc` run the core's `make_plan` and `detect_drift` over a small
  in-memory platform (`ReportPlatform`), so that what the planner decides (an import with or
  without consent, a blocked adoption, the values of a create, unmanaged addresses, coverage,
  ignored objects, the secrets footer) is what the renderers and the schemas see.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from platforge.core.drift import DEFAULT_FAIL_ON, DriftFinding, DriftReport, detect_drift
from platforge.core.fingerprint import Fingerprinter
from platforge.core.kind import Context, Kind, sorted_unique
from platforge.core.model import Action, Cause, FieldChange, LiveObject, Observability, Op, Resource
from platforge.core.plan import Plan, Target, UnmanagedObject, make_plan
from platforge.core.policy import Policy
from platforge.core.rules import FieldRule
from platforge.core.secrets import SecretRef
from platforge.core.state import ResourceState, State

#: Placed as a secret's value: no renderer may ever print it.
SECRET = "hunter2-SECRET-MARKER-7f3a"
DIGEST_LIVE = "sha256:" + "3f" * 32
DIGEST_DESIRED = "sha256:" + "a1" * 32
BLOCKED_ACL = ("a secret that exists on the platform, with an ACL this stack does not declare (read: carol); "
               "declare [secret.warehouse_url.acl] to adopt it: apply then sets that ACL before writing the value")


def target(stack: str = "team-data", **overrides: str) -> Target:
    values = {"platform": "datatailr", "endpoint": "https://dt.example.com", "environment": "prod", "stack": stack}
    values.update(overrides)
    return Target(**values)


def roundtrip(document: dict[str, Any]) -> dict[str, Any]:
    """What `plan --out` then loading the file gives back."""
    return json.loads(json.dumps(document))


def sample_actions() -> list[Action]:
    return [
        Action("user.alice", "user", ("alice",), Op.CREATE, "does not exist",
               [FieldChange("email", None, "alice@example.com"), FieldChange("name", None, "alice"),
                FieldChange("password", None, None, sensitive=True)]),
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


def import_actions() -> list[Action]:
    """An import with consent, one without, and a blocked one, as the planner makes them."""
    return [
        Action("group.analysts", "group", ("analysts",), Op.IMPORT,
               "exists, not owned by this stack; adopting it updates it",
               [FieldChange("members", ["carol"], ["alice", "carol"])], platform_id=21, adopt=True,
               live={"members": ["carol"], "name": "analysts"}),
        Action("user.svc-etl", "user", ("svc-etl",), Op.IMPORT, "exists, not owned by this stack, already as declared",
               platform_id=22, adopt=False, live={"email": "etl@example.com", "groups": [], "name": "svc-etl"}),
        Action("secret.warehouse_url", "secret", ("prod", "warehouse/url"), Op.IMPORT,
               "exists, not owned by this stack; adopting it updates it",
               [FieldChange("value", SECRET, SECRET + "!", sensitive=True)], platform_id="s9", adopt=True,
               blocked=BLOCKED_ACL, live={"acl": {"read": ["carol"]}, "environment": "prod", "key": "warehouse/url"}),
    ]


def review_actions() -> list[Action]:
    """What a reviewer has to see in one plan: imports (consented, not, blocked), a blocked
    update, a create with its values, and a destructive delete."""
    return [
        *import_actions(),
        Action("user.alice", "user", ("alice",), Op.CREATE, "does not exist",
               [FieldChange("email", None, "alice@example.com"), FieldChange("password", None, None, sensitive=True)]),
        Action("secret.db_password", "secret", ("prod", "db/password"), Op.UPDATE, "differs from the declaration",
               [FieldChange("value", SECRET, SECRET + "?", sensitive=True)], platform_id="s1", level=1,
               blocked="its live ACL lets mallory in, which this stack does not control; declare "
                       "[secret.db_password.acl] (apply sets it before the value) or fix the ACL first"),
        Action("user.bob", "user", ("bob",), Op.DELETE, "owned by this stack and no longer declared (--prune)",
               platform_id=7, level=2, destructive=True),
    ]


COVERAGE = {"group": {"managed": 3, "live": 5}, "user": {"managed": 4, "live": 10}}


def plan_doc(actions: list[Action] | None = None, *, unmanaged: list[UnmanagedObject] | None = None,
             orphans: list[str] | None = None, stack: str = "team-data", prune: bool = True,
             serial: int | None = 4, coverage: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    plan = Plan(
        target=target(stack), actions=sample_actions() if actions is None else actions,
        unmanaged=[UnmanagedObject("user", ("zed",), 99)] if unmanaged is None else unmanaged,
        orphans=[] if orphans is None else orphans, live_digest=DIGEST_LIVE, desired_digest=DIGEST_DESIRED,
        prune=prune, state_lineage="5d0e2c1a-7b1f-4c8e-9a57-0f4b8d2e6c11" if serial is not None else None,
        state_serial=serial, created_at="2025-01-15T09:30:00+00:00",
        coverage=dict(COVERAGE) if coverage is None else coverage,
    )
    return plan.to_json()


def review_plan_doc(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("orphans", ["kv.left", "user.gone"])
    kwargs.setdefault("prune", False)
    return plan_doc(review_actions(), **kwargs)


def empty_plan_doc() -> dict[str, Any]:
    return plan_doc([], unmanaged=[], orphans=[], serial=None, prune=False, coverage={})


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
        DriftFinding(Cause.UNMANAGED, "user.zed", "user", ("zed",),
                     "exists on the platform but is not managed by this stack"),
    ]


def unmanaged_findings(counts: dict[str, int]) -> list[DriftFinding]:
    """`counts` unmanaged objects per kind, addressed as the producer does (`kind.identity`)."""
    return [DriftFinding(Cause.UNMANAGED, f"{kind}.svc-{i:03}", kind, (f"svc-{i:03}",),
                         "exists on the platform but is not managed by this stack")
            for kind, n in counts.items() for i in range(n)]


SECRET_DETECTION = "Passwords cannot be read back: changes are detected by stored keyed fingerprint only."


def drift_doc(findings: list[DriftFinding] | None = None, in_sync: list[str] | None = None,
              stack: str = "team-data", secret_detection: str = SECRET_DETECTION,
              fail_on: frozenset[Cause] = DEFAULT_FAIL_ON, coverage: dict[str, dict[str, int]] | None = None,
              ignored: int = 0) -> dict[str, Any]:
    report = DriftReport(
        target=target(stack), findings=sample_findings() if findings is None else findings,
        in_sync=["group.analysts"] if in_sync is None else in_sync, secret_detection=secret_detection,
        state_serial=4, created_at="2025-01-15T09:30:00+00:00", fail_on=fail_on,
        coverage=dict(COVERAGE) if coverage is None else coverage, ignored=ignored,
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


# ---- documents from the real planner -------------------------------------------------------


class _UserSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    email: str = ""
    groups: list[str] = []
    password: SecretRef | None = None


class _GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    members: list[str] = []


class _SecretSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    environment: str
    key: str
    value: SecretRef | None = None
    acl: dict[str, list[str]] | None = None


class _TableKind(Kind):
    """Objects are rows of `client[self.name]`, keyed by identity; listing is all the planner needs."""

    def prepare(self, name, raw):
        raw.setdefault("name", name)
        return raw

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        rows: dict[tuple, dict[str, Any]] = ctx.client[self.name]
        return [LiveObject(kind=self.name, identity=identity, platform_id=row.get("id"),
                           builtin=bool(row.get("builtin")),
                           fields={k: v for k, v in row.items() if k not in ("id", "builtin", "secret")},
                           fingerprints={"value": ctx.fingerprinter(row["secret"])} if "secret" in row else {})
                for identity, row in sorted(rows.items())]

    def create(self, ctx, resource):  # the renderers' tests never apply
        raise NotImplementedError

    def update(self, ctx, resource, live, changed):
        raise NotImplementedError

    def delete(self, ctx, identity, live):
        raise NotImplementedError


class _UserKind(_TableKind):
    name = "user"
    spec_model = _UserSpec
    identity_fields = ("name",)
    create_only_fields = frozenset({"password"})
    destructive = True

    def canonical_spec(self, model):
        spec = super().canonical_spec(model)
        if "groups" in spec:
            spec["groups"] = sorted_unique(spec["groups"])
        return spec


class _GroupKind(_TableKind):
    name = "group"
    spec_model = _GroupSpec
    identity_fields = ("name",)
    destructive = True
    builtin_names = frozenset({"everyone"})

    def canonical_spec(self, model):
        spec = super().canonical_spec(model)
        if "members" in spec:
            spec["members"] = sorted_unique(spec["members"])
        return spec


class _SecretKind(_TableKind):
    """Like the Datatailr KV secret: taking one over without declaring its ACL is refused."""

    name = "secret"
    spec_model = _SecretSpec
    identity_fields = ("environment", "key")
    sensitive_fields = frozenset({"value"})

    def prepare(self, name, raw):
        return raw

    def refuse_write(self, ctx, resource, live, changes, adopting):
        if adopting and "acl" not in resource.spec:
            readers = ", ".join(sorted(live.fields.get("acl", {}).get("read", [])))
            return (f"a secret that exists on the platform, with an ACL this stack does not declare (read: {readers}); "
                    f"declare [{resource.address}.acl] to adopt it: apply then sets that ACL before writing the value")
        return None


class _JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    image: str = ""
    schedule: str = ""


class _JobKind(_TableKind):
    """Versioned: a new image is a new version (a save); the schedule changes in place."""

    name = "job"
    spec_model = _JobSpec
    identity_fields = ("name",)
    field_rules = {"image": FieldRule(new_version=True)}

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        listed = super().list(ctx, scope)
        for live in listed:
            live.revision = live.fields.pop("revision", None)
        return listed


class _FlowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    steps: list[str] = []


class _FlowKind(_TableKind):
    """Deploy-only: the platform cannot show it, so it is planned from the state."""

    name = "flow"
    spec_model = _FlowSpec
    identity_fields = ("name",)
    observability = Observability.NONE

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        raise AssertionError("a deploy-only kind is never listed")


class ReportPlatform:
    """Just enough of a platform for `make_plan` and `detect_drift`."""

    name = "memory"
    secret_detection = "Secret values are read back and compared by keyed fingerprint."

    def __init__(self) -> None:
        self.kinds = {"group": _GroupKind(), "user": _UserKind(), "secret": _SecretKind(), "job": _JobKind(),
                      "flow": _FlowKind()}


def _world() -> dict[str, dict[tuple, dict[str, Any]]]:
    users = {("bob",): {"id": 2, "name": "bob", "email": "bob@old.example.com", "groups": []},
             ("old",): {"id": 3, "name": "old", "email": "", "groups": []},
             ("svc-etl",): {"id": 4, "name": "svc-etl", "email": "etl@example.com", "groups": []},
             ("zed",): {"id": 5, "name": "zed", "email": "", "groups": []}}
    users.update({(f"svc-{i:02}",): {"id": 100 + i, "name": f"svc-{i:02}", "email": "", "groups": []}
                  for i in range(14)})
    users[("svc-ignored",)] = {"id": 99, "name": "svc-ignored", "email": "", "groups": []}
    groups = {("analysts",): {"id": 21, "name": "analysts", "members": ["carol"]},
              ("ops",): {"id": 22, "name": "ops", "members": ["dave"]},
              ("guests",): {"id": 23, "name": "guests", "members": []},
              ("everyone",): {"id": 1, "name": "everyone", "members": [], "builtin": True}}
    secrets = {("prod", "warehouse/url"): {"id": "s9", "environment": "prod", "key": "warehouse/url",
                                            "acl": {"read": ["carol"]}, "secret": "postgres://old"}}
    jobs = {("etl",): {"id": "j1", "name": "etl", "image": "etl:1", "schedule": "daily", "revision": 3}}
    return {"user": users, "group": groups, "secret": secrets, "job": jobs}


def _declare(platform: ReportPlatform, secrets: bool = True, versioned: bool = True) -> list[Resource]:
    kinds = platform.kinds
    resources = [
        kinds["user"].declare("alice", {"email": "alice@example.com", "groups": ["analysts"]}, None,
                              secret_values={"password": SECRET}),
        kinds["user"].declare("bob", {"email": "bob@example.com"}, None),
        kinds["user"].declare("svc-etl", {"email": "etl@example.com"}, None),
        kinds["group"].declare("analysts", {"members": ["alice", "carol"]}, None),
        kinds["group"].declare("ops", {"members": ["dave"]}, None),
    ]
    if versioned:  # a new version to save, and a deploy-only kind the platform cannot show
        resources += [kinds["job"].declare("etl", {"image": "etl:2", "schedule": "daily"}, None),
                      kinds["flow"].declare("nightly", {"steps": ["extract", "load"]}, None)]
    if secrets:
        resources.append(kinds["secret"].declare("warehouse_url", {"environment": "prod", "key": "warehouse/url"},
                                                 None, secret_values={"value": SECRET}))
    return resources


def _state(owned: dict[str, tuple[str, tuple]]) -> State:
    state = State(serial=4, resources={address: ResourceState(kind=kind, identity=list(identity),
                                                              applied={"name": identity[0]})
                                       for address, (kind, identity) in owned.items()})
    state.resources["job.etl"] = ResourceState(kind="job", identity=["etl"], platform_id="j1", revision=3,
                                               applied={"name": "etl", "image": "etl:1", "schedule": "daily"})
    state.resources["flow.nightly"] = ResourceState(kind="flow", identity=["nightly"], platform_id="f1",
                                                    applied={"name": "nightly", "steps": ["extract", "load"]})
    return state


def _context(world: dict[str, Any]) -> Context:
    return Context(world, Fingerprinter(b"k" * 32), {})


POLICY = Policy.build(adopt=["group.analysts", "secret.*"], ignore=["user.svc-ignored"])


def core_plan_doc(stack: str = "team-data") -> dict[str, Any]:
    """A plan from `make_plan`: user.alice is created (with a create-only password), user.bob
    updated, group.analysts imported with consent, group.ops imported without, the secret
    import blocked (its ACL is not declared), user.old orphaned, 15 unmanaged users (one more
    ignored) and one unmanaged group."""
    platform = ReportPlatform()
    world = _world()
    state = _state({"user.bob": ("user", ("bob",)), "user.old": ("user", ("old",))})
    plan = make_plan(platform, _context(world), target(stack), _declare(platform), state, policy=POLICY)
    plan.created_at = "2025-01-15T09:30:00+00:00"
    return plan.to_json()


def core_drift_doc(fail_on: frozenset[Cause] = DEFAULT_FAIL_ON) -> dict[str, Any]:
    """A drift report from `detect_drift` over the same world as `core_plan_doc`."""
    platform = ReportPlatform()
    world = _world()
    state = _state({"user.bob": ("user", ("bob",)), "user.old": ("user", ("old",))})
    report = detect_drift(platform, _context(world), target(), _declare(platform), state,
                          platform.secret_detection, policy=POLICY, fail_on=fail_on)
    report.created_at = "2025-01-15T09:30:00+00:00"
    return report.to_json()


def core_unmanaged_only_drift_doc(fail_on: frozenset[Cause] = DEFAULT_FAIL_ON) -> dict[str, Any]:
    """A stack without secrets whose every object is owned and in sync, on a platform with
    unmanaged objects: the only findings are unmanaged ones."""
    platform = ReportPlatform()
    world = _world()
    del world["secret"]
    world["user"][("bob",)]["email"] = "bob@example.com"
    world["user"][("alice",)] = {"id": 6, "name": "alice", "email": "alice@example.com", "groups": ["analysts"]}
    world["group"][("analysts",)]["members"] = ["alice", "carol"]
    resources = _declare(platform, secrets=False, versioned=False)
    state = State(serial=4, resources={
        r.address: ResourceState(kind=r.kind, identity=list(r.identity), applied=dict(r.spec)) for r in resources})
    report = detect_drift(platform, _context(world), target(), resources, state, platform.secret_detection,
                          policy=POLICY, fail_on=fail_on)
    report.created_at = "2025-01-15T09:30:00+00:00"
    return report.to_json()
