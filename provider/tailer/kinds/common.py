"""What every Tailer kind shares: the common fields (§1.3), secrets at their natural places, the
SDK's transforms (§2.3), context application (§1.5), and deploy / enable / archive / probe.

A Tailer kind is one `configuration_type`. Its object is a deployed configuration: one JSON
document, deployed by D8 (an upsert keyed on account, environment, type and deployed id), never
readable again (no read API: `observability = NONE`, planned from the state). The stack writes
the authoring JSON as TOML, field for field, with these differences, all checked when the stack
is read (before any request):

- **identity**: `account`, `environment`, `configuration_id` (defaults to the table name);
  `configuration_type` is the kind (may be written, and must then match);
- **secrets** are never inline: where the authoring JSON holds a sealed secret (every key ending
  in `_secret`, VM `credentials.<file>.content`, a context parameter's `value` whose `resource`
  is `gcp_credentials_secret`) the stack writes a reference, `{ from_env = "VAR" }` or
  `{ from_file = "path" }`; a plaintext there is an error; a value already sealed (the four hex
  keys) is passed through as written; with `context` set, `"{{name}}"` names a context parameter.
  The kind's one top-level sensitive field, `secrets`, holds path -> reference in the spec, and
  path -> plaintext (as canonical JSON, so one keyed fingerprint) in `Resource.secrets`. A front
  door holding values itself passes them as `secret_values`, keyed by the same paths. Each
  deploy seals every secret afresh (`TailerClient.seal`); plans compare the fingerprint only;
- **files** (`doc_md`, STT `ddl_file` and table `doc_md`, TTS `sql_file`) are paths relative to
  the stack file. Each is read when the stack is read: a missing or unreadable file, a file that
  is not UTF-8, an empty DDL or SQL file, or a DDL file that is not JSON is a stack error at the
  field's line (the SDK prints a warning and sends a default, or fails mid-deploy). The spec
  records `{file, sha256}`, so a change of content plans an update; the deploy reads the file
  again and refuses to send one whose content changed since the plan;
- **platforge's own settings** (never sent as part of the document): `context` (the name of a
  declared `[context.<name>]` whose parameters are applied client-side, as `tailer deploy
  --context` does), `project_profile` (D8's `project_profile`; defaults to the document's
  `gcp_project_id` where the type has one, then to `[platform] project_profile`), `deploy_cf`
  (STS and STT: whether the server deploys the triggering Cloud Function; default true);
- `archived` cannot be declared: an archive is what removing the object does (a soft delete,
  called out in the plan), and a redeploy over an archived configuration restores it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, ValidationError, model_validator
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from platforge.core.errors import PermanentError, PlanError
from platforge.core.kind import Context, Kind, canonicalize
from platforge.core.model import (
    Created,
    LiveObject,
    ObjectRef,
    Observability,
    Ref,
    Resource,
    RunStatus,
    SourceLocation,
)
from platforge.core.rules import FieldRule
from platforge.core.schema import Expect, StrictBool, StrictInt, expects
from platforge.core.secrets import SecretRef, resolve_secret

from ..._kit.client import NotFound
from ..client import TailerClient, is_sealed

# ---- field types ---------------------------------------------------------------------------

Account = Annotated[str, Strict(), StringConstraints(pattern=r"^[0-9]{6}$"), Expect("a 6-digit account, e.g. \"000099\"")]
Environment = Literal["PROD", "PREPROD", "STAGING", "DEV"]
ConfigurationId = Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$"),
                            Expect("a configuration id (letters, digits, '_', '-', '.')")]
Text = Annotated[str, Strict()]
NonEmpty = Annotated[str, Strict(), StringConstraints(min_length=1), Expect("a non-empty string")]
FilePath = Annotated[str, Strict(), StringConstraints(min_length=1), Expect("a path relative to the stack file")]
TEMPLATE = re.compile(r"^\{\{[A-Za-z0-9_]+\}\}$")
Template = Annotated[str, Strict(), StringConstraints(pattern=TEMPLATE.pattern),
                     Expect('"{{name}}", a context parameter')]


class Sealed(BaseModel):
    """A secret already sealed with the platform's public key (passed through as written)."""

    model_config = ConfigDict(extra="forbid")
    cipher_aes: Annotated[str, Strict(), StringConstraints(pattern=r"^[0-9a-fA-F]+$")]
    tag: Annotated[str, Strict(), StringConstraints(pattern=r"^[0-9a-fA-F]+$")]
    ciphertext: Annotated[str, Strict(), StringConstraints(pattern=r"^[0-9a-fA-F]+$")]
    enc_session_key: Annotated[str, Strict(), StringConstraints(pattern=r"^[0-9a-fA-F]+$")]


