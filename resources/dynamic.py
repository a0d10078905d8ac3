"""One generic Pulumi dynamic provider for every kind of every platform, over the same core as
the CLI: `check` validates with the kind's schema, `diff` uses the core's field diff, and
`create`/`update` run the core's plan and apply for that one resource (level-triggered: the
platform's live state decides, read back after every write).

How the Pulumi engine drives a dynamic provider, and what this one does about it:
- **Pickling.** The engine stores the provider object in state (`__provider`, pickled with dill).
  This one lives in an installed module, so it is pickled by reference, and its pickled state is
  two strings (platform, kind): no client, no credential, no secret. The serialized
  `__provider` is identical across platforge versions, so an upgrade changes nothing.
- **Configuration** comes from stack config in `configure()` (`platforge:endpoint`, secret
  `platforge:token` or `platforge:username`/`platforge:password`, `platforge:environment`); the
  client is built there, under the plugin's lock.
- **Numbers arrive as floats**: whole numbers are turned back into integers before validation.
- **Unknowns during preview** are skipped by `check`; `diff` reports a replace when an identity
  field is unknown.
- **Secrets.** The engine strips secret wrappers before calling the provider, so `check` never
  echoes a value of a sensitive or create-only field (its failure reasons say only what was
  expected and what type was found), and outputs that carry secrets are declared in
  `additional_secret_outputs` by the resource classes.
- **Ownership.** `create` takes over an object that already exists on the platform only with
  the `adopt=True` input (the CLI's consent rule, `--adopt`); the kind's own refusals apply even
  then. `update` is for objects this stack already owns and never counts as a takeover.
- **read()** returns `ReadResult(None, {})` for a gone object. The engine's `import` cannot work
  for dynamic providers (it calls Read with only the id, so the plugin cannot even find the
  provider: pulumi/pulumi#16175); `adopt=True` replaces it.
- **Control inputs** (`membership_owned_elsewhere`, `adopt`) are echoed in the outputs, because a
  refresh's Read sees only the outputs and must read live state the same way `create` did.
- **Values shown once** (a new API key's secret: the core's `ApplyResult.shown_once`) become the
  outputs the resource class names in `shown_once`, which it declares secret. The platform never
  shows them again, so `read` and `update` carry the value Pulumi already holds, and `diff` never
  compares it; platforge itself never stores it. An object taken over with `adopt=True` has none.
- **Resource ids.** A kind's Pulumi id is its natural key, the identity joined with `/`, except
  for kinds whose platform assigns the ids (`Kind.identified_by_id`: Dataiku's scenarios and
  global API keys), whose Pulumi id is the platform id: as in the CLI, they are found again by
  that id, so a change of identity (a scenario's new name, a key's new label) is an update of the
  same object, never a replace (which would lose what the platform holds beyond the kind's fields,
  or issue a new secret). An identity change that moves the object to another scope (a scenario
  to another project) is still a replace. Import and `read` of such kinds take the platform id
  (a scenario's `PROJECT/ID`); resources created before this change keep their natural-key id
  and are found by the `platform_id` output they hold.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
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
from ..core.errors import AdoptionError, ApplyError
from ..core.fingerprint import Fingerprinter, new_key
from ..core.kind import Context, Kind
from ..core.model import LiveObject, ObjectRef, Op, Resource
from ..core.plan import Plan, Target, make_plan
from ..core.policy import Policy
from ..core.schema import describe_found, explain
from ..core.secrets import SecretUnavailable
from ..core.state import MemoryStateBackend, ResourceState, State
from ..provider import PLATFORMS, get_platform

PROVIDER_KEY = "__provider"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN
#: Outputs the provider adds to the inputs it echoes.
OUTPUT_ONLY = ("platform_id", "revision")
#: Inputs that are not part of a kind's schema: whether `create` may take over an object that
#: already exists (`adopt`), and the settings each platform says a one-object plan needs
#: (`object_settings`, e.g. Datatailr's `membership_owned_elsewhere`: groups whose membership
#: another resource owns).
CONTROL_INPUTS = ("adopt", *sorted({name for platform in PLATFORMS
                                   for name in getattr(get_platform(platform), "object_settings", {})}))
#: What a refresh records for a secret changed outside Pulumi (the live value is never copied into
#: state); it differs from any declared value, so the next `up` plans an update that restores it.
SECRET_CHANGED = "(changed outside Pulumi)"


class AdoptionRefused(Exception):
    """`create` found the object already on the platform and may not take it over."""


@dataclass(frozen=True)
class PulumiSettings:
    """The `platforge:*` stack config, read through the platform's own `[platform]` model: each
    field of that model is `platforge:<field>` (or its camelCase spelling), and each credential
    the model names is `platforge:<credential>` (a secret)."""

    values: dict[str, Any]
    credentials: dict[str, str]

    @classmethod
    def from_config(cls, config: Any, platform: Any) -> PulumiSettings:
        model = platform.config_model
        credential_fields = set(model.credential_fields.values())

        def get(key: str) -> Any:
            for spelling in (key, _camel(key)):
                value = config.get(f"platforge:{spelling}")
                if value not in (None, ""):
                    return value
            return None

        values: dict[str, Any] = {}
        for name in model.model_fields:
            if name == "type" or name in credential_fields:
                continue
            value = get(name)
            if value is not None:
                values[name] = _typed(value)
        if "endpoint" not in values:
            raise ValueError("missing stack config platforge:endpoint (pulumi config set platforge:endpoint URL)")
        credentials = {c: str(v) for c in model.credential_fields if (v := get(c)) is not None}
        if not credentials:
            names = " or ".join(f"platforge:{c}" for c in model.credential_fields)
            raise ValueError(f"missing credentials: set the secret stack config {names}")
        return cls(values, credentials)

    def platform_config(self, platform: Any) -> tuple[Any, dict[str, str]]:
        """The platform's `[platform]` model as a stack would declare it, with the credentials
        handed over the way that model names them (variable names), and those variables."""
        model = platform.config_model
        data: dict[str, Any] = {"type": platform.name, **self.values}
        environ: dict[str, str] = {}
        for credential, field_name in model.credential_fields.items():
            if credential in self.credentials:
                variable = f"PLATFORGE_PULUMI_{credential.upper()}"
                data[field_name] = variable
                environ[variable] = self.credentials[credential]
        return model.model_validate(data), environ


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _typed(value: Any) -> Any:
    """Stack config arrives as strings (structured config as JSON): numbers and booleans as such."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, (bool, int, float)):
            return parsed
    return value


