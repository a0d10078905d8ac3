"""An in-memory platform for testing the core without any HTTP: two kinds, a write counter,
hooks to fail or crash on a chosen write, and an object store for the platform state backend."""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, ConfigDict

from platforge.core.kind import Context, Kind, sorted_unique
from platforge.core.model import LiveObject, Ref, Resource
from platforge.core.secrets import SecretRef
from platforge.core.stack import PlatformConfig
from platforge.core.state import ObjectInfo, ObjectStore


class TransientError(Exception):
    """A failure after which the write may or may not have happened (a 503, a timeout)."""


class FakeBackendStore:
    """The 'platform': tables of dicts, plus counters of reads and writes."""

    def __init__(self) -> None:
        self.teams: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self.lists = 0
        self.fail_on: set[tuple[str, str]] = set()  # (op, name) -> raise
        self.crash_after: set[tuple[str, str]] = set()  # write happens, then raise
        self.ambiguous_after: dict[tuple[str, str], int] = {}  # write happens, then N transient errors
        self.stale_reads = 0  # eventual consistency: the next N listings show the previous state
        self.failing_reads = 0  # the next N listings fail transiently (a throttled or flaky read)
        self.reads_fail_after: dict[tuple[str, str], int] = {}  # (op, name) -> N listings fail after it
        self._snapshot: dict[str, dict[str, Any]] | None = None
        self.lock = threading.Lock()

    def read(self) -> None:
        with self.lock:
            self.lists += 1
            if self.failing_reads > 0:
                self.failing_reads -= 1
                raise TransientError("read timed out")

    def teams_view(self) -> dict[str, dict[str, Any]]:
        if self.stale_reads > 0 and self._snapshot is not None:
            self.stale_reads -= 1
            return self._snapshot
        return self.teams

    def write(self, op: str, name: str) -> None:
        with self.lock:
            self._snapshot = {k: dict(v) for k, v in self.teams.items()}
            if (op, name) in self.fail_on:
                raise RuntimeError(f"injected failure on {op} {name}")
            self.writes += 1
            self.failing_reads += self.reads_fail_after.pop((op, name), 0)

    def after(self, op: str, name: str) -> None:
        if self.ambiguous_after.get((op, name), 0) > 0:
            self.ambiguous_after[(op, name)] -= 1
            raise TransientError(f"timed out after {op} {name}")
        if (op, name) in self.crash_after:
            raise KeyboardInterrupt(f"killed after {op} {name}")


class TeamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    members: set[str] = set()
    region: str = "eu"


class ItemSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    value: str = ""
    team: str | None = None
    size: int = 1
    token: SecretRef | None = None


class TeamKind(Kind):
    name = "team"
    spec_model = TeamSpec
    identity_fields = ("name",)
    replace_fields = frozenset({"region"})
    destructive = True
    builtin_names = frozenset({"everyone"})

    def prepare(self, name, raw):
        raw.setdefault("name", name)
        return raw

    def canonical_spec(self, model):
        spec = super().canonical_spec(model)
        if "members" in spec:
            spec["members"] = sorted_unique(spec["members"])
        return spec

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        store: FakeBackendStore = ctx.client
        store.read()
        return [
            LiveObject(kind="team", identity=(name,), platform_id=t["id"], builtin=name == "everyone",
                       fields={"name": name, "members": sorted(t["members"]), "region": t["region"]})
            for name, t in sorted(store.teams_view().items())
        ]

    def create(self, ctx, resource: Resource):
        store: FakeBackendStore = ctx.client
        name = resource.spec["name"]
        store.write("create", name)
        if name in store.teams:
            raise RuntimeError(f"duplicate team {name}")
        store.teams[name] = {"id": len(store.teams) + 100, "members": set(resource.spec.get("members", [])),
                             "region": resource.spec.get("region", "eu")}
        store.after("create", name)
        return store.teams[name]["id"]

    def update(self, ctx, resource, live, changed):
        store: FakeBackendStore = ctx.client
        name = resource.spec["name"]
        store.write("update", name)
        if "members" in changed:
            store.teams[name]["members"] = set(resource.spec["members"])

    def delete(self, ctx, ref, live):
        store: FakeBackendStore = ctx.client
        if ref.identity[0] in store.teams:
            store.write("delete", ref.identity[0])
            del store.teams[ref.identity[0]]


class ItemKind(Kind):
    name = "item"
    spec_model = ItemSpec
    identity_fields = ("name",)
    sensitive_fields = frozenset({"token"})

    def prepare(self, name, raw):
        raw.setdefault("name", name)
        return raw

    def references(self, model):
        return [Ref("team", model.team)] if model.team else []

    def list(self, ctx, scope):
        store: FakeBackendStore = ctx.client
        store.read()
        out = []
        for name, item in sorted(store.items.items()):
            fps = {"token": ctx.fingerprinter(item["token"])} if item.get("token") is not None else {}
            out.append(LiveObject(kind="item", identity=(name,), platform_id=name, fingerprints=fps,
                                  fields={"name": name, "value": item["value"], "team": item["team"],
                                          "size": item["size"]}))
        return out

    def _write(self, ctx, resource):
        store: FakeBackendStore = ctx.client
        spec = resource.spec
        current = store.items.get(spec["name"], {"value": "", "team": None, "size": 1, "token": None})
        store.items[spec["name"]] = {
            "value": spec.get("value", current["value"]), "team": spec.get("team", current["team"]),
            "size": int(spec.get("size", current["size"])), "token": resource.secrets.get("token", current["token"]),
        }

    def create(self, ctx, resource):
        ctx.client.write("create", resource.spec["name"])
        self._write(ctx, resource)
        ctx.client.after("create", resource.spec["name"])
        return resource.spec["name"]

    def update(self, ctx, resource, live, changed):
        ctx.client.write("update", resource.spec["name"])
        self._write(ctx, resource)

    def delete(self, ctx, ref, live):
        store: FakeBackendStore = ctx.client
        if ref.identity[0] in store.items:
            store.write("delete", ref.identity[0])
            del store.items[ref.identity[0]]


class FakeObjectStore(ObjectStore):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.secrets: dict[str, str] = {}

    def get(self, name):
        return self.objects.get(name)

    def put(self, name, data):
        self.objects[name] = data

    def delete(self, name):
        self.objects.pop(name, None)

    def get_secret(self, name):
        return self.secrets.get(name)

    def put_secret(self, name, value):
        self.secrets[name] = value

    def list(self, prefix):
        return [ObjectInfo(name) for name in sorted(list(self.objects)) if name.startswith(prefix)]


class FakeConfig(PlatformConfig):
    environment: str = "dev"

    def scope(self) -> str:
        return self.environment


class FakePlatform:
    name = "fake"
    config_model = FakeConfig
    secret_detection = "fingerprint of the value read back"

    def __init__(self, store: FakeBackendStore | None = None) -> None:
        self.store = store or FakeBackendStore()
        self.kinds = {"team": TeamKind(), "item": ItemKind()}
        self.object_stores: dict[str, FakeObjectStore] = {}
        self.endpoint = "memory://fake"

    def validate_stack(self, resources):
        return []

    def is_transient(self, exc):
        return isinstance(exc, TransientError)

    def connect(self, config, endpoint=None):
        self.endpoint = endpoint or config.endpoint
        return self.store

    def settings(self, config, resources):
        return {"environment": config.environment}

    def endpoint_of(self, client):
        return self.endpoint

    def object_store(self, client, config):
        return self.object_stores.setdefault("default", FakeObjectStore())
