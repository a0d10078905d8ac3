"""Fixtures for the Pulumi front door: module-scoped sandboxes and provider processes (one plugin
per module and config, as the engine keeps one per run), a raw admin API client for out-of-band
changes, and `declared()` to build a resource's program inputs the way `PlatforgeResource` does."""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from platforge.provider import get_platform
from platforge.provider._kit.sandbox.serve import EmbeddedServer
from platforge.pulumi.base import provider_for
from platforge.pulumi.datatailr import RESOURCES

from tests.conftest import RunningSandbox

from .harness import (
    DYNAMIC_TYPE,
    PROVIDER_KEY,
    Declared,
    MiniEngine,
    ProviderProcess,
    secret,
    serialize_like_sdk,
    urn_of,
)

REPO = Path(__file__).resolve().parents[2]
STACKS = REPO / "stacks"
QUICKSTART = REPO / "examples" / "quickstart"
PROJECT = "platforge-stack"


def start_sandbox(directory: Path, **kwargs: Any) -> RunningSandbox:
    from platforge.provider.datatailr.sandbox.app import create_app
    from platforge.provider.datatailr.sandbox.config import SandboxConfig

    password = kwargs.pop("admin_password", None) or _secrets.token_urlsafe(12)
    db = str(directory / f"sandbox-{_secrets.token_hex(4)}.db")
    config = SandboxConfig(db_path=db, admin_password=password, **kwargs)
    server = EmbeddedServer(create_app(config)).start()
    return RunningSandbox(server.url, config.admin_user, password, db, None, server)


@pytest.fixture(scope="module")
def module_sandbox(tmp_path_factory) -> Iterator[RunningSandbox]:
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    yield box
    box.stop()


def password_config(box: RunningSandbox, environment: str = "dev") -> tuple[dict[str, str], set[str]]:
    """The stack config `pulumi config set` would produce, and which keys are secret."""
    return ({"platforge:endpoint": box.url, "platforge:environment": environment,
             "platforge:username": box.admin_user, "platforge:password": box.admin_password,
             "platforge:stackDir": "../examples/quickstart", "aws:region": "unrelated-namespace"},
            {"platforge:password"})


def start_provider(box: RunningSandbox, cwd: Path | str = STACKS, **kwargs: Any) -> ProviderProcess:
    process = ProviderProcess(cwd, project=PROJECT, **kwargs)
    config, secret_keys = password_config(box)
    process.configure(config, secret_keys)
    return process


@pytest.fixture(scope="module")
def provider(module_sandbox: RunningSandbox) -> Iterator[ProviderProcess]:
    process = start_provider(module_sandbox)
    yield process
    process.close()


@pytest.fixture
def engine(provider: ProviderProcess) -> MiniEngine:
    return MiniEngine(provider)


class Api:
    """The raw sandbox API as the admin, for out-of-band changes and for looking at live state."""

    def __init__(self, box: RunningSandbox) -> None:
        self.http = httpx.Client(base_url=box.url, timeout=30)
        response = self.http.post("/login", params={"response_type": "id_token"},
                                  auth=(box.admin_user, box.admin_password))
        response.raise_for_status()
        self.token = response.cookies["X-Datatailr-Oidc-Data"]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, "/api" + path, **kwargs)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()["result"]

    def user(self, name: str) -> dict | None:
        return self.call("GET", "/user/get", params={"username": name})

    def group(self, name: str) -> dict | None:
        return self.call("GET", "/group/get", params={"group_name": name})

    def group_member_names(self, name: str) -> list[str]:
        group = self.group(name)
        ids = {u["user_id"]: u["name"] for u in self.call("GET", "/user/ls")}
        return sorted(ids[i] for i in group["members"]) if group else []

    def kv(self, key: str, environment: str = "dev", secure: bool = False) -> str | None:
        return self.call("GET", "/kv/get", params={"key": key, "environment": environment, "secure": secure})

    # ---- out-of-band writes, as somebody using the platform directly would make them ----------

    def add_user(self, name: str, groups: list[str] | None = None) -> dict:
        body = {"username": name, "password": f"pw-{name}-1", "first-name": name.title(), "last-name": "Oob",
                "json-enrichened": True}
        if groups:
            body["groups"] = ",".join(groups)
        return self.call("POST", "/user/add", json=body)

    def add_group(self, name: str) -> dict:
        return self.call("POST", "/group/add", json={"group_name": name, "json-enrichened": True})

    def modify_user(self, name: str, **fields: Any) -> None:
        self.call("PUT", "/user/modify", json={"username": name, **fields})

    def rm_user(self, name: str) -> None:
        self.call("DELETE", "/user/rm", json={"username": name})

    def rm_group(self, name: str) -> None:
        self.call("DELETE", "/group/rm", json={"group_name": name})

    def add_members(self, group: str, *users: str) -> None:
        self.call("POST", "/group/add-users", json={"group_name": group, "username": ",".join(users)})

    def rm_members(self, group: str, *users: str) -> None:
        self.call("DELETE", "/group/rm-users", json={"group_name": group, "username": ",".join(users)})

    def put_kv(self, key: str, value: str, environment: str = "dev", secure: bool = False) -> None:
        self.call("PUT", "/kv/put", json={"key": key, "value": value, "environment": environment, "secure": secure})

    def rm_kv(self, key: str, environment: str = "dev", secure: bool = False) -> None:
        self.call("DELETE", "/kv/rm", json={"key": key, "environment": environment, "secure": secure})

    def snapshot(self) -> dict[str, Any]:
        """The platform's state in names only (ids differ between sandboxes): users, groups with
        members, KV entries with values and ACLs, secret values."""
        users = self.call("GET", "/user/ls")
        groups = self.call("GET", "/group/ls")
        user_names = {u["user_id"]: u["name"] for u in users}
        group_names = {g["group_id"]: g["name"] for g in groups}

        def principals(ids: list[int]) -> list[str]:
            return sorted(f"user:{user_names[i]}" if i >= 0 else f"group:{group_names[-i]}" for i in ids)

        out: dict[str, Any] = {
            "users": {u["name"]: {"first_name": u["first_name"], "last_name": u["last_name"], "email": u["email"],
                                  "system": u["is_system"], "disabled": u["disabled"],
                                  "groups": sorted(g for g in u["groups"].split(",") if g)} for u in users},
            "groups": {g["name"]: sorted(user_names[i] for i in g["members"]) for g in groups},
        }
        for secure in (False, True):
            entries = {}
            for env in ("dev", "pre", "prod"):
                listing = self.call("GET", "/kv/ls", params={"environment": env, "secure": secure, "acls": True,
                                                            "include-values": True})
                for item in listing["items"]:
                    value = self.kv(item["key"], env, secure=True) if secure else item.get("value")
                    entries[f"{env}/{item['key']}"] = {
                        "value": value, "acl": {p: principals(ids) for p, ids in item.get("acl", {}).items()}}
            out["secrets" if secure else "kv"] = entries
        return out

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module")
def api(module_sandbox: RunningSandbox) -> Iterator[Api]:
    client = Api(module_sandbox)
    yield client
    client.close()


