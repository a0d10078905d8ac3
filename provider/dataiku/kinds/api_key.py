"""Kind `global_api_key`: an instance-wide DSS API key and the groups it acts for.

    [global_api_key.ci]
    label = "ci"                        # default: the table name
    description = "CI deployments"
    groups = ["data_team"]              # or admin = true (a key with global admin rights)
    shown_once_to = { file = ".secrets/ci-api-key" }   # or { env_file = ".env", variable = "DSS_KEY" }

DSS assigns the key's id and its secret (contract §1.2 GlobalApiKey). The id is kept in the
state (`identified_by_id`: a new label is an update of the same key; an existing key is adopted
by label only when exactly one has it). The secret is shown once, in the answer to the create:
it is handed to the caller through the core's "shown once" values (`Created.shown_once`, kept by
`ApplyResult.shown_once`), masked in the client's messages, and never stored, planned, listed or
compared. The command line writes it where `shown_once_to` says (a 0600 file, or one variable of a
dotenv file; create-only, so it never shows as a change); Pulumi makes it a secret output. With DSS's "secure API keys" on, listings omit it anyway; with them off, the kind
still never reads it.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import Field

from platforge.core.kind import Context, sorted_unique
from platforge.core.model import Created, LiveObject, ObjectRef, Ref, Resource
from platforge.core.rules import Collection, FieldRule
from platforge.core.schema import Name, StrictBool, expects
from platforge.core.secrets import ShownOnceTarget

from ..._kit.client import NotFound
from .common import BUILTIN_GROUPS, DssKind, DssName, Spec, cached, client, forget, ignore_missing, sorted_names

SECRET_KEY = "key"


class GlobalApiKeySpec(Spec):
    label: Name
    description: Name | None = None
    groups: set[DssName] | None = Field(default=None, json_schema_extra=expects("a list of group names"))
    admin: StrictBool | None = None
    shown_once_to: ShownOnceTarget | None = None


class GlobalApiKeyKind(DssKind):
    name = "global_api_key"
    spec_model = GlobalApiKeySpec
    identity_fields = ("label",)
    identified_by_id = True
    field_rules = {"groups": FieldRule(collection=Collection.SET),
                   # where the command line hands the secret over: local, and only at creation
                   "shown_once_to": FieldRule(create_only=True)}

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("label", name)
        return raw

    def canonical_spec(self, model: GlobalApiKeySpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        if model.groups is not None:
            spec["groups"] = sorted_unique(model.groups)
        return spec

    def references(self, model: GlobalApiKeySpec) -> list[Ref]:  # type: ignore[override]
        return [Ref("group", g) for g in sorted(model.groups or ()) if g not in BUILTIN_GROUPS]

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return [self._live(k) for k in cached(ctx, "global-api-keys", client(ctx).list_global_api_keys)
                if isinstance(k, dict) and k.get("id")]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        if ref.platform_id is None:
            forget(ctx, "global-api-keys")
            return super().read(ctx, ref)
        try:
            return self._live(client(ctx).get_global_api_key(str(ref.platform_id)))
        except NotFound:
            return None

    def _live(self, document: dict[str, Any]) -> LiveObject:
        # The secret (`key`) is never read into a live object: nothing downstream may store it.
        fields: dict[str, Any] = {"label": document.get("label"), "description": document.get("description")}
        if document.get("groups") is not None:
            fields["groups"] = sorted_names(document["groups"])
        permissions = document.get("globalPermissions")
        if isinstance(permissions, dict) and "admin" in permissions:
            fields["admin"] = bool(permissions["admin"])
        return LiveObject(kind=self.name, identity=(document.get("label"),), fields=fields,
                          platform_id=str(document["id"]))

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        body: dict[str, Any] = {"label": spec["label"], "description": spec.get("description")}
        if "groups" in spec:
            body["groups"] = spec["groups"]
        if "admin" in spec or "groups" not in spec:
            body["globalPermissions"] = {"admin": bool(spec.get("admin", False))}
        key_id, secret = client(ctx).create_global_api_key(body)
        forget(ctx, "global-api-keys")
        return Created(platform_id=key_id, shown_once={SECRET_KEY: secret})

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        spec = resource.spec
        api = client(ctx)
        key_id = str(live.platform_id)
        read = api.get_global_api_key(key_id)
        document = copy.deepcopy(read)
        for name in ("label", "description", "groups"):
            if name in changed and name in spec:
                document[name] = spec[name]
        if "admin" in changed and "admin" in spec:
            document["globalPermissions"] = {**(document.get("globalPermissions") or {}), "admin": spec["admin"]}
        secret = read.get(SECRET_KEY)
        api.put_global_api_key(key_id, document, secret_values=(secret,) if isinstance(secret, str) else ())
        forget(ctx, "global-api-keys")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is None:
            return
        ignore_missing(lambda: client(ctx).delete_global_api_key(str(platform_id)))
        forget(ctx, "global-api-keys")