SECRET_WORDS = ('a secret reference, { from_env = "VARIABLE" } or { from_file = "path" }; a value already sealed '
                '(cipher_aes, tag, ciphertext, enc_session_key); or "{{name}}" with a context')
Secret = Annotated[SecretRef | Sealed | Template, Expect(SECRET_WORDS)]

#: `Context.settings` key: declared context table name -> its Resource (secrets in memory only:
#: a pickled Resource drops them).
CONTEXTS = "tailer.contexts"
#: `Context.settings` key: the `[platform] project_profile`, if any.
PROJECT_PROFILE = "tailer.project_profile"
#: What the SDK sends for a missing `doc_md` (§2.3 #2).
NO_DOC = base64.b64encode(b"No documentation provided.").decode()
#: Fields that are platforge's, never part of the deployed document.
LOCAL_FIELDS = frozenset({"context", "context_data", "secrets", "project_profile", "deploy_cf", "deployed_id"})
RESERVED_PARAMETER = re.compile(r"^(FD_.*|TEMPLATE_CURRENT_DATE)$")


class Spec(BaseModel):
    """Nested objects: the fields §1.6 requires are typed and checked; fields this version does
    not model are passed through as written (the authoring JSON has many optional ones)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class EmailAlert(Spec):
    email_to: NonEmpty


class Alert(Spec):
    email: EmailAlert | None = None


class Monitoring(Spec):
    alert_enabled: StrictBool
    alert_environment: list[Environment]
    alert: Alert | None = None


class CommonSpec(BaseModel):
    """The fields every configuration type has (§1.3), and platforge's own."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    configuration_type_value: ClassVar[str] = ""

    schema_: Text | None = Field(default=None, alias="$schema")
    configuration_type: Text | None = None
    account: Account
    environment: Environment = Field(json_schema_extra=expects("PROD, PREPROD, STAGING or DEV"))
    configuration_id: ConfigurationId
    version: Text | None = None
    activated: StrictBool = True
    short_description: Text | None = None
    doc_md: FilePath | None = None
    max_active_runs: StrictInt | None = Field(default=None, ge=1)
    direct_execution: StrictBool | None = None
    monitoring: Monitoring | None = None
    context: Annotated[str, Strict(), StringConstraints(min_length=1)] | None = Field(
        default=None, json_schema_extra=expects("the name of a declared [context.<name>]"))
    project_profile: NonEmpty | None = None

    @model_validator(mode="after")
    def _type_matches(self) -> CommonSpec:
        expected = self.configuration_type_value
        if self.configuration_type is not None and expected and self.configuration_type != expected:
            raise ValueError(f"configuration_type must be {expected!r} for this kind (or left out)")
        return self


# ---- secrets and files in a document ----------------------------------------------------------

Path_ = tuple[str | int, ...]


def dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def secret_positions(doc: Any, type_: str, path: Path_ = ()) -> Iterator[Path_]:
    """Where a document holds secrets (§1.4): keys ending in `_secret`, VM
    `credentials.<file>.content`, and context parameters whose resource is a credentials secret."""
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            here = (*path, key)
            if isinstance(key, str) and key.endswith("_secret"):
                yield here
                continue
            if type_ == "vm-launcher" and path == () and key == "credentials" and isinstance(value, Mapping):
                for name, entry in value.items():
                    if isinstance(entry, Mapping) and "content" in entry:
                        yield (*here, name, "content")
                continue
            if type_ == "context" and path == () and key == "parameters" and isinstance(value, Mapping):
                for name, entry in value.items():
                    if isinstance(entry, Mapping) and entry.get("resource") == "gcp_credentials_secret" \
                            and "value" in entry:
                        yield (*here, name, "value")
                continue
            yield from secret_positions(value, type_, here)
    elif isinstance(doc, list):
        for index, item in enumerate(doc):
            yield from secret_positions(item, type_, (*path, index))


