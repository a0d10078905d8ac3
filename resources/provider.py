"""One generic Pulumi dynamic provider for every kind of every platform, over the same core as
the CLI: `check` validates with the kind's schema, `diff` uses the core's field diff, and
`create`/`update` run the core's plan and apply for that one resource (level-triggered: the
platform's live state decides, read back after every write).

Designed against the dynamic-provider traps (shared/contracts/pulumi_testing.md):
- **Pickling.** The provider lives in an installed module, so dill pickles it by reference, and
  its pickled state is two strings (platform, kind): no client, no credential, no secret. The
  serialized `__provider` is identical across platforge versions, so an upgrade changes nothing.
- **Configuration** comes from stack config in `configure()` (`platforge:endpoint`, secret
  `platforge:token` or `platforge:username`/`platforge:password`, `platforge:environment`); the
  client is built there, under the plugin's lock.
- **Numbers arrive as floats**: inputs are validated (and coerced) by the kind's pydantic schema.
- **Unknowns during preview** are skipped by `check`; `diff` reports a replace when an identity
  field is unknown.
- **read()** returns `ReadResult(None, {})` for a gone object, and returns inputs for refresh and
  import.
- **Secrets** are Pulumi secrets on the way in; outputs that carry them are declared in
  `additional_secret_outputs` by the resource classes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pydantic import ValidationError

from ..core.apply import Applier, ApplyOptions
from ..core.diff import diff_resource
from ..core.errors import ApplyError
from ..core.fingerprint import Fingerprinter, new_key
from ..core.kind import Context, Kind
from ..core.model import LiveObject, Resource
from ..core.plan import Target, make_plan
from ..core.secrets import SecretUnavailable
from ..core.state import MemoryStateBackend, State
from ..provider import get_platform

PROVIDER_KEY = "__provider"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN
#: Outputs the provider adds to the inputs it echoes.
OUTPUT_ONLY = ("platform_id",)
#: Inputs that are not part of a kind's schema: they configure how the provider reads live state.
CONTROL_INPUTS = ("membership_owned_elsewhere",)
#: What a refresh records for a secret changed outside Pulumi (the live value is never copied into
#: state); it differs from any declared value, so the next `up` plans an update that restores it.
SECRET_CHANGED = "(changed outside Pulumi)"


@dataclass(frozen=True)
class PulumiSettings:
    """The `platforge:*` stack config, as the provider reads it."""

    endpoint: str
    environment: str = "dev"
    token: str | None = None
    username: str | None = None
    password: str | None = None
    rate_limit: float | None = None

    @classmethod
    def from_config(cls, config: Any) -> PulumiSettings:
        def get(key: str) -> str | None:
            value = config.get(f"platforge:{key}")
            return None if value in (None, "") else str(value)

        endpoint = get("endpoint")
        if not endpoint:
            raise ValueError("missing stack config platforge:endpoint (pulumi config set platforge:endpoint URL)")
        rate = get("rateLimit")
        return cls(endpoint=endpoint, environment=get("environment") or "dev", token=get("token"),
                   username=get("username"), password=get("password"), rate_limit=float(rate) if rate else None)


class _Connection:
    """What `configure()` builds: the platform, a logged-in client and the core's context."""

    def __init__(self, platform_name: str, settings: PulumiSettings) -> None:
        self.platform = get_platform(platform_name)
        self.settings = settings
        self.client = _connect(self.platform, settings)
        self.key = new_key()  # fingerprints only compare values within this process
        self.endpoint = self.platform.endpoint_of(self.client)

    def context(self, extra: Mapping[str, Any] | None = None) -> Context:
        settings = {"environment": self.settings.environment, **(extra or {})}
        return Context(self.client, Fingerprinter(self.key), settings)


def _connect(platform: Any, settings: PulumiSettings) -> Any:
    """Reuse the platform's own login path, with credentials from stack config (not env)."""
    from types import SimpleNamespace

    variables = {}
    names = SimpleNamespace(endpoint=settings.endpoint, environment=settings.environment,
                            token_env=None, username_env=None, password_env=None, rate_limit=settings.rate_limit)
    if settings.username and settings.password:
        variables = {"PLATFORGE_PULUMI_USERNAME": settings.username, "PLATFORGE_PULUMI_PASSWORD": settings.password}
        names.username_env, names.password_env = "PLATFORGE_PULUMI_USERNAME", "PLATFORGE_PULUMI_PASSWORD"
    elif settings.token:
        variables = {"PLATFORGE_PULUMI_TOKEN": settings.token}
        names.token_env = "PLATFORGE_PULUMI_TOKEN"
    else:
        raise ValueError("missing credentials: set the secret stack config platforge:token, "
                         "or platforge:username and the secret platforge:password")
    return platform.connect(names, environ=variables)


