"""A fake platform whose kinds use every capability of the kind contract v2, over an in-memory
store that counts every write:

- `dataset`: server-assigned ids, names not unique (`identified_by_id`);
- `vault`: data a delete loses (`delete_confirmation`, also for a replace) and deletion
  protection the stack must apply off first (`delete_refusal`);
- `variable`: one key of a per-project settings document shared with other keys and with
  fields nobody declares (`document_of`, read-modify-write);
- `merged_variable`: keys of the same documents, in another section, written together
  (`merges_document_writes`: one read-modify-write per document and level);
- `flow`: deploy-only, the platform cannot show it (`Observability.NONE`);
- `job`: versioned (`image` needs a new version, a save; `schedule` changes in place), and
  `promotion`, which promotes "the job's version" through an `OutputRef`;
- `build`: ready only after the platform has worked on it for a while (`ready`), or never (a
  permanent failure), and with failures the kind itself calls temporary or permanent.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Hashable
from typing import Any

from pydantic import BaseModel, ConfigDict

from platforge.core.errors import PermanentError, TemporaryError
from platforge.core.kind import Context, Kind
from platforge.core.model import Created, DocumentWrite, LiveObject, ObjectRef, Observability, Op, Readiness, Resource
from platforge.core.outputs import OutputRef
from platforge.core.rules import FieldRule
from platforge.core.state import ObjectInfo, ObjectStore


class Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writes: list[tuple[str, str]] = []
        self.ids = itertools.count(1)
        self.datasets: dict[str, dict[str, Any]] = {}  # id -> {name, size}
        self.settings: dict[str, str] = {}  # project -> a JSON document, byte for byte
        self.vaults: dict[str, str] = {}  # name -> tier
        self.flows: dict[str, dict[str, Any]] = {}  # name -> definition (never readable)
        self.jobs: dict[str, dict[str, Any]] = {}  # name -> {versions: [...], schedule}
        self.promotions: dict[str, int] = {}  # job name -> promoted version
        self.builds: dict[str, dict[str, Any]] = {}  # name -> {source, started, fail}
        self.build_seconds = 0.0
        self.build_fails: set[str] = set()
        self.write_delay = 0.0
        self.lose_merged_answers = 0  # the next N merged writes land, then their answer is lost
        self.refused_key: str | None = None  # a merged write holding this key is refused whole

    def write(self, what: str, name: str) -> None:
        with self.lock:
            self.writes.append((what, name))


def store_of(ctx: Context) -> Store:
    store: Store = ctx.client
    return store


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- server ids, names not unique ------------------------------------------------------------


class DatasetSpec(Spec):
    name: str
    size: int = 1


class DatasetKind(Kind):
    name = "dataset"
    spec_model = DatasetSpec
    identity_fields = ("name",)
    identified_by_id = True

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return [LiveObject("dataset", (d["name"],), {"name": d["name"], "size": d["size"]}, platform_id=pid)
                for pid, d in sorted(store_of(ctx).datasets.items())]

    def create(self, ctx: Context, resource: Resource) -> Created:
        store = store_of(ctx)
        store.write("create", resource.spec["name"])
        pid = f"d{next(store.ids)}"
        store.datasets[pid] = {"name": resource.spec["name"], "size": resource.spec.get("size", 1)}
        return Created(platform_id=pid)

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        store = store_of(ctx)
        store.write("update", live.platform_id)
        store.datasets[live.platform_id].update({k: resource.spec[k] for k in changed if k in resource.spec})

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        store = store_of(ctx)
        if ref.platform_id in store.datasets:
            store.write("delete", ref.platform_id)
            del store.datasets[ref.platform_id]


# ---- data that a delete loses: confirmed deletes, deletion protection ------------------------------


class VaultSpec(Spec):
    name: str
    tier: str = "hot"
    deletion_protection: bool = True


class VaultKind(Kind):
    """A store of data: deleting it (a prune, or a replace when `tier` changes) needs
    `--confirm-delete`, and is refused outright while its declaration protects it."""

    name = "vault"
    spec_model = VaultSpec
    identity_fields = ("name",)
    field_rules = {"tier": FieldRule(replace=True), "deletion_protection": FieldRule(local=True)}

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return [LiveObject("vault", (name,), {"name": name, "tier": tier})
                for name, tier in sorted(store_of(ctx).vaults.items())]

    def create(self, ctx: Context, resource: Resource) -> None:
        store_of(ctx).write("create", resource.spec["name"])
        store_of(ctx).vaults[resource.spec["name"]] = resource.spec.get("tier", "hot")

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        assert changed == {"deletion_protection"}, "nothing else of a vault changes in place"

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        store_of(ctx).write("delete", ref.identity[0])
        store_of(ctx).vaults.pop(ref.identity[0], None)

    def delete_confirmation(self, ref: ObjectRef, live: LiveObject | None) -> str | None:
        return f"deleting vault {ref.identity[0]} deletes its data"

    def delete_refusal(self, spec: Any) -> str | None:
        if spec.get("deletion_protection", True):
            return "protected from deletion: apply deletion_protection = false first"
        return None


# ---- keys of one shared document ----------------------------------------------------------------


class VariableSpec(Spec):
    project: str
    key: str
    value: str


class VariableKind(Kind):
    name = "variable"
    spec_model = VariableSpec
    identity_fields = ("project", "key")
    section = "variables"

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("key", name)
        return raw

    def scopes(self, resources: Any, settings: Any) -> set[Any]:
        return {r.spec["project"] for r in resources}

    def scope_of(self, identity: tuple[Any, ...]) -> Any:
        return identity[0]

    def document_of(self, ref: ObjectRef) -> Hashable:
        return ref.identity[0]

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        document = json.loads(store_of(ctx).settings.get(scope, "{}"))
        return [LiveObject(self.name, (scope, key), {"project": scope, "key": key, "value": value})
                for key, value in sorted(document.get(self.section, {}).items())]

    def _write(self, ctx: Context, resource: Resource, remove: bool = False) -> None:
        """Read-modify-write of the whole document, with a pause in between so that two
        unserialised writers would lose one another's key."""
        store = store_of(ctx)
        project, key = resource.spec["project"], resource.spec["key"]
        if key == store.refused_key:
            raise PermanentError(f"{key}: refused")
        document = json.loads(store.settings.get(project, "{}"))
        time.sleep(store.write_delay)
        variables = document.setdefault(self.section, {})
        if remove:
            variables.pop(key, None)
        else:
            variables[key] = resource.spec["value"]
        store.write("settings", project)
        store.settings[project] = json.dumps(document)

    def create(self, ctx: Context, resource: Resource) -> None:
        self._write(ctx, resource)

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        self._write(ctx, resource)

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        project, key = ref.identity
        self._write(ctx, Resource(self.name, key, {"project": project, "key": key, "value": ""}, ref.identity),
                    remove=True)