def get_at(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def set_at(doc: Any, path: Path_, value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


#: What an error says it found where a plaintext secret was written (the value is never shown):
#: the stack's error messages name a found value by its type's name.
_HIDDEN = type("plaintext value (not shown)", (), {})()


def _error(path: Path_, message: str, title: str, found: Any = _HIDDEN) -> ValidationError:
    detail: InitErrorDetails = {"type": PydanticCustomError("value_error", message), "loc": path, "input": found}
    return ValidationError.from_exception_data(title, [detail])


def check_secret_positions(raw: Mapping[str, Any], type_: str, title: str, given: Mapping[str, str]) -> None:
    """An inline plaintext at a secret position is refused before anything else, without
    echoing it (pydantic's own message would)."""
    for path in secret_positions(raw, type_):
        if dotted(path) in given:
            continue
        value = get_at(raw, path)
        if isinstance(value, Mapping) and (set(value) & {"from_env", "from_file"} or is_sealed(value)):
            continue
        if isinstance(value, str) and TEMPLATE.match(value):
            if raw.get("context") is None:
                raise _error(path, f'"{{{{name}}}}" names a context parameter, but this object sets no context; '
                                   f"expected {SECRET_WORDS}", title, value)
            continue
        raise _error(path, "an inline secret is not allowed (the value is not shown); expected " + SECRET_WORDS, title)


def read_text_file(base: Path, declared: str, field: Path_, title: str, *, required_content: bool) -> bytes:
    """The bytes the SDK would send for a file field (UTF-8, universal newlines)."""
    path = Path(declared) if Path(declared).is_absolute() else base / declared
    try:
        with open(path, encoding="utf-8", newline=None) as fh:
            text = fh.read()
    except FileNotFoundError:
        raise _error(field, f"file {declared!r} does not exist (looked for {path})", title, declared) from None
    except UnicodeDecodeError:
        raise _error(field, f"file {declared!r} is not UTF-8 text", title, declared) from None
    except OSError as exc:
        raise _error(field, f"cannot read file {declared!r}: {exc.strerror}", title, declared) from None
    if required_content and not text:
        raise _error(field, f"file {declared!r} is empty", title, declared)
    return text.encode("utf-8")


def file_positions(spec: Mapping[str, Any], type_: str) -> Iterator[tuple[Path_, str]]:
    """(path, role) of every file field §2.3 inlines: `doc`, `ddl` or `sql`."""
    if isinstance(spec.get("doc_md"), str):
        yield ("doc_md",), "doc"
    if type_ == "storage-to-tables":
        for d, destination in enumerate(spec.get("destinations") or []):
            for t, table in enumerate(destination.get("tables") or [] if isinstance(destination, Mapping) else []):
                if not isinstance(table, Mapping):
                    continue
                if table.get("ddl_mode", "file") == "file" and isinstance(table.get("ddl_file"), str):
                    yield ("destinations", d, "tables", t, "ddl_file"), "ddl"
                if isinstance(table.get("doc_md"), str):
                    yield ("destinations", d, "tables", t, "doc_md"), "doc"
    if type_ == "table-to-storage":
        for t, task in enumerate(spec.get("tasks") or []):
            if isinstance(task, Mapping) and isinstance(task.get("sql_file"), str):
                yield ("tasks", t, "sql_file"), "sql"
        if isinstance(spec.get("sql_file"), str):
            yield ("sql_file",), "sql"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def base_dir_of(resource: Resource) -> Path:
    return Path(resource.source.file).parent if resource.source is not None else Path(".")


# ---- context application (tailer_misc.apply_context, §1.5) -----------------------------------

_QUOTED = re.compile(r"\"{{([^{]*)}}\"")
_EMBEDDED = re.compile(r"{{([^{]*)}}")


def apply_context(payload: str, context: Mapping[str, Any]) -> str:
    """The SDK's substitution on JSON text, step for step; an unknown embedded variable is an
    error (the SDK's `apply_context` returns False and the deploy fails)."""
    payload = payload.replace("{{FD_ENV}}", context["environment"])
    payload = payload.replace("{{FD_ACCOUNT}}", context["account"])
    payload = payload.replace("{{FD_CONTEXT}}", context["account"].strip() + "_" + context["configuration_id"].strip())
    parameters = context["parameters"]
    for variable in _QUOTED.findall(payload):
        if variable in parameters and "value" in parameters[variable]:
            payload = payload.replace('"{{' + variable + '}}"',
                                      json.dumps(parameters[variable]["value"], indent=4, ensure_ascii=False))
    for variable in _EMBEDDED.findall(payload):
        if variable.startswith("FD_") or variable.strip() == "TEMPLATE_CURRENT_DATE":
            continue
        if variable not in parameters:
            raise ValueError(f"the context has no parameter {variable!r}")
        if parameters[variable].get("type") in ("string", "integer", "float"):
            value = json.dumps(parameters[variable]["value"], indent=4, ensure_ascii=False).replace('"', "")
        else:
            value = "VARIABLE_TYPE_NOT_SUPPORTED_PLEASE_CHECK_CONTEXT"
        payload = payload.replace("{{" + variable + "}}", value)
    return payload


# ---- the kind --------------------------------------------------------------------------------


def client_of(ctx: Context) -> TailerClient:
    return ctx.client  # type: ignore[no-any-return]


ARCHIVE_NOTE = ("Tailer has no delete: the configuration is archived (deactivated and hidden from Studio); only a "
                "super-administrator can restore it, and deploying the same configuration again brings it back")


class TailerKind(Kind):
    """One configuration type, deployed by D8 and never read back."""

    configuration_type: ClassVar[str]
    spec_model: ClassVar[type[CommonSpec]]
    identity_fields = ("account", "environment", "configuration_id")
    observability = Observability.NONE
    delete_before_replace = False
    delete_verb = "archive"
    delete_note = ARCHIVE_NOTE
    list_page_size = None
    #: Whether D8's `deploy_cf` applies (STS, STT: the server deploys the triggering function).
    has_cloud_function: ClassVar[bool] = False
    #: Whether the document has a top-level `gcp_project_id` (the default project profile).
    has_project: ClassVar[bool] = False
    settings_used = frozenset({CONTEXTS, PROJECT_PROFILE})
    field_rules = {
        "secrets": FieldRule(sensitive=True),
        # The deployed id changes with the context applied (§1.2): a new configuration, and the
        # old one archived after it is deployed.
        "deployed_id": FieldRule(replace=True),
        "context_data": FieldRule(document=True),
    }

    # ---- declaration -----------------------------------------------------------------

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("configuration_id", name)
        return raw

    def declare(self, name: str, raw: Mapping[str, Any], source: SourceLocation | None, base_dir: str = ".",
                secret_values: Mapping[str, str] | None = None) -> Resource:
        raw = self.prepare(name, _copy(dict(raw)))
        given = dict(secret_values or {})
        if "secrets" in given:  # the sensitive field itself: a JSON map of path -> value
            given.update(json.loads(given.pop("secrets")))
        title = self.spec_model.__name__
        for path_text in given:  # a front door's values stand where the references would
            path = _path_of(raw, path_text)
            if path is not None:
                set_at(raw, path, {"from_env": "PLATFORGE_PROGRAM_SUPPLIED_SECRET"})
        check_secret_positions(raw, self.configuration_type, title, given)
        model = self.spec_model.model_validate(raw)
        spec: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
        spec.pop("configuration_type", None)
        spec["activated"] = model.activated
        for field_name in self.identity_fields:
            spec[field_name] = getattr(model, field_name)
        if self.has_cloud_function:
            spec["deploy_cf"] = model.model_dump(include={"deploy_cf"})["deploy_cf"]
        # secrets: references stay (as descriptions), values go to Resource.secrets
        plaintexts: dict[str, str] = {}
        described: dict[str, Any] = {}
        for path in list(secret_positions(spec, self.configuration_type)):
            key = dotted(path)
            value = get_at(spec, path)
            if key in given:
                plaintexts[key] = given[key]
                described[key] = {"from_program": "secret"}
                set_at(spec, path, {"from_program": "secret"})
            elif isinstance(value, Mapping) and not is_sealed(value) and ("from_env" in value or "from_file" in value):
                ref = SecretRef.model_validate(value)
                plaintexts[key] = resolve_secret(ref, base_dir, f"{self.name}.{name}.{key}")
                described[key] = ref.describe()
                set_at(spec, path, ref.describe())
        # files: read now (a missing one is an error at its line), recorded by content digest
        base = Path(source.file).parent if source is not None else Path(base_dir)
        for path, role in list(file_positions(spec, self.configuration_type)):
            declared = get_at(spec, path)
            data = read_text_file(base, declared, path, title, required_content=role != "doc")
            if role == "ddl":
                try:
                    json.loads(data)
                except ValueError:
                    raise _error(path, f"DDL file {declared!r} is not JSON", title, declared) from None
            set_at(spec, path, {"file": declared, "sha256": digest(data)})
        if described:
            spec["secrets"] = described
        spec = canonicalize(spec)
        secrets = {"secrets": json.dumps(plaintexts, sort_keys=True, separators=(",", ":"))} if plaintexts else {}
        refs = (Ref("context", model.context),) if model.context else ()
        identity = tuple(spec[f] for f in self.identity_fields)
        return Resource(kind=self.name, name=name, spec=spec, identity=identity, secrets=secrets, refs=refs,
                        source=source)

    def validation_errors(self, name: str, raw: Mapping[str, Any]) -> list[ErrorDetails]:
        """As `declare` checks, secrets first (pydantic's own messages would echo a plaintext)."""
        data = self.prepare(name, _copy(dict(raw)))
        try:
            check_secret_positions(data, self.configuration_type, self.spec_model.__name__, {})
            self.spec_model.model_validate(data)
        except ValidationError as exc:
            return exc.errors()
        return []

    def identity_of_name(self, name: str) -> tuple[Any, ...]:
        return (name,)

    # ---- what the deploy will be -------------------------------------------------------

    def desired(self, ctx: Context, resource: Resource) -> Resource:
        """The declaration with what it takes from elsewhere: the context it names (its
        parameters, secrets included, become part of this object: a change there redeploys
        this), the project profile, and the deployed id it will have (§1.2)."""
        spec = dict(resource.spec)
        secrets = dict(resource.secrets)
        profile = spec.get("project_profile") or (spec.get("gcp_project_id") if self.has_project else None) \
            or ctx.settings.get(PROJECT_PROFILE)
        if isinstance(profile, str):
            spec["project_profile"] = profile
        context_name = spec.get("context")
        if context_name:
            context = (ctx.settings.get(CONTEXTS) or {}).get(context_name)
            if context is None:
                raise PlanError(f"{resource.address} ({resource.source}): context {context_name!r} is not declared "
                                f"in this stack: declare [context.{context_name}]")
            data = context_data(context)
            spec["context_data"] = data
            inherited = json.loads(context.secrets.get("secrets", "{}"))
            if inherited:
                own = json.loads(secrets.get("secrets", "{}"))
                own.update({f"context.{k}": v for k, v in inherited.items()})
                secrets["secrets"] = json.dumps(own, sort_keys=True, separators=(",", ":"))
                described = dict(spec.get("secrets") or {})
                described.update({f"context.{k}": v for k, v in (context.spec.get("secrets") or {}).items()})
                spec["secrets"] = canonicalize(described)
            try:  # unknown variables are found now, at plan time, not mid-apply
                self.document(resource, spec, lambda _: {"sealed": True}, check_files=False)
            except ValueError as exc:
                raise PlanError(f"{resource.address} ({resource.source}): applying context {context_name!r}: "
                                f"{exc}") from None
        spec["deployed_id"] = self.deployed_id(spec)
        if spec == resource.spec and secrets == resource.secrets:
            return resource
        return replace(resource, spec=spec, secrets=secrets)

    def deployed_id(self, spec: Mapping[str, Any]) -> str:
        data = spec.get("context_data")
        if isinstance(data, Mapping):
            return f"{spec['account'].strip()}_{data['configuration_id'].strip()}_{spec['configuration_id'].strip()}"
        return str(spec["configuration_id"])

    def document(self, resource: Resource, spec: Mapping[str, Any], sealer: Any, check_files: bool = True) -> dict[str, Any]:
        """The `resource` D8 sends, before `client_type`/`client_version`: the SDK's transforms
        (§2.3) in the SDK's order. `sealer(plaintext)` seals one secret."""
        plaintexts: dict[str, str] = json.loads(resource.secrets.get("secrets", "{}"))
        doc: dict[str, Any] = {k: _copy(v) for k, v in spec.items() if k not in LOCAL_FIELDS}
        doc["configuration_type"] = self.configuration_type
        if not isinstance(doc.get("direct_execution"), bool):  # §2.3 #1
            doc["direct_execution"] = True
        for path in secret_positions(doc, self.configuration_type):
            key = dotted(path)
            if key in plaintexts:
                set_at(doc, path, sealer(plaintexts[key]))
        self._inline_files(doc, base_dir_of(resource), check_files)
        if "doc_md" not in doc:
            doc["doc_md"] = NO_DOC
        data = spec.get("context_data")
        if isinstance(data, Mapping):
            doc = self._contextualise(doc, data, plaintexts, sealer)
        return doc

    def _inline_files(self, doc: dict[str, Any], base: Path, check: bool) -> None:
        def content(entry: Mapping[str, Any], role: str) -> str:
            if not check:
                return "IA=="
            declared = str(entry["file"])
            path = Path(declared) if Path(declared).is_absolute() else base / declared
            try:
                with open(path, encoding="utf-8", newline=None) as fh:
                    data = fh.read().encode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PermanentError(f"cannot read {declared!r} again: {exc}") from None
            if digest(data) != entry.get("sha256"):
                raise PermanentError(f"file {declared!r} changed since the plan: plan again")
            if role == "doc" and not data:
                return NO_DOC
            return base64.b64encode(data).decode()

        def is_file(value: Any) -> bool:
            return isinstance(value, Mapping) and set(value) == {"file", "sha256"}

        if is_file(doc.get("doc_md")):
            doc["doc_md"] = content(doc["doc_md"], "doc")
        if self.configuration_type == "storage-to-tables":
            for destination in doc.get("destinations") or []:
                for table in destination.get("tables") or []:
                    if is_file(table.get("ddl_file")):
                        entry = table["ddl_file"]
                        table["ddl_file"] = entry["file"]
                        table["ddl_infos"] = content(entry, "ddl")
                    if is_file(table.get("doc_md")):
                        table["doc_md"] = content(table["doc_md"], "doc")
        if self.configuration_type == "table-to-storage":
            for task in doc.get("tasks") or []:
                if is_file(task.get("sql_file")):
                    entry = task["sql_file"]
                    task["sql_file"] = entry["file"]
                    task["sql"] = content(entry, "sql")
            if is_file(doc.get("sql_file")):
                entry = doc["sql_file"]
                doc["sql_file"] = entry["file"]
                doc["sql"] = content(entry, "sql")

    def _contextualise(self, doc: dict[str, Any], data: Mapping[str, Any], plaintexts: Mapping[str, str],
                       sealer: Any) -> dict[str, Any]:
        """`process_configuration_context` (§2.3 #8): TTS SQL first, then the whole JSON text,
        then the id rewritten and the context named."""
        parameters = {}
        for name, parameter in (data.get("parameters") or {}).items():
            parameter = dict(parameter)
            key = f"context.parameters.{name}.value"
            if key in plaintexts:
                parameter["value"] = sealer(plaintexts[key])
            parameters[name] = parameter
        context = {**data, "parameters": parameters}
        if self.configuration_type == "table-to-storage":
            for task in doc.get("tasks") or []:
                if isinstance(task.get("sql"), str):
                    sql = apply_context(base64.b64decode(task["sql"]).decode("utf-8"), context)
                    task["sql"] = base64.b64encode(sql.encode("utf-8")).decode()
            if isinstance(doc.get("sql"), str):
                sql = apply_context(base64.b64decode(doc["sql"]).decode("utf-8"), context)
                doc["sql"] = base64.b64encode(sql.encode("utf-8")).decode()
        try:
            out: dict[str, Any] = json.loads(apply_context(json.dumps(doc, indent=4), context))
        except json.JSONDecodeError as exc:
            raise ValueError(f"the document is not JSON once the context is applied ({exc.msg})") from None
        out["configuration_name"] = out["configuration_id"]
        out["configuration_id"] = (out["account"].strip() + "_" + str(data["configuration_id"]).strip() + "_"
                                   + out["configuration_id"].strip())
        out["context-id"] = str(data["account"]).strip() + "_" + str(data["configuration_id"]).strip()
        out["context-version"] = str(data.get("version") or "1").strip()
        return out

    # ---- writes ------------------------------------------------------------------------

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return []  # never called: the platform cannot list configurations (observability NONE)

    def _deploy(self, ctx: Context, resource: Resource) -> str:
        client = client_of(ctx)
        spec = resource.spec
        profile = spec.get("project_profile")
        if not isinstance(profile, str) or not profile:
            raise PermanentError(f"{resource.address}: no project_profile (declare it, or [platform] project_profile)")
        doc = self.document(resource, spec, client.seal)
        plaintexts = tuple(json.loads(resource.secrets.get("secrets", "{}")).values())
        return client.deploy(doc, project_profile=profile, deploy_cf=bool(spec.get("deploy_cf", False)),
                             secret_values=plaintexts)

    def create(self, ctx: Context, resource: Resource) -> Created:
        return Created(platform_id=self._deploy(ctx, resource))

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        if changed <= {"activated"} and live.platform_id is not None:
            # Enable/disable in place (T7): the document keeps `activated` for a later redeploy.
            self._set_status(ctx, resource.identity, live.platform_id, activated=bool(resource.spec["activated"]),
                             archived=False)
            return
        self._deploy(ctx, resource)

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        """An archive (T7 `activated: false, archived: true`): Tailer has no delete."""
        platform_id = ref.platform_id if ref.platform_id is not None else str(ref.identity[2])
        try:
            self._set_status(ctx, ref.identity, platform_id, activated=False, archived=True)
        except NotFound:
            pass

    def _set_status(self, ctx: Context, identity: tuple[Any, ...], platform_id: Any, *, activated: bool,
                    archived: bool) -> None:
        account, environment, _ = identity
        client_of(ctx).set_status(account=str(account), environment=str(environment),
                                  configuration_type=self.configuration_type, configuration_id=str(platform_id),
                                  activated=activated, archived=archived)

    def probe(self, ctx: Context, ref: ObjectRef) -> RunStatus | None:
        """The alive probe (T3 `get_last_status`, limit 1): the last *run*, not the configuration."""
        account, environment, configuration_id = ref.identity
        run = client_of(ctx).last_run(account=str(account), environment=str(environment),
                                      configuration_type=self.configuration_type,
                                      configuration_id=str(ref.platform_id or configuration_id))
        if run is None:
            return RunStatus(status="never_run")
        return RunStatus(status=run.status, run_id=run.run_id, at=run.at)


def context_data(context: Resource) -> dict[str, Any]:
    """What applying a declared context needs (what D4 `retrieve-context` would answer), with
    secret parameter values as their references (their plaintexts travel as secrets)."""
    spec = context.spec
    return {"account": spec["account"], "configuration_id": spec["configuration_id"],
            "environment": spec["environment"], "version": str(spec.get("version") or "1"),
            "parameters": spec.get("parameters") or {}}


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _path_of(raw: Any, text: str) -> Path_ | None:
    """The path a dotted secret path names in `raw` (list indexes as integers)."""
    path: list[str | int] = []
    node = raw
    parts = text.split(".")
    i = 0
    while i < len(parts):
        if isinstance(node, list) and parts[i].isdigit() and int(parts[i]) < len(node):
            path.append(int(parts[i]))
            node = node[int(parts[i])]
            i += 1
            continue
        if isinstance(node, Mapping):
            for j in range(len(parts), i, -1):  # keys may hold dots (a credentials file name)
                key = ".".join(parts[i:j])
                if key in node:
                    path.append(key)
                    node = node[key]
                    i = j
                    break
            else:
                return None
            continue
        return None
    return tuple(path)


__all__ = [
    "ARCHIVE_NOTE",
    "CONTEXTS",
    "PROJECT_PROFILE",
    "Account",
    "CommonSpec",
    "ConfigurationId",
    "Environment",
    "FilePath",
    "NonEmpty",
    "Secret",
    "Spec",
    "TailerKind",
    "Text",
    "apply_context",
    "context_data",
    "secret_positions",
]