class _Connection:
    """What `configure()` builds: the platform, its configuration, a logged-in client and the
    core's context."""

    def __init__(self, platform_name: str, settings: PulumiSettings) -> None:
        self.platform = get_platform(platform_name)
        self.settings = settings
        self.config, environ = settings.platform_config(self.platform)
        self.client = self.platform.connect(self.config, environ=environ)
        self.key = new_key()  # fingerprints only compare values within this process
        self.endpoint = self.platform.endpoint_of(self.client)

    def context(self, extra: Mapping[str, Any] | None = None, resources: Iterable[Resource] = ()) -> Context:
        """The core's context for one object: the platform's settings are made from the objects
        in hand (Pulumi plans one at a time), as the CLI makes them from the whole stack, so a
        kind shows a live object in the form its declaration uses (a rule's resource by id or
        name, a trigger's service by its Dataloop name) through both doors alike."""
        settings = {**self.platform.settings(self.config, list(resources)), **(extra or {})}
        return Context(self.client, Fingerprinter(self.key), settings)


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
        self._connection = _Connection(self.platform, PulumiSettings.from_config(req.config,
                                                                                 get_platform(self.platform)))

    # ---- helpers -----------------------------------------------------------------------

    @property
    def _kind(self) -> Kind:
        return get_platform(self.platform).kinds[self.kind]

    @property
    def _shown_once(self) -> tuple[str, ...]:
        """The outputs this kind's resource class takes values shown once into (and declares
        secret). A value the core shows once under any other name is dropped, never output."""
        from .stack import CLASSES  # the classes import this module: looked up when first needed

        cls = CLASSES.get(self.platform, {}).get(self.kind)
        return tuple(getattr(cls, "shown_once", ()))

    def _without_shown_once(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Old outputs as the schema reads them: values shown once are no field of the kind."""
        shown = self._shown_once
        return {k: v for k, v in props.items() if k not in shown}

    @property
    def _hidden(self) -> frozenset[str]:
        """Fields whose values are secrets: never echoed, never compared in clear."""
        kind = self._kind
        return frozenset(kind.sensitive_fields | kind.create_only_fields)

    def _conn(self) -> _Connection:
        if self._connection is None:
            raise RuntimeError("the platforge provider was not configured: set platforge:endpoint and credentials")
        return self._connection

    def _split(self, props: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, str], dict[str, Any]]:
        """(name, schema inputs, secret values, control inputs) from Pulumi properties."""
        raw = {k: _plain(v) for k, v in props.items()
               if k != PROVIDER_KEY and k not in OUTPUT_ONLY and k not in CONTROL_INPUTS and v is not None}
        control = _control(props)
        secrets = {k: raw.pop(k) for k in list(raw) if k in self._hidden and isinstance(raw[k], str)}
        name = _display_name(self._kind, raw)
        return name, raw, secrets, control

    def _resource(self, props: Mapping[str, Any]) -> tuple[Resource, dict[str, Any]]:
        name, raw, secrets, control = self._split(props)
        try:
            resource = self._kind.declare(name, raw, None, secret_values=secrets)
        except ValidationError as exc:
            raise ValueError(self._describe(exc.errors())) from None
        except SecretUnavailable as exc:
            raise ValueError(str(exc)) from None
        return resource, control

    def _describe(self, errors: list[Mapping[str, Any]]) -> str:
        return describe_errors(self._kind, errors)

    def _settings_extra(self, control: Mapping[str, Any]) -> dict[str, Any]:
        """The per-object settings the platform names, from this object's control inputs."""
        wanted = getattr(get_platform(self.platform), "object_settings", {})
        return {key: sorted(control[name]) for name, (key, _) in wanted.items() if control.get(name)}

    def _outputs(self, resource: Resource, written: tuple[Any, Any, Mapping[str, str]],
                 control: Mapping[str, Any], held: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """`held`: the outputs Pulumi has so far, whose values shown once are kept when this
        write showed none (an update; the platform never shows them again)."""
        platform_id, revision, shown = written
        outs = {k: v for k, v in resource.spec.items() if k not in resource.secrets}
        outs.update(resource.secrets)  # secret outputs: declared in additional_secret_outputs
        outs.update(control)  # a refresh's Read sees only these outputs: it needs them to read alike
        outs["platform_id"] = platform_id
        outs["revision"] = revision  # the version a save produced (a job's), for a later promotion
        for name in self._shown_once:  # secret outputs: the class declares them in additional_secret_outputs
            if shown.get(name) is not None:
                outs[name] = shown[name]
            elif held is not None and held.get(name) is not None:
                outs[name] = held[name]
        return outs

    def _id(self, identity: tuple) -> str:
        return "/".join(str(part) for part in identity)

    def _pulumi_id(self, resource: Resource, platform_id: Any) -> str:
        """The Pulumi id of a new resource: the platform id for kinds with server ids (it never
        changes when the identity does), else the natural key."""
        if self._kind.identified_by_id and platform_id is not None:
            return str(platform_id)
        return self._id(resource.identity)

    def _ref(self, id_: str, props: Mapping[str, Any]) -> ObjectRef:
        """The object a Pulumi id (and the outputs held so far, maybe none: an import) stands for.
        Kinds with server ids: found by platform id (the `platform_id` output, else the id itself,
        so ids recorded before ids were platform ids keep working); others by natural key."""
        kind = self._kind
        if not kind.identified_by_id:
            return ObjectRef(self._identity(id_), props.get("platform_id"))
        held = _plain(props.get("platform_id"))
        identity = tuple(_plain(props.get(f)) for f in kind.identity_fields)
        return ObjectRef(identity, held if held is not None else id_)

    def _follows_id(self, olds: Mapping[str, Any]) -> bool:
        """Whether the old outputs name the object by a platform id that an identity change keeps."""
        return self._kind.identified_by_id and _plain(olds.get("platform_id")) is not None

    def _moves_scope(self, old_identity: tuple, new_identity: tuple) -> bool:
        """An identity change that moves the object to another scope (the partition the platform
        lists it in, e.g. a scenario's project) is another object, even for kinds with server ids."""
        kind = self._kind
        return kind.scope_of(tuple(old_identity)) != kind.scope_of(tuple(new_identity))

    def _identity(self, id_: str) -> tuple:
        parts = id_.split("/", len(self._kind.identity_fields) - 1)
        if len(parts) != len(self._kind.identity_fields):
            raise ValueError(f"invalid {self.kind} id {id_!r}: expected {'/'.join(self._kind.identity_fields)}")
        return tuple(parts)

    def _apply(self, resource: Resource, control: Mapping[str, Any], *,
               owned: bool, platform_id: Any = None) -> tuple[Any, Any, dict[str, str]]:
        """Plan and apply this one resource through the core, exactly as `platforge apply`:
        (platform id, revision, values the platform showed once).

        `owned`: the Pulumi state already holds it (update), so the plan shows an update, never
        an import. Otherwise (create) an object found live is an import, which needs `adopt`.
        `platform_id`: the id Pulumi holds for an owned object of a kind with server ids; the
        core then finds it by that id, so a new identity is an update of the same object."""
        conn = self._conn()
        platform = conn.platform
        ctx = conn.context(self._settings_extra(control), [resource])
        target = Target(platform=platform.name, endpoint=conn.endpoint, environment=conn.config.scope(),
                        stack="pulumi")
        kind = self._kind
        held_id = platform_id if owned and kind.identified_by_id else None
        state = State()
        if owned:
            state.resources[resource.address] = ResourceState(kind=resource.kind, identity=list(resource.identity),
                                                              platform_id=held_id)
        policy = Policy.build(adopt=["*"] if control.get("adopt") is True else [])  # the plan holds this one only
        plan = make_plan(platform, ctx, target, [resource], state, policy=policy)
        self._refuse(plan)
        backend = MemoryStateBackend(conn.key)
        try:
            result = Applier(platform, ctx, backend, ApplyOptions(parallelism=1)).apply(plan, [resource], state)
        except AdoptionError as exc:  # _refuse said it first; kept in case the core refuses more
            raise AdoptionRefused(str(exc)) from None
        except ApplyError as exc:
            detail = "; ".join(f"{address}: {message}" for address, message in exc.failures)
            raise RuntimeError(f"{exc}: {detail}") from None
        shown = dict(result.shown_once.get(resource.address, {}))
        if kind.identified_by_id:  # read back by the id the apply recorded: the identity may be new
            entry = state.resources.get(resource.address)
            written_id = entry.platform_id if entry is not None and entry.platform_id is not None else held_id
            live = kind.read(ctx, ObjectRef(tuple(resource.identity), written_id))
        else:
            live = kind.read(ctx, ObjectRef(tuple(resource.identity)))
        return (None, None, shown) if live is None else (live.platform_id, live.revision, shown)

    def _refuse(self, plan: Plan) -> None:
        """Say, before any write, why this create or update may not happen, in Pulumi's words."""
        for action in plan.actions:
            what = f"{self.kind} {self._id(action.identity)!r}"
            if action.op is Op.IMPORT and action.blocked:
                raise AdoptionRefused(f"{what} already exists on the platform and cannot be taken over, "
                                      f"even with adopt=True: {action.blocked}; nothing was changed")
            if action.op is Op.IMPORT and not action.adopt:
                raise AdoptionRefused(f"{what} already exists on the platform; pass adopt=True to take it over "
                                      "(nothing was changed)")
            if action.blocked and action.op is not Op.NOOP:
                raise AdoptionRefused(f"{what} cannot be written: {action.blocked}; nothing was changed")

    # ---- the dynamic provider protocol -------------------------------------------------

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate with the same schema as the CLI; one failure per field; Unknowns skipped.
        No failure reason carries the value of a secret field."""
        kind = self._kind
        hidden = self._hidden
        known = {k: v for k, v in news.items() if not _is_unknown(v)}
        unknown = {k for k, v in news.items() if _is_unknown(v)}
        name, raw, secrets, control = self._split(known)
        for field_name in unknown:
            raw.pop(field_name, None)
        failures: list[CheckFailure] = [CheckFailure(k, f"{k}: {why}") for k, why in _control_problems(control, self.platform)]
        for field_name in sorted(hidden & set(raw)):  # the Pulumi door takes the secret value itself
            failures.append(CheckFailure(field_name, f"{field_name}: expected the secret value as a string; "
                                                     f"found {_type_of(raw.pop(field_name))}"))
        placeholder = dict(raw)
        for field_name in unknown | set(secrets) | {f.property for f in failures}:
            if field_name in hidden:
                placeholder[field_name] = {"from_env": "PLATFORGE_PROGRAM_SUPPLIED_SECRET"}
        for err in kind.validation_errors(name or "unknown", placeholder):
            loc = [str(p) for p in err.get("loc", ())]
            if loc and loc[0] in unknown:
                continue
            prop = loc[0] if loc else ""
            failures.append(CheckFailure(prop, _reason(kind, err, hidden)))
        inputs = dict(news)
        if failures:  # the engine stops here; nothing secret goes back with the failures
            inputs = {k: v for k, v in inputs.items() if k not in hidden}
        else:
            for key, value in list(inputs.items()):
                if isinstance(value, float) and value.is_integer():
                    inputs[key] = int(value)
        return CheckResult(inputs, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        kind = self._kind
        unknown = sorted(k for k, v in news.items() if _is_unknown(v) and k != PROVIDER_KEY)
        if unknown:
            replaces = [k for k in unknown if k in kind.identity_fields or k in kind.replace_fields]
            if self._follows_id(olds):  # an identity field only replaces if it may move the object
                old_identity = tuple(_plain(olds.get(f)) for f in kind.identity_fields)
                replaces = [k for k in replaces if k not in kind.identity_fields or self._moves_scope(
                    old_identity, tuple(UNKNOWN if f == k else old_identity[i]
                                        for i, f in enumerate(kind.identity_fields)))]
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=bool(replaces))
        new_resource, control = self._resource(news)
        try:
            old_resource, unheld = self._old_resource(olds)
        except ValueError:  # outputs this version cannot read: an update rewrites them from the program
            old_identity = tuple(str(_plain(olds.get(f))) for f in kind.identity_fields)
            if old_identity != tuple(str(p) for p in new_resource.identity) and not (
                    self._follows_id(olds) and not self._moves_scope(
                        tuple(_plain(olds.get(f)) for f in kind.identity_fields), tuple(new_resource.identity))):
                return DiffResult(changes=True, replaces=[f for f in kind.identity_fields
                                                          if str(_plain(olds.get(f))) != str(new_resource.spec.get(f))],
                                  delete_before_replace=False)
            return DiffResult(changes=True, replaces=[], delete_before_replace=False)
        fingerprint = Fingerprinter(self._conn().key if self._connection else new_key())
        desired = {k: fingerprint(v) for k, v in new_resource.secrets.items() if k in kind.sensitive_fields}
        current = {k: fingerprint(v) for k, v in old_resource.secrets.items()
                   if k in kind.sensitive_fields and k not in unheld}
        if unheld & set(desired):  # the state holds no value (read back without it): ask the platform
            current.update({k: v for k, v in self._live_fingerprints(new_resource, control).items() if k in unheld})
        old_fields = kind.normalise_fields(dict(old_resource.spec), self._settings_extra(control))
        old_view = LiveObject(kind=kind.name, identity=old_resource.identity, fields=old_fields)
        changes = diff_resource(kind, new_resource, old_view, desired, current)
        replaces = sorted({c.path.split(".")[0] for c in changes if c.forces_replace})
        renamed = new_resource.identity != old_resource.identity
        if renamed and self._follows_id(olds) and not self._moves_scope(old_resource.identity, new_resource.identity):
            # found again by its platform id, as the CLI does: the same object under a new identity
            replaces = sorted(set(replaces) - set(kind.identity_fields))
            return DiffResult(changes=True, replaces=replaces,
                              delete_before_replace=bool(replaces) and kind.delete_before_replace)
        if renamed:
            replaces = sorted(set(replaces) | {f for f in kind.identity_fields
                                               if old_resource.spec.get(f) != new_resource.spec.get(f)})
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=False)
        return DiffResult(changes=bool(changes), replaces=replaces,
                          delete_before_replace=bool(replaces) and kind.delete_before_replace)

    def _old_resource(self, olds: Mapping[str, Any]) -> tuple[Resource, set[str]]:
        """The resource the old outputs describe, and the sensitive fields they hold no value for
        (an object read back from the platform, whose secrets are never read into state). Keys
        of the kind's comparable form that no field of its schema takes (a rule's `principal`,
        made from `user` or `group`) are left out: the schema would refuse them."""
        fields = self._kind.spec_model.model_fields
        kept = {PROVIDER_KEY, *OUTPUT_ONLY, *CONTROL_INPUTS}
        props = {k: v for k, v in self._without_shown_once(olds).items() if k in fields or k in kept}
        unheld = {k for k in self._kind.sensitive_fields if not isinstance(_plain(props.get(k)), str)}
        for name in unheld:
            props[name] = "(not held)"  # satisfies the schema; never compared
        resource, _ = self._resource(props)
        return resource, unheld

    def _held_resources(self, props: Mapping[str, Any]) -> list[Resource]:
        """The object Pulumi holds, as a declaration (none for an import by id alone)."""
        try:
            return [self._old_resource(props)[0]]
        except ValueError:
            return []

    def _live_fingerprints(self, resource: Resource, control: Mapping[str, Any]) -> dict[str, str]:
        kind = self._kind
        if self._connection is None or not kind.secrets_readable:
            return {}
        ctx = self._conn().context(self._settings_extra(control), [resource])
        live = kind.read(ctx, ObjectRef(tuple(resource.identity)))
        return {} if live is None else dict(kind.fingerprint_live(ctx, live, resource))

    def create(self, props: dict[str, Any]) -> CreateResult:
        resource, control = self._resource(props)
        written = self._apply(resource, control, owned=False)
        return CreateResult(self._pulumi_id(resource, written[0]), self._outputs(resource, written, control))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        resource, control = self._resource(news)
        written = self._apply(resource, control, owned=True, platform_id=_plain(olds.get("platform_id")))
        return UpdateResult(self._outputs(resource, written, control, held=olds))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh (or import) by id: the natural key, the identity joined with `/`, or for kinds
        with server ids the platform id (see `_ref`). The control inputs come from the outputs
        (create and update echo them), so live state is read exactly as `create` read it, and a
        refresh with nothing changed leaves nothing to update."""
        ref = self._ref(id_, props)
        control = _control(props)
        ctx = self._conn().context(self._settings_extra(control), self._held_resources(props))
        live = self._kind.read(ctx, ref)
        if live is None:
            return ReadResult(None, {})
        kind = self._kind
        shown = self._shown_once
        declared = {k for k in props if k not in (PROVIDER_KEY, *OUTPUT_ONLY, *CONTROL_INPUTS, *shown)}
        fields = {k: v for k, v in live.fields.items()
                  if k in kind.identity_fields or k in declared or not declared}
        inputs = {k: v for k, v in fields.items() if v is not None}
        local = {name for name, rule in kind.field_rules.items() if rule.local}
        for name in (*self._hidden, *local):
            if props.get(name) is not None:  # values never read back keep what Pulumi already has
                inputs[name] = props[name]
        inputs.update(control)
        outs = {**inputs, "platform_id": live.platform_id, "revision": live.revision}
        outs.update({k: props[k] for k in shown if props.get(k) is not None})  # never shown again: kept
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
            resource, _ = self._resource(self._without_shown_once(props))
        except ValueError:
            return []
        live_fps = kind.fingerprint_live(ctx, live, resource)
        return sorted(k for k, v in held.items() if k in live_fps and live_fps[k] != ctx.fingerprinter(v))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Idempotent: deleting something already gone succeeds. An object whose declaration, as
        last applied (the outputs), protects it is refused before any write, as `platforge apply
        --prune` refuses it: the program must first apply the protection off."""
        kind = self._kind
        refusal = kind.delete_refusal({k: _plain(v) for k, v in props.items()})
        ref = self._ref(id_, props)
        ctx = self._conn().context()
        live = kind.read(ctx, ref)
        if refusal and live is not None:
            raise DeleteRefused(f"{kind.name} {'/'.join(str(p) for p in live.identity)!r} was not deleted: {refusal}")
        kind.delete(ctx, ref, live)


class DeleteRefused(Exception):
    """A delete the kind refuses while the object's declaration protects it."""


def _control(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(props[k]) for k in CONTROL_INPUTS if props.get(k) is not None and not _is_unknown(props[k])}


def _control_problems(control: Mapping[str, Any], platform: str) -> list[tuple[str, str]]:
    problems = []
    adopt = control.get("adopt")
    if adopt is not None and not isinstance(adopt, bool):
        problems.append(("adopt", f"expected true or false; found {describe_found(adopt)}"))
    for name, (_, expected) in getattr(get_platform(platform), "object_settings", {}).items():
        value = control.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append((name, f"expected {expected}; found {describe_found(value)}"))
    return problems


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


def plain(value: Any) -> Any:
    """A value as the provider's engine hands it over, without Pulumi's secret wrappers (and
    with whole floats as ints): for providers of one platform that read outputs themselves."""
    return _plain(value)


def _type_of(value: Any) -> str:
    """What a secret field was given, by type only: its value, keys or length never show."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    return describe_found(value, hide=True)


def _reason(kind: Kind, err: Mapping[str, Any], hidden: frozenset[str]) -> str:
    """`field: what was expected; what was found`, in the core's plain words (values of secret
    fields never shown)."""
    loc = [str(p) for p in err.get("loc", ())]
    where = ".".join(loc) or "inputs"
    if loc and loc[0] in hidden:
        return f"{where}: invalid value ({_type_of(err.get('input'))})"
    return f"{where}: {explain(kind.spec_model, err, sensitive=hidden)}"


def describe_errors(kind: Kind, errors: list[Mapping[str, Any]]) -> str:
    """`invalid <kind>: ...`, one reason per error (values of secret fields never shown)."""
    hidden = frozenset(kind.sensitive_fields | kind.create_only_fields)
    return f"invalid {kind.name}: " + "; ".join(_reason(kind, err, hidden) for err in errors)
