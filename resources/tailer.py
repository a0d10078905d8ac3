"""Tailer resources for Pulumi programs, one class per kind (configuration type) the CLI manages.

    import pulumi
    from platforge.pulumi import tailer

    sa = pulumi.Config().require_secret("saJson")
    dev = tailer.Context("ctx_dev", account="000099", environment="DEV", configuration_id="context_dev",
                         gcp_project_id="my-project", doc_md="docs/context.md",
                         parameters={"bucket": {"value": "landing", "type": "string", "resource": "gcs_bucket",
                                                "description": "landing bucket"},
                                     "sa": {"value": sa, "type": "object", "resource": "gcp_credentials_secret",
                                            "description": "the loader's service account"}})
    tailer.StorageToStorage("copy", account="000099", environment="DEV", context=dev,
                            filename_templates=[{"filename_template": "{{FD_DATE}}-orders.csv"}],
                            source={"type": "gcs", "gcp_project_id": "my-project", "gcs_source_bucket": "{{bucket}}",
                                    "gcs_source_prefix": "in", "gcp_credentials_secret": "{{sa}}"},
                            destinations=[{"type": "gcs", "gcs_destination_bucket": "archive",
                                           "gcs_destination_prefix": "out", "gcp_credentials_secret": sa}])

Arguments are the fields of the TOML stack's tables (the authoring JSON, field for field; see each
kind's module under `platforge.provider.tailer.kinds`), validated by the same schemas at
construction and at `check`, before any request. `configuration_id` defaults to the resource's
name. File fields (`doc_md`, STT `ddl_file`, TTS `sql_file`) are paths relative to `base_dir`
(default: the program's directory); a change of a file's content is an update.

**Secrets.** At a secret's natural place (a key ending in `_secret`, a VM `credentials.<file>.content`,
a context parameter whose `resource` is `gcp_credentials_secret`) write the value itself (a Pulumi
secret, or a string: it is made secret), or give it in `secret_values={"source.gcp_credentials_secret":
...}`, keyed by the same dotted path; a `{ from_env }`/`{ from_file }` reference is read by the
provider. All of them travel as one secret input, `secrets` (a JSON map path -> value), reach the
kind as its `secret_values`, and are sealed afresh with Tailer's public key at every deploy; they
never appear in plain state, outputs or logs. A changed secret is a redeploy (compared by value in
the provider's memory, never by ciphertext).

**Contexts.** `context=` takes the `Context` resource itself (or the name of one declared earlier
in the same program, as a TOML stack names its `[context.<name>]` table). The configuration then
carries the context's declared fields (`context_spec`) and its secrets (`context_secrets`, a
secret) and depends on it: the provider applies the context client-side as `tailer deploy
--context` does, so a change of the context's parameters, or a rotated context secret, redeploys
every configuration deployed with it; a context whose `configuration_id` changes gives its
configurations a new deployed id, which is a replace (deploy the new, archive the old).

**Not observable.** Tailer has no read API: nothing a Pulumi `refresh` could read. A refresh keeps
what was last applied (no request), and `pulumi import` is refused with a message saying so (an
import would have nothing to read back: no field, no secret, not even whether the configuration
exists). To take over a configuration deployed by other means, declare it and run `pulumi up`: the
deploy is an upsert keyed on (account, environment, type, deployed id), so it overwrites it, exactly
as `platforge apply` would (`adopt` is accepted and means nothing more). `platforge drift` shows such
objects as `not_observable` with their last run's status.

**Updates.** A change of `activated` alone is one status call (T7), no deploy; any other change is
one deploy (D8). **Delete** archives the configuration (Tailer has no delete: a soft delete; deploying
it again restores it). Stack config: `platforge:endpoint` (the SDK API proxy), `platforge:opsEndpoint`,
`platforge:securetokenUrl`, `platforge:publicKeyFile`, `platforge:projectProfile`, and the secret
`platforge:refreshToken` + `platforge:firebaseApiKey` (or `platforge:idToken`): the `[platform]`
table's fields under camelCase names; credentials stay out of state.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult
from pulumi.dynamic import Resource as DynamicResource
from pydantic import ValidationError

from ..core.apply import Applier, ApplyOptions
from ..core.errors import ApplyError, PlanError
from ..core.model import ObjectRef, Op, Resource, SourceLocation
from ..core.plan import Target, make_plan
from ..core.policy import Policy
from ..core.secrets import SecretUnavailable
from ..core.state import MemoryStateBackend, ResourceState, State
from ..provider import get_platform
from .base import LEGACY_TYPE, PlatforgeResource, known, provider_for, register_provider
from .dynamic import PROVIDER_KEY, UNKNOWN, KindProvider, describe_errors, plain

Input = Any  # pulumi.Input[...] of the documented type

PLATFORM = "tailer"
#: Where a secret given by the program stands in the declaration (its value is in `secrets`).
FROM_PROGRAM = {"from_program": "secret"}
PLACEHOLDER = {"from_env": "PLATFORGE_PROGRAM_SUPPLIED_SECRET"}
#: Inputs of the classes that are no field of a kind's schema.
EXTRA_INPUTS = ("base_dir", "context_spec", "context_secrets", "adopt")
#: Outputs the provider adds: what was last applied (the state the CLI keeps in its state file).
PROVIDER_OUTPUTS = ("platform_id", "revision", "deployed_id", "applied", "applied_secrets")
SECRET_OUTPUTS = ("secrets", "context_secrets", "applied_secrets")
IMPORT_REFUSED = ("Tailer cannot show a deployed configuration (it has no read API), so there is nothing to "
                  "import: no field, no secret, not even whether it exists. Declare the {kind} and run `pulumi "
                  "up` instead: the deploy is an upsert keyed on account, environment, type and id, so it takes "
                  "the configuration over (it overwrites it), as `platforge apply` does")


def _unknown(value: Any) -> bool:
    if plain(value) == UNKNOWN or type(value).__name__ == "Unknown":
        return True
    if isinstance(value, Mapping):
        return any(_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_unknown(v) for v in value)
    return False


def _is_file_entry(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"file", "sha256"}


def _as_declared(value: Any) -> Any:
    """A copy (Outputs kept as they are), with a stack's comparable form back to what the stack
    wrote: `{file, sha256}` -> the path."""
    if _is_file_entry(value):
        return value["file"]
    if isinstance(value, Mapping):
        return {k: _as_declared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_declared(v) for v in value]
    return value


def _with_placeholders(raw: Any, paths: list[str]) -> Any:
    """The declaration as validation sees it: each secret the program holds is a reference."""
    from platforge.provider.tailer.kinds.common import _path_of, set_at

    raw = copy.deepcopy(raw)
    for text in paths:
        path = _path_of(raw, text)
        if path is not None:
            set_at(raw, path, dict(PLACEHOLDER))
    return raw


class TailerProvider(KindProvider):
    """The provider of every Tailer kind. The generic provider reads live state after each write
    and for a refresh; Tailer has none to read, so this one keeps in its outputs what the CLI keeps
    in its state file (`applied`: the declaration as deployed, context and deployed id included;
    `applied_secrets`: its secret values, a secret output; `platform_id`: the deployed id) and plans
    each change through the core exactly as `platforge plan` plans it from that state.

    Pickled by reference with the generic provider's state `(platform, kind)`: no client, no
    credential."""

    # ---- declarations ------------------------------------------------------------------

    def _declare(self, props: Mapping[str, Any]) -> tuple[Resource, Resource | None]:
        """(the declaration, the context it names) from Pulumi inputs."""
        kind = self._kind
        p = {k: plain(v) for k, v in props.items() if k != PROVIDER_KEY and v is not None}
        base = str(p.pop("base_dir", None) or ".")
        context_spec = p.pop("context_spec", None)
        context_secrets = p.pop("context_secrets", None)
        for name in (*EXTRA_INPUTS, *PROVIDER_OUTPUTS):
            p.pop(name, None)
        secrets = p.pop("secrets", None)
        given = {"secrets": secrets} if isinstance(secrets, str) else {}
        if self._connection is not None:
            for key, value in get_platform(PLATFORM).declaration_defaults(kind, self._connection.config).items():
                p.setdefault(key, value)
        name = str(p.get("configuration_id") or "unnamed")
        source = SourceLocation(str(Path(base) / f"<pulumi {kind.name} {name}>"))
        try:
            resource = kind.declare(name, p, source, base, secret_values=given)
        except SecretUnavailable as exc:
            raise ValueError(str(exc)) from None
        context = None
        if isinstance(context_spec, Mapping) and p.get("context"):
            spec = dict(context_spec)
            context_base = str(spec.pop("base_dir", None) or base)
            ctx_given = {"secrets": context_secrets} if isinstance(context_secrets, str) else {}
            context_kind = get_platform(PLATFORM).kinds["context"]
            try:
                context = context_kind.declare(str(p["context"]), spec, SourceLocation(
                    str(Path(context_base) / f"<pulumi context {p['context']}>")), context_base, secret_values=ctx_given)
            except SecretUnavailable as exc:
                raise ValueError(str(exc)) from None
        return resource, context

    def _held(self, olds: Mapping[str, Any]) -> tuple[ResourceState, Resource] | None:
        """What the outputs say was last applied: the state entry the CLI would hold, and the
        declaration (with its secrets) as deployed; None when the outputs hold none."""
        applied = plain(olds.get("applied"))
        if not isinstance(applied, Mapping):
            return None
        kind = self._kind
        held_secrets = plain(olds.get("applied_secrets"))
        secrets = dict(held_secrets) if isinstance(held_secrets, Mapping) else {}
        identity = tuple(applied[f] for f in kind.identity_fields)
        resource = Resource(kind=kind.name, name=str(applied["configuration_id"]), spec=dict(applied),
                            identity=identity, secrets=secrets)
        entry = ResourceState(kind=kind.name, identity=list(identity), platform_id=plain(olds.get("platform_id")),
                              applied=dict(applied))
        return entry, resource

    def _plan(self, resource: Resource, context: Resource | None, held: tuple[ResourceState, Resource] | None):
        conn = self._conn()
        ctx = conn.context({}, [resource, *([context] if context is not None else [])])
        state = State()
        if held is not None:
            entry, old = held
            fingerprints = {k: ctx.fingerprinter(v) for k, v in old.secrets.items() if k in self._kind.sensitive_fields}
            state.resources[resource.address] = entry.model_copy(update={"fingerprints": fingerprints})
        target = Target(platform=PLATFORM, endpoint=conn.endpoint, environment=conn.config.scope(), stack="pulumi")
        try:
            plan = make_plan(conn.platform, ctx, target, [resource], state, policy=Policy.build())
        except PlanError as exc:
            raise ValueError(str(exc)) from None
        return ctx, state, plan

    def _apply(self, resource: Resource, context: Resource | None,  # type: ignore[override]
               held: tuple[ResourceState, Resource] | None) -> tuple[ResourceState, dict[str, str]]:
        """Plan and apply this one configuration through the core, as `platforge apply` does:
        the state entry it leaves, and the secret values deployed."""
        ctx, state, plan = self._plan(resource, context, held)
        conn = self._conn()
        try:
            Applier(conn.platform, ctx, MemoryStateBackend(conn.key), ApplyOptions(parallelism=1)).apply(
                plan, [resource], state)
        except ApplyError as exc:
            detail = "; ".join(f"{address}: {message}" for address, message in exc.failures)
            raise RuntimeError(f"{exc}: {detail}") from None
        entry = state.resources.get(resource.address)
        if entry is None:
            raise RuntimeError(f"{self.kind} {'/'.join(map(str, resource.identity))}: the deploy left no state")
        desired = self._kind.desired(ctx, resource)
        return entry, dict(desired.secrets)

    def _outputs_of(self, news: Mapping[str, Any], entry: ResourceState, secrets: Mapping[str, str]) -> dict[str, Any]:
        outs = {k: v for k, v in news.items() if k != PROVIDER_KEY}
        outs.update(platform_id=entry.platform_id, revision=entry.revision,
                    deployed_id=entry.applied.get("deployed_id"), applied=dict(entry.applied),
                    applied_secrets=dict(secrets))
        return outs

    # ---- the dynamic provider protocol -------------------------------------------------

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """The same checks as the stack's, before any request; values still unknown (a preview)
        are left to the `up` that knows them. No failure echoes a secret."""
        inputs = {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in news.items()}
        if any(_unknown(v) for k, v in news.items() if k != PROVIDER_KEY):
            return CheckResult(inputs, [])
        failures: list[CheckFailure] = []
        try:
            self._declare(news)
        except ValidationError as exc:
            for err in exc.errors():
                loc = [str(x) for x in err.get("loc", ())]
                failures.append(CheckFailure(loc[0] if loc else "",
                                             describe_errors(self._kind, [err]).removeprefix(f"invalid {self.kind}: ")))
        except ValueError as exc:
            failures.append(CheckFailure("", str(exc)))
        if failures:
            inputs = {k: v for k, v in inputs.items() if k not in SECRET_OUTPUTS}
        return CheckResult(inputs, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        kind = self._kind
        unknown = sorted(k for k, v in news.items() if k != PROVIDER_KEY and _unknown(v))
        if unknown:
            replaces = [k for k in unknown if k in kind.identity_fields or k in ("context", "context_spec")]
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=False)
        resource, context = self._declare(news)
        held = self._held(olds)
        if held is None:  # outputs this version cannot read: an update deploys from the program
            return DiffResult(changes=True, replaces=[], delete_before_replace=False)
        entry, _ = held
        moved = [f for i, f in enumerate(kind.identity_fields) if str(entry.identity[i]) != str(resource.identity[i])]
        if moved:  # another configuration: the new one is deployed, then the old one archived
            return DiffResult(changes=True, replaces=moved, delete_before_replace=False)
        _, _, plan = self._plan(resource, context, held)
        (action,) = plan.actions
        if action.op is Op.NOOP:
            return DiffResult(changes=False, replaces=[], delete_before_replace=False)
        replaces = sorted({"context" if c.path.split(".")[0] == "deployed_id" else c.path.split(".")[0]
                           for c in action.changes if c.forces_replace})
        return DiffResult(changes=True, replaces=replaces if action.op is Op.REPLACE else [],
                          delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        resource, context = self._declare(props)
        entry, secrets = self._apply(resource, context, None)
        return CreateResult(str(entry.platform_id), self._outputs_of(props, entry, secrets))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        resource, context = self._declare(news)
        entry, secrets = self._apply(resource, context, self._held(olds))
        return UpdateResult(self._outputs_of(news, entry, secrets))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """A refresh keeps what was last applied (nothing can be read: no request is made); an
        import, which has nothing but the id, is refused."""
        if self._held(props) is None:
            raise ValueError(f"cannot import {self.kind} {id_!r}: " + IMPORT_REFUSED.format(kind=self.kind))
        inputs = {k: v for k, v in props.items() if k not in PROVIDER_OUTPUTS}
        return ReadResult(id_, dict(props), inputs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """An archive (T7 `activated: false, archived: true`); one already gone is a success."""
        kind = self._kind
        held = self._held(props)
        if held is not None:
            identity, platform_id = tuple(held[0].identity), held[0].platform_id
        else:
            identity = tuple(plain(props.get(f)) for f in kind.identity_fields)
            platform_id = plain(props.get("platform_id")) or id_
        kind.delete(self._conn().context(), ObjectRef(identity, platform_id), None)


for _kind_name in get_platform(PLATFORM).kinds:
    register_provider(TailerProvider(PLATFORM, _kind_name))

#: Contexts declared in this program, by table name: what `context="<name>"` finds.
_CONTEXTS: dict[str, Context] = {}


class TailerResource(PlatforgeResource):
    """A Tailer configuration. See the module's documentation."""

    platform: ClassVar[str] = PLATFORM
    #: `declare_stack` hands over the directory of the stack file the table is in (files and
    #: `from_file` references are relative to it).
    takes_base_dir: ClassVar[bool] = True

    platform_id: pulumi.Output[Any]
    deployed_id: pulumi.Output[str]
    configuration_id: pulumi.Output[str]

    def __init__(self, resource_name: str, *, context: Input = None, secret_values: Mapping[str, Input] | None = None,
                 secrets: Input = None, base_dir: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None, **fields: Input) -> None:
        from platforge.provider.tailer.kinds.common import dotted, get_at, secret_positions, set_at

        kind = get_platform(PLATFORM).kinds[self.kind]
        model_fields = kind.spec_model.model_fields
        aliases = {f.alias: n for n, f in model_fields.items() if f.alias}
        unknown = sorted(k for k in fields if k not in model_fields and k not in aliases)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected field(s) {', '.join(unknown)} (fields of "
                            f"{kind.name}: {', '.join(sorted(model_fields))})")
        declared = {k: _as_declared(v) for k, v in fields.items() if v is not None}
        declared.setdefault("configuration_id", resource_name)
        extra_opts = pulumi.ResourceOptions()
        context_spec = context_secrets = None
        if context is not None:
            found = context if isinstance(context, Context) else _CONTEXTS.get(str(context))
            if found is None:
                raise ValueError(f"invalid {kind.name}: context {context!r} names no tailer.Context declared earlier "
                                 "in this program (pass the Context resource itself, or declare it first)")
            declared["context"] = found.table_name
            context_spec = found.context_spec
            context_secrets = found.context_secrets
            extra_opts = pulumi.ResourceOptions(depends_on=[found])
        # secrets written at their natural places, or given by path: one secret map
        values: dict[str, Input] = dict(secret_values or {})
        for path in list(secret_positions(declared, kind.configuration_type)):
            value = get_at(declared, path)
            if isinstance(value, (str, pulumi.Output)) and not (isinstance(value, str) and value.startswith("{{")):
                values[dotted(path)] = value
                set_at(declared, path, dict(FROM_PROGRAM))
        for text in (secret_values or {}):
            from platforge.provider.tailer.kinds.common import _path_of

            path = _path_of(declared, text)
            if path is None:
                raise ValueError(f"invalid {kind.name}: secret_values: {text!r} names no field of the declaration")
            set_at(declared, path, dict(FROM_PROGRAM))
        secret_map = _secret_map(secrets, values)
        self._validate(kind, {**declared, **({"secrets": secret_map} if secret_map is not None else {})},
                       sorted(values))
        props: dict[str, Any] = dict(declared)
        if secret_map is not None:
            props["secrets"] = pulumi.Output.secret(secret_map)
        if base_dir is not None:
            props["base_dir"] = str(base_dir)
        if context_spec is not None:
            props["context_spec"] = context_spec
        if context_secrets is not None:
            props["context_secrets"] = pulumi.Output.secret(context_secrets)
        for name in PROVIDER_OUTPUTS:
            props[name] = None
        self._declared_props = props
        self._base_dir = str(Path(str(base_dir)).resolve()) if isinstance(base_dir, str) else None
        own = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=LEGACY_TYPE)],
                                     additional_secret_outputs=list(SECRET_OUTPUTS))
        merged = pulumi.ResourceOptions.merge(pulumi.ResourceOptions.merge(opts or pulumi.ResourceOptions(),
                                                                           extra_opts), own)
        DynamicResource.__init__(self, provider_for(PLATFORM, self.kind), resource_name, props, merged)

    def _validate(self, kind: Any, props: Mapping[str, Any], given: list[str] | None = None) -> None:  # type: ignore[override]
        """Fail at construction, with the field named, when a known value is invalid (never
        echoing a secret). Values still to be resolved, and a `project_profile` the stack config
        may give, are left to `check`."""
        unknown = {k for k, v in props.items() if not known(v)}
        data = {k: v for k, v in props.items() if k not in unknown and k != "secrets"}
        data = _with_placeholders(data, list(given or ()))
        errors = [e for e in kind.validation_errors(str(data.get("configuration_id", "unnamed")), data)
                  if not (e.get("loc") and str(e["loc"][0]) in unknown)
                  and not (tuple(e.get("loc", ())) == ("project_profile",) and e.get("type") == "missing")]
        if errors:
            raise ValueError(describe_errors(kind, errors))


