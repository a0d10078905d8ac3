"""Kind `connection`: a DSS connection, its write-only password and who may use it.

    [connection.pg_main]
    type = "PostgreSQL"                         # cannot change in place
    description = "main warehouse"
    params = { host = "db", port = 5432, db = "analytics", user = "etl" }
    password = { from_env = "PG_MAIN_PASSWORD" }    # written to params.password, never read back
    usable_by = "ALLOWED"                       # or "ALL"
    allowed_groups = ["data_team"]
    details_readability = { readable_by = "ALLOWED", allowed_groups = ["data_team"] }
    allow_write = true

Field rules:
- `params` is type-specific and opaque (contract §1.2 Connection): only the keys a stack
  declares are managed (`server_defaults` ignores every other key DSS fills in), and a write
  merges the declared keys into the live `params`, so keys DSS or the UI set survive.
- `password` is a secret: DSS returns it only in an encrypted form (§1.2), so it is compared by
  the fingerprint recorded at the last apply and written only when the declaration changes;
  every other write sends back the encrypted value DSS gave (read-modify-write). Secret-looking
  keys are refused in `params` and never shown from live params.
- the embedded ACL (`usable_by`, `allowed_groups`, `details_readability`) is part of the kind;
  group lists compare as sets. A connection created without `usable_by` is usable by no group
  until one is declared (DSS's own client would make it usable by all).
"""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from pydantic import Field, field_validator

from platforge.core.kind import Context, sorted_unique
from platforge.core.model import LiveObject, ObjectRef, Observability, Ref, Resource
from platforge.core.rules import ANY, Collection, FieldRule
from platforge.core.schema import Name, StrictBool, expects
from platforge.core.secrets import SecretRef

from .common import BUILTIN_GROUPS, DssKind, DssName, Spec, cached, client, fetch, forget, ignore_missing, sorted_names

#: Keys of `params` that hold secrets: never declared in clear, never shown from live.
SECRET_PARAM = re.compile(r"password|secret|token|passphrase|privatekey|credential", re.IGNORECASE)
PASSWORD_PARAM = "password"
#: Stack field -> document key, for the plain fields.
FIELDS = {"type": "type", "description": "description", "usable_by": "usableBy",
          "allowed_groups": "allowedGroups", "allow_write": "allowWrite",
          "allow_managed_datasets": "allowManagedDatasets", "allow_managed_folders": "allowManagedFolders"}


class DetailsReadability(Spec):
    readable_by: Literal["NONE", "ALL", "ALLOWED"]
    allowed_groups: set[DssName] | None = None


