"""Kinds `kv` and `secret`: KV entries and secure KV entries, per environment.

    [kv.db_url]
    environment = "prod"              # default: the stack's [platform] environment
    key = "db_url"                    # default: the table name
    value = "postgres://db/prod"
    [kv.db_url.acl]
    read = { groups = ["analysts"] }

    [secret.db_password]
    environment = "prod"
    value = { from_env = "DB_PASSWORD" }   # or { from_file = "..." }: never inline

The identity is (environment, key). A secret's value is never listed by the platform, so each
managed secret costs one `kv get --secure` per plan to compare keyed fingerprints; plain
entries are read entirely from the listing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from platforge.core.errors import UnsafeWrite
from platforge.core.kind import Context, Kind
from platforge.core.model import FieldChange, LiveObject, ObjectRef, Resource
from platforge.core.rules import FieldRule
from platforge.core.schema import Name
from platforge.core.secrets import SecretRef

from ..._kit.client import NotFound
from ..models import KvEntry
from .acl import AclSpec, canonical_acl, describe_acl, foreign_principals, live_acl, to_client_acl
from .common import Environment, KvKey, Spec, client, ignore_missing


class KvSpec(Spec):
    key: KvKey
    environment: Environment
    value: Name
    acl: AclSpec | None = None


class SecretSpec(Spec):
    key: KvKey
    environment: Environment
    value: SecretRef
    acl: AclSpec | None = None


class KvKind(Kind):
    name = "kv"
    spec_model = KvSpec
    identity_fields = ("environment", "key")
    secure = False

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("key", name)
        return raw

    def canonical_spec(self, model) -> dict[str, Any]:
        spec: dict[str, Any] = {"environment": model.environment, "key": model.key}
        if not self.secure:
            spec["value"] = model.value
        if model.acl is not None:
            spec["acl"] = canonical_acl(model.acl)
        return spec

    def references(self, model):
        return model.acl.refs() if model.acl is not None else []

    def scopes(self, resources, settings) -> set[Any]:
        return {r.spec["environment"] for r in resources}

    def scope_of(self, identity: tuple) -> Any:
        return identity[0]

    def _api(self, ctx: Context):
        return client(ctx).secrets if self.secure else client(ctx).kv

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        env = scope or ctx.settings.get("environment", "dev")
        entries = ctx.cached(f"{self.name}:{env}", lambda: self._api(ctx).ls(
            environment=env, acls=True, include_values=not self.secure))
        return [self._live(ctx, entry, env) for entry in entries]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        """One filtered `kv ls` for this key (it carries the ACL, which `kv get` does not)."""
        identity = ref.identity
        env, key = identity
        entries = self._api(ctx).ls(environment=env, where={"key": key}, acls=True, include_values=not self.secure)
        return next((self._live(ctx, e, env) for e in entries if e.key == key), None)

    def _live(self, ctx: Context, entry: KvEntry, env: str) -> LiveObject:
        environment = entry.environment or env
        fields: dict[str, Any] = {"environment": environment, "key": entry.key, "acl": live_acl(ctx, entry.acl)}
        if not self.secure:
            fields["value"] = entry.value
        return LiveObject(kind=self.name, identity=(environment, entry.key),
                          platform_id=f"{environment}/{entry.key}", fields=fields)

    def _write_value(self, ctx: Context, resource: Resource) -> None:
        spec = resource.spec
        value = resource.secrets["value"] if self.secure else spec["value"]
        self._api(ctx).put(spec["key"], value, environment=spec["environment"])

    def create(self, ctx: Context, resource: Resource) -> Any:
        self._write_value(ctx, resource)
        if "acl" in resource.spec:
            self._api(ctx).set_acls(resource.spec["key"], to_client_acl(resource.spec["acl"]),
                                    environment=resource.spec["environment"])
        self._changed(ctx, resource.spec["environment"])
        return f"{resource.spec['environment']}/{resource.spec['key']}"

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        # The ACL first: a new value must never be readable by whoever the old ACL let in.
        if "acl" in changed:
            self._api(ctx).set_acls(resource.spec["key"], to_client_acl(resource.spec.get("acl") or {}),
                                    environment=resource.spec["environment"])
        if "value" in changed:
            self._write_value(ctx, resource)
        self._changed(ctx, resource.spec["environment"])

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        identity = ref.identity
        ignore_missing(lambda: self._api(ctx).rm(identity[1], environment=identity[0]))
        self._changed(ctx, identity[0])

    def _changed(self, ctx: Context, environment: str) -> None:
        ctx.invalidate(f"{self.name}:{environment}")
        ctx.invalidate_prefix(f"{self.name}-fingerprint:{environment}/")


class SecretKind(KvKind):
    """A secret's value is written only into an object whose readers the stack controls: its
    declared `acl`, or, when none is declared, nobody but the applying identity. So a secret
    that someone else created first (squatting) is never adopted without an `acl`, a value
    change is refused while the live ACL lets others in, and a create first writes a
    placeholder, takes control of the ACL, checks it, and only then writes the value (a
    squatter racing the create sees the placeholder, never the secret)."""

    name = "secret"
    spec_model = SecretSpec
    field_rules = {"value": FieldRule(sensitive=True)}
    secure = True
    #: What a create writes before the ACL is known to be ours: not a secret.
    PLACEHOLDER = "(platforge: value pending)"

    def declaration_of(self, live: LiveObject, settings: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ACL is always declared, also when empty: a secret is adopted only with a declared
        ACL (the stack must control its readers). The value is a reference export adds."""
        declaration = super().declaration_of(live, settings)
        if declaration is not None:
            declaration["acl"] = live.fields.get("acl") or {}
        return declaration

    def refuse_write(self, ctx: Context, resource: Resource, live: LiveObject, changes: list[FieldChange],
                     adopting: bool) -> str | None:
        shown = describe_acl(live.fields.get("acl") or {})
        if adopting and "acl" not in resource.spec:
            return (f"a secret that exists on the platform, with an ACL this stack does not declare ({shown}); "
                    f"declare [{resource.address}.acl] to adopt it: apply then sets that ACL before writing the value")
        if "acl" in resource.spec or not any(c.path == "value" for c in changes):
            return None
        others = foreign_principals(ctx, live.fields.get("acl") or {}, None)
        if others:
            return (f"its live ACL lets {', '.join(others)} in, which this stack does not control; declare "
                    f"[{resource.address}.acl] (apply sets it before the value) or fix the ACL first")
        return None

    def create(self, ctx: Context, resource: Resource) -> Any:
        spec = resource.spec
        api = client(ctx).secrets
        env, key = spec["environment"], spec["key"]
        api.put(key, self.PLACEHOLDER, environment=env)
        if "acl" in spec:
            api.set_acls(key, to_client_acl(spec["acl"]), environment=env)
        others = foreign_principals(ctx, live_acl(ctx, api.acls(key, environment=env)), spec.get("acl"))
        if others:
            self._changed(ctx, env)
            raise UnsafeWrite(f"secret {env}/{key}: its ACL lets {', '.join(others)} in (someone else created or "
                              "changed it during this apply); the value was not written")
        self._write_value(ctx, resource)
        self._changed(ctx, env)
        return f"{env}/{key}"

    def fingerprint_live(self, ctx: Context, live: LiveObject, resource: Resource) -> dict[str, str]:
        if "value" not in resource.secrets:
            return {}
        environment, key = live.identity

        def read() -> str | None:
            try:
                return ctx.fingerprinter(client(ctx).secrets.get(key, environment=environment).get_secret_value())
            except NotFound:
                return None

        fingerprint = ctx.cached(f"{self.name}-fingerprint:{environment}/{key}", read)
        return {} if fingerprint is None else {"value": fingerprint}