def _secret_map(secrets: Input, values: Mapping[str, Input]) -> Input:
    """One JSON map path -> value (sorted keys) from a `secrets` map (JSON text, as `declare_stack`
    hands it over) and the values found at their places or given by path."""
    if secrets is None and not values:
        return None

    def merge(args: Any) -> str:
        text, found = args
        merged = dict(json.loads(text)) if isinstance(text, str) and text else {}
        merged.update(found or {})
        return json.dumps(merged, sort_keys=True, separators=(",", ":"))

    return pulumi.Output.all(secrets, pulumi.Output.from_input(dict(values))).apply(merge)


class Context(TailerResource, module="tailer", name="Context"):
    """A context: named parameters (and shared secrets, at parameters whose `resource` is
    `gcp_credentials_secret`) that configurations naming it are deployed with. Deployed as
    `<account>_<configuration_id>`."""

    kind = "context"

    def __init__(self, resource_name: str, *, opts: pulumi.ResourceOptions | None = None, **kwargs: Input) -> None:
        super().__init__(resource_name, opts=opts, **kwargs)
        self.table_name = resource_name.removeprefix("context.")
        spec = {k: v for k, v in self._declared_props.items()
                if v is not None and k != PROVIDER_KEY and k not in ("secrets", *EXTRA_INPUTS, *PROVIDER_OUTPUTS)}
        if self._base_dir is not None:
            spec["base_dir"] = self._base_dir
        #: What a configuration deployed with this context carries: its declared fields, its secrets.
        self.context_spec: Input = spec
        self.context_secrets: Input = self._declared_props.get("secrets")
        _CONTEXTS[self.table_name] = self
        _CONTEXTS[resource_name] = self