class MergedVariableKind(VariableKind):
    name = "merged_variable"
    section = "merged"
    merges_document_writes = True

    def write_document(self, ctx: Context, writes: Any) -> list[Any]:
        store = store_of(ctx)
        batch: list[DocumentWrite] = list(writes)
        project = batch[0].ref.identity[0]
        if any(w.ref.identity[1] == store.refused_key for w in batch):
            raise PermanentError(f"{store.refused_key}: refused")
        document = json.loads(store.settings.get(project, "{}"))
        time.sleep(store.write_delay)
        section = document.setdefault(self.section, {})
        for write in batch:
            if write.op is Op.DELETE:
                section.pop(write.ref.identity[1], None)
            elif write.resource is not None:
                section[write.resource.spec["key"]] = write.resource.spec["value"]
        store.write("settings", project)
        store.settings[project] = json.dumps(document)
        with store.lock:
            if store.lose_merged_answers > 0:
                store.lose_merged_answers -= 1
                raise TemporaryError("the answer to a write that landed was lost")
        return [None] * len(batch)


# ---- deploy-only ----------------------------------------------------------------------------------


class FlowSpec(Spec):
    name: str
    steps: list[str] = []


class FlowKind(Kind):
    name = "flow"
    spec_model = FlowSpec
    identity_fields = ("name",)
    observability = Observability.NONE

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        raise AssertionError("the platform cannot list flows")

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        raise AssertionError("the platform cannot read flows back")

    def create(self, ctx: Context, resource: Resource) -> Created:
        store = store_of(ctx)
        store.write("deploy", resource.spec["name"])
        store.flows[resource.spec["name"]] = dict(resource.spec)
        return Created(platform_id=f"flow-{resource.spec['name']}")

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        self.create(ctx, resource)

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        store = store_of(ctx)
        store.write("undeploy", ref.identity[0])
        store.flows.pop(ref.identity[0], None)


# ---- versions ---------------------------------------------------------------------------------------


class JobSpec(Spec):
    name: str
    image: str
    schedule: str = ""