def resource_type(kind: str) -> str:
    """The Pulumi type `platforge.pulumi.datatailr.<Class>` registers: `pulumi-python:dynamic/datatailr:User`."""
    return f"pulumi-python:{RESOURCES[kind]._resource_type_name}"


def declared(kind: str, name: str, props: Mapping[str, Any], *, secret_fields: set[str] | None = None,
             stack: str = "dev") -> Declared:
    """A resource's registration as `platforge.pulumi.datatailr.<Class>(name, **props)` makes it: its
    class's type in the URN and the legacy type as an alias, None props dropped, `__provider`
    serialized by the SDK's own function, sensitive and create-only fields secret and listed in
    `additional_secret_outputs`."""
    kind_obj = get_platform("datatailr").kinds[kind]
    sensitive = kind_obj.sensitive_fields | kind_obj.create_only_fields
    wrap = sensitive if secret_fields is None else secret_fields
    if kind in ("kv", "secret"):  # KvEntry and Secret default the environment (stack config, else dev)
        props = {"environment": "dev", **props}
    inputs = {k: secret(v) if k in wrap else v for k, v in props.items() if v is not None}
    inputs[PROVIDER_KEY] = provider_blob(kind)
    return Declared(urn_of(name, stack=stack, project=PROJECT, type_=resource_type(kind)), inputs,
                    tuple(sorted(sensitive)), aliases=(urn_of(name, stack=stack, project=PROJECT, type_=DYNAMIC_TYPE),))


_BLOBS: dict[str, str] = {}


def provider_blob(kind: str) -> str:
    if kind not in _BLOBS:
        _BLOBS[kind] = serialize_like_sdk(provider_for("datatailr", kind))
    return _BLOBS[kind]


UniqueName = Callable[[str], str]


@pytest.fixture
def unique() -> UniqueName:
    """Names unique per test, so tests can share one sandbox."""
    tag = _secrets.token_hex(3)
    return lambda base: f"{base}-{tag}"


# ---- a small stack in two versions (program and parity tests) ------------------------------

STACK_HEADER = """\
[stack]
name = "pp"

[platform]
type = "datatailr"
endpoint = "{endpoint}"
environment = "dev"
"""

STACK_V1 = """
[group.analysts]

[group.engineers]

[user.alice]
first_name = "Alice"
email = "alice@example.com"
groups = ["analysts"]
initial_password = { from_env = "PP_INITIAL_PASSWORD" }

[user.bot]
email = "bot@example.com"
groups = ["engineers"]

[kv.url]
value = "postgres://warehouse/v1"
[kv.url.acl]
read = { groups = ["analysts"] }

[kv.old]
value = "to-be-deleted"

[secret.db-password]
value = { from_env = "PP_DB_PASSWORD" }
"""

# v2: create group.oncall; update user.alice (email) and secret.db-password (value, via the env);
# replace user.bot (system cannot change in place); delete kv.old; the rest unchanged.
STACK_V2 = """
[group.analysts]

[group.engineers]

[group.oncall]
members = ["alice"]

[user.alice]
first_name = "Alice"
email = "alice@corp.example.com"
groups = ["analysts"]
initial_password = { from_env = "PP_INITIAL_PASSWORD" }

[user.bot]
email = "bot@example.com"
groups = ["engineers"]
system = true

[kv.url]
value = "postgres://warehouse/v1"
[kv.url.acl]
read = { groups = ["analysts"] }

[secret.db-password]
value = { from_env = "PP_DB_PASSWORD" }
"""

STACK_V2_CHANGES = {
    "create": ["group.oncall"],
    "update": ["secret.db-password", "user.alice"],
    "replace": ["user.bot"],
    "delete": ["kv.old"],
}


def write_stack(directory: Path, body: str, endpoint: str, file: str = "main.toml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.toml"):
        old.unlink()
    (directory / file).write_text(STACK_HEADER.format(endpoint=endpoint) + body, encoding="utf-8")
    return directory


def stack_env(monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    monkeypatch.setenv("PP_INITIAL_PASSWORD", "initial-PP-pw")
    monkeypatch.setenv("PP_DB_PASSWORD", f"db-password-v{version}")
