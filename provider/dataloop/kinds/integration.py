"""Kind `integration`: an organisation's integration, Dataloop's store of secrets and cloud
credentials, which services read as environment variables (`service.secrets`).

    [integration.openai-key]
    type = "key_value"                                # cannot change in place
    options = { from_env = "OPENAI_INTEGRATION" }     # the options document, as JSON

`options` is the whole options document Dataloop takes for the type (contract §2.3):
`{"key": "OPENAI_API_KEY", "value": "sk-…"}` for `key_value`, `{"key": …, "secret": …}` for
`s3`, and so on. Dataloop never returns it (§1.2), so it is write-only: platforge keeps only its
keyed fingerprint (HMAC-SHA256, see `platforge.core.fingerprint`), in the state, never the value,
and a declared change is a `PATCH … {integrationId, credentials}` that makes the services using it
reload. A change made in Dataloop itself cannot be seen (drift says so). The value is sent in the
create or that PATCH only, and masked in every message.

A malformed document is refused when the stack is read, before any request: the message says
what was expected and never shows the value. Ids are Dataloop's and names are not unique: a
rename is a `PATCH {integrationId, name}` of the same integration.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from typing import Any, Literal

from platforge.core.kind import Context, Kind
from platforge.core.model import Created, LiveObject, ObjectRef, Observability, Resource, SourceLocation
from platforge.core.rules import FieldRule
from platforge.core.secrets import SecretRef

from .common import LIST_PAGE_SIZE, DlName, FreshReads, ReadsById, Spec, client, forget, ignore_missing

IntegrationType = Literal[
    "key_value", "s3", "s3-api", "aws-sts", "aws-cross", "gcs", "gcp-cross", "gcp-workload-identity-federation",
    "azureblob", "private-registry",
]


class IntegrationSpec(Spec):
    name: DlName
    type: IntegrationType
    options: SecretRef


def options_of(resource: Resource) -> dict[str, Any]:
    """The declared options document (the secret), parsed."""
    document = json.loads(resource.secrets["options"])
    if not isinstance(document, dict):  # checked when declared: kept for programs that skip it
        raise ValueError("options must be a JSON object")
    return document


def _secret_strings(document: Any) -> tuple[str, ...]:
    """Every string in the options document, to be masked in any message about the request."""
    if isinstance(document, dict):
        return tuple(s for v in document.values() for s in _secret_strings(v))
    if isinstance(document, list):
        return tuple(s for v in document for s in _secret_strings(v))
    return (document,) if isinstance(document, str) and len(document) >= 4 else ()


class IntegrationKind(ReadsById, FreshReads, Kind):
    name = "integration"
    spec_model = IntegrationSpec
    identity_fields = ("name",)
    list_page_size = LIST_PAGE_SIZE
    identified_by_id = True
    observability = Observability.SECRETS_WRITE_ONLY
    field_rules = {
        "type": FieldRule(replace=True),
        "options": FieldRule(sensitive=True),
    }

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return ("integrations",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def declare(self, name: str, raw: Any, source: SourceLocation | None, base_dir: str = ".",
                secret_values: Any = None) -> Resource:
        """The options must be a JSON object: said before any request, without the value."""
        resource = super().declare(name, raw, source, base_dir, secret_values)
        value = resource.secrets.get("options")
        if value is not None:
            try:
                document = json.loads(value)
            except ValueError:
                document = None
            if not isinstance(document, dict):
                raise ValueError(f"{self.name}.{name}.options: expected the options as a JSON object such as "
                                 '{"key": "...", "value": "..."}; found text that is not one (not shown: it is secret)')
        return resource

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        api = client(ctx)
        rows = ctx.cached("dataloop:integrations", lambda: api.list_integrations(api.org_id()))
        return self.lives(ctx, scope, rows)

    def fetch_one(self, ctx: Context, platform_id: str) -> dict[str, Any]:
        return client(ctx).get_integration(platform_id)

    def project_of(self, row: Mapping[str, Any]) -> Any:
        return None

    def lives(self, ctx: Context, scope: Any, rows: builtins.list[dict[str, Any]]) -> builtins.list[LiveObject]:
        return [LiveObject(kind=self.name, identity=(row["name"],), fields={"name": row["name"], "type": row.get("type")},
                           platform_id=row["id"])
                for row in rows if isinstance(row, dict) and row.get("id") and isinstance(row.get("name"), str)]

    def create(self, ctx: Context, resource: Resource) -> Created:
        api = client(ctx)
        options = options_of(resource)
        created = api.create_integration(api.org_id(), resource.spec["type"], resource.spec["name"], options,
                                         secret_values=_secret_strings(options))
        forget(ctx, "integrations")
        return Created(platform_id=str(created["id"]))

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        api = client(ctx)
        org = api.org_id()
        if "name" in changed:
            api.rename_integration(org, live.platform_id, resource.spec["name"])
        if "options" in changed and "options" in resource.secrets:
            options = options_of(resource)
            api.set_integration_options(org, live.platform_id, resource.spec["type"], options,
                                        secret_values=_secret_strings(options))
        forget(ctx, "integrations")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is not None:
            api = client(ctx)
            ignore_missing(lambda: api.delete_integration(api.org_id(), platform_id))
        forget(ctx, "integrations")


def integration_ids(ctx: Context) -> dict[str, list[str]]:
    """Integration name -> ids, from the run's one listing (services name their secrets)."""
    out: dict[str, list[str]] = {}
    for live in IntegrationKind().list(ctx, None):
        out.setdefault(live.identity[0], []).append(str(live.platform_id))
    return out


__all__ = ["IntegrationKind", "integration_ids", "options_of"]