class JobKind(Kind):
    name = "job"
    spec_model = JobSpec
    identity_fields = ("name",)
    field_rules = {"image": FieldRule(new_version=True)}

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        out = []
        for name, job in sorted(store_of(ctx).jobs.items()):
            latest = job["versions"][-1]
            out.append(LiveObject("job", (name,), {"name": name, "image": latest, "schedule": job["schedule"]},
                                  platform_id=f"job-{name}", revision=len(job["versions"])))
        return out

    def create(self, ctx: Context, resource: Resource) -> Created:
        store = store_of(ctx)
        store.write("save", resource.spec["name"])
        store.jobs[resource.spec["name"]] = {"versions": [resource.spec["image"]],
                                             "schedule": resource.spec.get("schedule", "")}
        return Created(platform_id=f"job-{resource.spec['name']}", revision=1)

    def save(self, ctx: Context, resource: Resource, live: LiveObject) -> Created:
        store = store_of(ctx)
        store.write("save", resource.spec["name"])
        job = store.jobs[resource.spec["name"]]
        job["versions"].append(resource.spec["image"])
        job["schedule"] = resource.spec.get("schedule", job["schedule"])
        return Created(platform_id=live.platform_id, revision=len(job["versions"]))

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        store = store_of(ctx)
        store.write("modify", resource.spec["name"])
        store.jobs[resource.spec["name"]]["schedule"] = resource.spec.get("schedule", "")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        store = store_of(ctx)
        if store.jobs.pop(ref.identity[0], None) is not None:
            store.write("remove", ref.identity[0])


class PromotionSpec(Spec):
    job: str
    version: OutputRef | int


class PromotionKind(Kind):
    name = "promotion"
    spec_model = PromotionSpec
    identity_fields = ("job",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("job", name)
        return raw

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return [LiveObject("promotion", (job,), {"job": job, "version": version})
                for job, version in sorted(store_of(ctx).promotions.items())]

    def create(self, ctx: Context, resource: Resource) -> None:
        store = store_of(ctx)
        version = resource.spec["version"]
        if not isinstance(version, int) or version > len(store.jobs[resource.spec["job"]]["versions"]):
            raise PermanentError(f"no version {version!r} of job {resource.spec['job']}")
        store.write("promote", resource.spec["job"])
        store.promotions[resource.spec["job"]] = version

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        self.create(ctx, resource)

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        store_of(ctx).promotions.pop(ref.identity[0], None)


# ---- readiness and error classification ----------------------------------------------------------


class BuildSpec(Spec):
    name: str
    source: str


class BuildKind(Kind):
    name = "build"
    spec_model = BuildSpec
    identity_fields = ("name",)
    ready_timeout = 2.0

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return [LiveObject("build", (name,), {"name": name, "source": b["source"]}, platform_id=name,
                           extra={"started": b["started"], "fail": b["fail"]})
                for name, b in sorted(store_of(ctx).builds.items())]

    def create(self, ctx: Context, resource: Resource) -> None:
        store = store_of(ctx)
        name = resource.spec["name"]
        if resource.spec["source"] == "rejected":
            raise PermanentError("the platform rejected the source")
        if resource.spec["source"] == "busy" and store.writes.count(("build", name)) < 1:
            store.write("build", name)  # counted as an attempt: the platform was busy
            raise TemporaryError("the build queue is full")
        store.write("build", name)
        store.builds[name] = {"source": resource.spec["source"], "started": time.monotonic(),
                              "fail": name in store.build_fails}

    def ready(self, ctx: Context, live: LiveObject) -> Readiness:
        if live.extra["fail"]:
            return Readiness.failure("the build failed: compilation error")
        done = time.monotonic() - live.extra["started"] >= store_of(ctx).build_seconds
        return Readiness.done() if done else Readiness.pending()

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        self.create(ctx, resource)

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        store_of(ctx).builds.pop(ref.identity[0], None)


class MemoryObjects(ObjectStore):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.secrets: dict[str, str] = {}

    def get(self, name: str) -> bytes | None:
        return self.objects.get(name)

    def put(self, name: str, data: bytes) -> None:
        self.objects[name] = data

    def delete(self, name: str) -> None:
        self.objects.pop(name, None)

    def get_secret(self, name: str) -> str | None:
        return self.secrets.get(name)

    def put_secret(self, name: str, value: str) -> None:
        self.secrets[name] = value

    def list(self, prefix: str) -> list[ObjectInfo]:
        return [ObjectInfo(n) for n in sorted(self.objects) if n.startswith(prefix)]


class ContractPlatform:
    name = "contract"
    secret_detection = ""

    def __init__(self) -> None:
        self.store = Store()
        kinds: list[Kind] = [DatasetKind(), VaultKind(), VariableKind(), MergedVariableKind(), FlowKind(), JobKind(),
                             PromotionKind(), BuildKind()]
        self.kinds = {k.name: k for k in kinds}

    def validate_stack(self, resources: list[Resource]) -> list[Any]:
        return []

    def connect(self, config: Any, endpoint: str | None = None) -> Store:
        return self.store

    def settings(self, config: Any, resources: list[Resource]) -> dict[str, Any]:
        return {}

    def endpoint_of(self, client: Any) -> str:
        return "memory://contract"

    def object_store(self, client: Any, config: Any) -> MemoryObjects:
        return MemoryObjects()

    def is_transient(self, exc: Exception) -> bool:
        return False