class KindProvider(ResourceProvider):
    """The dynamic provider of one kind. Pickled by reference with state `(platform, kind)`."""

    serialize_as_secret_always = False

    def __init__(self, platform: str, kind: str) -> None:
        super().__init__()
        self.platform = platform
        self.kind = kind
        self._connection: _Connection | None = None
        self._lock = threading.Lock()

    # ---- pickling: only the two names, never a client or a credential ----------------

    def __getstate__(self) -> dict[str, str]:
        return {"platform": self.platform, "kind": self.kind}

    def __setstate__(self, state: Mapping[str, str]) -> None:
        self.platform = state["platform"]
        self.kind = state["kind"]
        self._connection = None
        self._lock = threading.Lock()

    def configure(self, req: ConfigureRequest) -> None:
        self._connection = _Connection(self.platform, PulumiSettings.from_config(req.config))

    # ---- helpers -----------------------------------------------------------------------

    @property
    def _kind(self) -> Kind:
        return get_platform(self.platform).kinds[self.kind]

    def _conn(self) -> _Connection:
        if self._connection is None:
            raise RuntimeError("the platforge provider was not configured: set platforge:endpoint and credentials")
        return self._connection

    def _split(self, props: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, str], dict[str, Any]]:
        """(name, schema inputs, secret values, control inputs) from Pulumi properties."""
        kind = self._kind
        raw = {k: _plain(v) for k, v in props.items()
               if k != PROVIDER_KEY and k not in OUTPUT_ONLY and k not in CONTROL_INPUTS and v is not None}
        control = {k: _plain(props[k]) for k in CONTROL_INPUTS if props.get(k) is not None}
        secrets = {k: raw.pop(k) for k in list(raw) if k in kind.sensitive_fields | kind.create_only_fields
                   and isinstance(raw[k], str)}
        name = _display_name(kind, raw)
        return name, raw, secrets, control

    def _resource(self, props: Mapping[str, Any]) -> tuple[Resource, dict[str, Any]]:
        name, raw, secrets, control = self._split(props)
        try:
            resource = self._kind.declare(name, raw, None, secret_values=secrets)
        except ValidationError as exc:
            raise ValueError(_describe(self.kind, exc.errors())) from None
        except SecretUnavailable as exc:
            raise ValueError(str(exc)) from None
        return resource, control

    def _settings_extra(self, control: Mapping[str, Any]) -> dict[str, Any]:
        owned = control.get("membership_owned_elsewhere")
        return {"datatailr.membership_owned_groups": sorted(owned)} if owned else {}

    def _outputs(self, resource: Resource, platform_id: Any) -> dict[str, Any]:
        outs = {k: v for k, v in resource.spec.items() if k not in resource.secrets}
        outs.update(resource.secrets)  # secret outputs: declared in additional_secret_outputs
        outs["platform_id"] = platform_id
        return outs

    def _id(self, identity: tuple) -> str:
        return "/".join(str(part) for part in identity)

    def _identity(self, id_: str) -> tuple:
        parts = id_.split("/", len(self._kind.identity_fields) - 1)
        if len(parts) != len(self._kind.identity_fields):
            raise ValueError(f"invalid {self.kind} id {id_!r}: expected {'/'.join(self._kind.identity_fields)}")
        return tuple(parts)

    def _apply(self, resource: Resource, control: Mapping[str, Any]) -> Any:
        """Plan and apply this one resource through the core, exactly as `platforge apply`."""
        conn = self._conn()
        platform = conn.platform
        ctx = conn.context(self._settings_extra(control))
        target = Target(platform=platform.name, endpoint=conn.endpoint, environment=conn.settings.environment,
                        stack="pulumi")
        plan = make_plan(platform, ctx, target, [resource], None)
        backend = MemoryStateBackend(conn.key)
        try:
            Applier(platform, ctx, backend, ApplyOptions(parallelism=1)).apply(plan, [resource], State())
        except ApplyError as exc:
            detail = "; ".join(f"{address}: {message}" for address, message in exc.failures)
            raise RuntimeError(f"{exc}: {detail}") from None
        live = self._kind.read(ctx, resource.identity)
        return None if live is None else live.platform_id

    # ---- the dynamic provider protocol -------------------------------------------------

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate with the same schema as the CLI; one failure per field; Unknowns skipped."""
        kind = self._kind
        known = {k: v for k, v in news.items() if not _is_unknown(v)}
        unknown = {k for k, v in news.items() if _is_unknown(v)}
        name, raw, secrets, _ = self._split(known)
        for field_name in unknown:
            raw.pop(field_name, None)
        failures: list[CheckFailure] = []
        placeholder = dict(raw)
        for field_name in unknown | set(secrets):
            if field_name in kind.sensitive_fields | kind.create_only_fields:
                placeholder[field_name] = {"from_env": "PLATFORGE_PROGRAM_SUPPLIED_SECRET"}
        for err in kind.validation_errors(name or "unknown", placeholder):
            loc = [str(p) for p in err.get("loc", ())]
            if loc and loc[0] in unknown:
                continue
            prop = loc[0] if loc else ""
            failures.append(CheckFailure(prop, _reason(err, loc)))
        inputs = dict(news)
        if not failures:
            for key, value in list(inputs.items()):
                if isinstance(value, float) and value.is_integer():
                    inputs[key] = int(value)
        return CheckResult(inputs, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        kind = self._kind
        unknown = sorted(k for k, v in news.items() if _is_unknown(v) and k != PROVIDER_KEY)
        if unknown:
            replaces = [k for k in unknown if k in kind.identity_fields or k in kind.replace_fields]
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=bool(replaces))
        new_resource, _ = self._resource(news)
        old_resource, _ = self._resource(olds)
        fingerprint = Fingerprinter(self._conn().key if self._connection else new_key())
        desired = {k: fingerprint(v) for k, v in new_resource.secrets.items() if k in kind.sensitive_fields}
        current = {k: fingerprint(v) for k, v in old_resource.secrets.items() if k in kind.sensitive_fields}
        old_view = LiveObject(kind=kind.name, identity=old_resource.identity, fields=old_resource.spec)
        changes = diff_resource(kind, new_resource, old_view, desired, current)
        replaces = sorted({c.path.split(".")[0] for c in changes if c.forces_replace})
        if new_resource.identity != old_resource.identity:
            replaces = sorted(set(replaces) | {f for f in kind.identity_fields
                                               if old_resource.spec.get(f) != new_resource.spec.get(f)})
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=False)
        return DiffResult(changes=bool(changes), replaces=replaces,
                          delete_before_replace=bool(replaces) and kind.delete_before_replace)

    def create(self, props: dict[str, Any]) -> CreateResult:
        resource, control = self._resource(props)
        platform_id = self._apply(resource, control)
        return CreateResult(self._id(resource.identity), self._outputs(resource, platform_id))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        resource, control = self._resource(news)
        platform_id = self._apply(resource, control)
        return UpdateResult(self._outputs(resource, platform_id))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh and import by natural key: the id is the identity joined with `/`."""
        identity = self._identity(id_)
        control = {k: _plain(props[k]) for k in CONTROL_INPUTS if props.get(k) is not None}
        ctx = self._conn().context(self._settings_extra(control))
        live = self._kind.read(ctx, identity)
        if live is None:
            return ReadResult(None, {})
        kind = self._kind
        declared = {k for k in props if k not in (PROVIDER_KEY, *OUTPUT_ONLY)}
        fields = {k: v for k, v in live.fields.items()
                  if k in kind.identity_fields or k in declared or not declared}
        inputs = {k: v for k, v in fields.items() if v is not None}
        for name in kind.sensitive_fields | kind.create_only_fields:
            if props.get(name) is not None:  # values never read back keep what Pulumi already has
                inputs[name] = props[name]
        inputs.update(control)
        outs = {**inputs, "platform_id": live.platform_id}
        for name in self._drifted_secrets(ctx, live, props):
            outs[name] = SECRET_CHANGED  # the next `up` diffs it against the declared value and rewrites it
        return ReadResult(id_, outs, inputs)

    def _drifted_secrets(self, ctx: Context, live: LiveObject, props: Mapping[str, Any]) -> list[str]:
        """Sensitive fields whose live value no longer matches the one Pulumi holds, compared by
        keyed fingerprint exactly as `platforge plan`/`drift` do (only where the platform can
        read the value back)."""
        kind = self._kind
        held = {k: _plain(props[k]) for k in kind.sensitive_fields if isinstance(_plain(props.get(k)), str)}
        if not held or not kind.secrets_readable:
            return []
        try:
            resource, _ = self._resource(props)
        except ValueError:
            return []
        live_fps = kind.fingerprint_live(ctx, live, resource)
        return sorted(k for k, v in held.items() if k in live_fps and live_fps[k] != ctx.fingerprinter(v))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Idempotent: deleting something already gone succeeds."""
        identity = self._identity(id_)
        ctx = self._conn().context()
        self._kind.delete(ctx, identity, self._kind.read(ctx, identity))


def _display_name(kind: Kind, raw: Mapping[str, Any]) -> str:
    """The name a stack table would have: the object's own name, or its key; a membership is
    labelled `group/user`."""
    if "name" in kind.spec_model.model_fields:
        return str(raw.get("name", ""))
    if "key" in kind.spec_model.model_fields:
        return str(raw.get("key", ""))
    return "/".join(str(raw.get(f, "")) for f in kind.identity_fields)


def _is_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if type(value).__name__ == "Unknown":
        return True
    if isinstance(value, list):
        return any(_is_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(_is_unknown(v) for v in value.values())
    return False


def _plain(value: Any) -> Any:
    """Pulumi may hand over secret wrappers or floats for ints; the schema coerces the rest."""
    if isinstance(value, dict):
        if value.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270":
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _reason(err: Mapping[str, Any], loc: list[str]) -> str:
    if err.get("type") == "extra_forbidden":
        return f"unknown field {'.'.join(loc)!r} (not part of this kind's schema)"
    found = err.get("input")
    where = ".".join(loc) or "inputs"
    if err.get("type") == "missing":
        return f"{where}: required"
    if isinstance(found, (dict, list)):
        return f"{where}: {err.get('msg')}"
    return f"{where}: {err.get('msg')}; found {found!r}"


def _describe(kind: str, errors: list[Mapping[str, Any]]) -> str:
    parts = [_reason(err, [str(p) for p in err.get("loc", ())]) for err in errors]
    return f"invalid {kind}: " + "; ".join(parts)