class StorageToStorage(TailerResource, module="tailer", name="StorageToStorage"):
    """A storage-to-storage copy (GCS, S3, Azure, SFTP), triggered by the Cloud Function the
    deploy sets up (`deploy_cf`, default true)."""

    kind = "storage_to_storage"


class StorageToTables(TailerResource, module="tailer", name="StorageToTables"):
    """A storage-to-tables load (version "2"): GCS files into BigQuery; each table's `ddl_file`
    is read and sent as `ddl_infos`."""

    kind = "storage_to_tables"


class TableToStorage(TailerResource, module="tailer", name="TableToStorage"):
    """A table-to-storage export (version "3"): each task's `sql_file` is read and sent as `sql`."""

    kind = "table_to_storage"


class Workflow(TailerResource, module="tailer", name="Workflow"):
    """A workflow (version "2"): runs `target_dag` when every job of `authorized_job_ids` has
    succeeded."""

    kind = "workflow"


class VmLauncher(TailerResource, module="tailer", name="VmLauncher"):
    """A VM launcher (version "2"): scripts on a GCE VM; credentials files' `content` are secrets."""

    kind = "vm_launcher"


#: Kind name -> class, so a TOML stack can be declared generically (stacks/__main__.py).
RESOURCES: dict[str, type[PlatforgeResource]] = {
    cls.kind: cls for cls in (Context, StorageToStorage, StorageToTables, TableToStorage, Workflow, VmLauncher)
}
