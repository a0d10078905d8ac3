"""Kind `user`: a DSS user (its login is its identity).

    [user.jdoe]
    display_name = "John Doe"
    email = "jdoe@example.com"
    user_profile = "DESIGNER"              # license-dependent (contract §5.12)
    groups = ["data_team"]                 # authoritative: the stack owns the user's whole group list
    enabled = true
    password = { from_env = "JDOE_PASSWORD" }   # or initial_password (set on create only)

Field rules:
- `initial_password` is create-only, like Datatailr's: read only when the user is created (a plan
  of an existing user needs no such variable), never compared afterwards.
- `password` is write-only: DSS never returns it (contract §1.2 User). It is a secret compared by
  the keyed fingerprint recorded at the last apply (never stored, printed or diffed by value):
  sent on create, and again in the settings document only when the declared value changes
  (a rotation). An LDAP or SSO user declares none.
- `source_type` (LOCAL, LDAP, ...) cannot change in place (§5.12 is contradictory; treated as
  replace-only).
- every other field of the settings document (`userProperties`, `secrets`, `credentials`,
  `preferences`, ...) is written back as it was read.
"""

from __future__ import annotations

from typing import Any

from pydantic import EmailStr, Field, model_validator

from platforge.core.kind import Context, sorted_unique
from platforge.core.model import LiveObject, ObjectRef, Observability, Ref, Resource
from platforge.core.rules import Collection, FieldRule
from platforge.core.schema import Name, StrictBool, expects
from platforge.core.secrets import SecretRef

from .common import BUILTIN_GROUPS, DssKind, DssName, Spec, cached, client, fetch, forget, ignore_missing, modified, read_fields

#: Stack field -> document key (the password is handled apart: it is never read back).
FIELDS: dict[str, str] = {
    "login": "login", "display_name": "displayName", "email": "email", "source_type": "sourceType",
    "user_profile": "userProfile", "enabled": "enabled", "groups": "groups",
}
#: What DSS's own client sends for what a stack leaves out on create (contract §3.3 "defaults").
CREATE_DEFAULTS = {"displayName": "", "groups": [], "userProfile": "DATA_SCIENTIST", "email": None}
BUILTIN_USERS = frozenset({"admin"})


class UserSpec(Spec):
    login: DssName
    display_name: Name | None = None
    email: EmailStr | None = Field(default=None, json_schema_extra=expects("an email address"))
    source_type: Name = "LOCAL"
    user_profile: Name | None = None
    enabled: StrictBool | None = None
    groups: set[DssName] | None = Field(default=None, json_schema_extra=expects("a list of group names"))
    password: SecretRef | None = None
    initial_password: SecretRef | None = None

    @model_validator(mode="after")
    def _one_password(self) -> UserSpec:
        if self.password is not None and self.initial_password is not None:
            raise ValueError("declare password (kept in step with the stack) or initial_password (set on create "
                             "only), not both")
        return self


class UserKind(DssKind):
    name = "user"
    spec_model = UserSpec
    identity_fields = ("login",)
    field_rules = {
        "password": FieldRule(sensitive=True),
        "initial_password": FieldRule(create_only=True),
        "source_type": FieldRule(replace=True),
        "groups": FieldRule(collection=Collection.SET),
    }
    observability = Observability.SECRETS_WRITE_ONLY
    destructive = True

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("login", name)
        return raw

    def canonical_spec(self, model: UserSpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        spec["source_type"] = model.source_type
        if model.groups is not None:
            spec["groups"] = sorted_unique(model.groups)
        return spec

    def references(self, model: UserSpec) -> list[Ref]:  # type: ignore[override]
        return [Ref("group", g) for g in sorted(model.groups or ()) if g not in BUILTIN_GROUPS]

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return [self._live(u) for u in cached(ctx, "users", client(ctx).list_users)]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        document = fetch(lambda: client(ctx).get_user(ref.identity[0]))
        return None if document is None else self._live({**document, "login": ref.identity[0]})

    def _live(self, document: dict[str, Any]) -> LiveObject:
        fields = read_fields(document, FIELDS)
        if "groups" in fields:
            fields["groups"] = sorted(set(fields["groups"] or ()))
        return LiveObject(kind=self.name, identity=(document["login"],), fields=fields,
                          builtin=document["login"] in BUILTIN_USERS)

    def create(self, ctx: Context, resource: Resource) -> Any:
        spec = resource.spec
        password = resource.secrets.get("password") or resource.secrets.get("initial_password")
        body: dict[str, Any] = {"login": spec["login"], "password": password, **CREATE_DEFAULTS,
                                "sourceType": spec["source_type"]}
        for name in ("display_name", "email", "user_profile", "groups"):
            if name in spec:
                body[FIELDS[name]] = spec[name]
        api = client(ctx)
        secrets = (password,) if password else ()
        api.create_user(body, secret_values=secrets)
        if "enabled" in spec:
            api.put_user(spec["login"], modified(api.get_user(spec["login"]), FIELDS, spec, {"enabled"}))
        forget(ctx, "users")
        return spec["login"]

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        api = client(ctx)
        login = resource.spec["login"]
        document = modified(api.get_user(login), FIELDS, resource.spec, changed)
        secrets: tuple[str, ...] = ()
        if "password" in changed and resource.secrets.get("password"):
            document["password"] = resource.secrets["password"]
            secrets = (resource.secrets["password"],)
        api.put_user(login, document, secret_values=secrets)
        forget(ctx, "users")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        ignore_missing(lambda: client(ctx).delete_user(ref.identity[0]))
        forget(ctx, "users")