class ConnectionSpec(Spec):
    name: DssName
    type: Name
    description: Name | None = None
    params: dict[str, Any] | None = Field(default=None, json_schema_extra=expects("a table of connection parameters"))
    password: SecretRef | None = None
    usable_by: Literal["ALL", "ALLOWED"] | None = None
    allowed_groups: set[DssName] | None = Field(default=None, json_schema_extra=expects("a list of group names"))
    details_readability: DetailsReadability | None = None
    allow_write: StrictBool | None = None
    allow_managed_datasets: StrictBool | None = None
    allow_managed_folders: StrictBool | None = None

    @field_validator("params")
    @classmethod
    def _no_secrets_in_clear(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key in value or {}:
            if SECRET_PARAM.search(key):
                raise ValueError(f"params.{key} looks like a secret: declare it as `password = {{ from_env = "
                                 "\"...\" }` (written to params.password), never in clear")
        return value


def _live_readability(document: dict[str, Any]) -> dict[str, Any] | None:
    value = document.get("detailsReadability")
    if not isinstance(value, dict):
        return None
    return {"readable_by": value.get("readableBy"), "allowed_groups": sorted_names(value.get("allowedGroups"))}


class ConnectionKind(DssKind):
    name = "connection"
    spec_model = ConnectionSpec
    identity_fields = ("name",)

    field_rules = {
        "type": FieldRule(replace=True),
        "password": FieldRule(sensitive=True),
        "params": FieldRule(server_defaults={"*": ANY}),
        "allowed_groups": FieldRule(collection=Collection.SET),
        "details_readability": FieldRule(server_defaults={"allowed_groups": ANY}),
    }
    observability = Observability.SECRETS_WRITE_ONLY

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def canonical_spec(self, model: ConnectionSpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        if model.allowed_groups is not None:
            spec["allowed_groups"] = sorted_unique(model.allowed_groups)
        if model.details_readability is not None and model.details_readability.allowed_groups is not None:
            spec["details_readability"]["allowed_groups"] = sorted_unique(model.details_readability.allowed_groups)
        return spec

    def references(self, model: ConnectionSpec) -> list[Ref]:  # type: ignore[override]
        groups = set(model.allowed_groups or ())
        if model.details_readability is not None:
            groups |= set(model.details_readability.allowed_groups or ())
        return [Ref("group", g) for g in sorted(groups - BUILTIN_GROUPS)]

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        listing = cached(ctx, "connections", client(ctx).list_connections)
        return [self._live(name, document) for name, document in sorted(listing.items())
                if isinstance(document, dict)]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        document = fetch(lambda: client(ctx).get_connection(ref.identity[0]))
        return document if document is None else self._live(ref.identity[0], document)

    def _live(self, name: str, document: dict[str, Any]) -> LiveObject:
        fields: dict[str, Any] = {"name": name}
        fields.update({f: document[k] for f, k in FIELDS.items() if k in document})
        if "allowed_groups" in fields:
            fields["allowed_groups"] = sorted_names(fields["allowed_groups"])
        params = document.get("params")
        if isinstance(params, dict):
            fields["params"] = {k: v for k, v in params.items() if not SECRET_PARAM.search(k)}
        readability = _live_readability(document)
        if readability is not None:
            fields["details_readability"] = readability
        return LiveObject(kind=self.name, identity=(name,), fields=fields)

    def _apply(self, document: dict[str, Any], resource: Resource, changed: set[str]) -> dict[str, Any]:
        """`document` with the `changed` declared fields set; everything else as read."""
        spec = resource.spec
        out = copy.deepcopy(document)
        for name in changed & set(FIELDS):
            if name in spec:
                out[FIELDS[name]] = copy.deepcopy(spec[name])
        if "params" in changed or "password" in changed:
            params = dict(out.get("params") or {})
            if "params" in changed:
                params.update(copy.deepcopy(spec.get("params") or {}))
            if "password" in changed and "password" in resource.secrets:
                params[PASSWORD_PARAM] = resource.secrets["password"]
            out["params"] = params
        if "details_readability" in changed and spec.get("details_readability"):
            wanted = spec["details_readability"]
            readability = dict(out.get("detailsReadability") or {})
            readability["readableBy"] = wanted["readable_by"]
            if "allowed_groups" in wanted:
                readability["allowedGroups"] = list(wanted["allowed_groups"])
            readability.setdefault("allowedGroups", [])
            out["detailsReadability"] = readability
        return out

    def _secrets(self, resource: Resource) -> tuple[str, ...]:
        return tuple(v for k, v in resource.secrets.items() if k == "password" and v)

    def create(self, ctx: Context, resource: Resource) -> Any:
        spec = resource.spec
        api = client(ctx)
        params = copy.deepcopy(spec.get("params") or {})
        if "password" in resource.secrets:
            params[PASSWORD_PARAM] = resource.secrets["password"]
        api.create_connection({
            "name": spec["name"], "description": spec.get("description"), "type": spec["type"], "params": params,
            "usableBy": spec.get("usable_by", "ALLOWED"), "allowedGroups": spec.get("allowed_groups") or [],
        }, secret_values=self._secrets(resource))
        rest = set(spec) & {"details_readability", "allow_write", "allow_managed_datasets", "allow_managed_folders"}
        if rest:
            api.put_connection(spec["name"], self._apply(api.get_connection(spec["name"]), resource, rest))
        forget(ctx, "connections")
        return spec["name"]

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        api = client(ctx)
        name = resource.spec["name"]
        api.put_connection(name, self._apply(api.get_connection(name), resource, changed),
                           secret_values=self._secrets(resource))
        forget(ctx, "connections")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        ignore_missing(lambda: client(ctx).delete_connection(ref.identity[0]))
        forget(ctx, "connections")
