"""The contract between the core and a platform's kinds of object (contract v2).

A kind is one unit, in the style of Terraform's plugin framework: its schema (a pydantic model),
its identity, its field rules as data (`field_rules`), and its list/read/create/update/delete.
The core sees only this contract. Required: `name`, `spec_model`, `identity_fields`, `list`,
`create`, `update`, `delete`. Optional capabilities, each with a safe default:

- **server ids** (`identified_by_id`): the platform assigns ids and names need not be unique;
  owned objects are found again by id (a rename is an update), adoption by name must be
  unambiguous, and `read`/`delete` get the id in their `ObjectRef`;
- **observability**: `FULL`, `SECRETS_WRITE_ONLY`, or `NONE` for deploy-only kinds that are
  planned from the last applied state and never read back;
- **documents** (`document_of`): objects that share one platform document (a settings document
  holding many declared keys) are written one at a time, read-modify-write;
- **versions** (`new_version` field rules and `save`): a save is its own operation and its
  revision is recorded and available to later actions (`OutputRef`);
- **readiness** (`ready`, `ready_timeout`): when an object a write produced is usable, with its
  own time budget; and `classify_error`: whether a failure is temporary or permanent;
- **soft deletes** (`delete_verb`, `delete_note`): a delete that is not a removal (an archive)
  is called out as such by every plan format;
- **alive probe** (`probe`): for a kind the platform cannot show, what drift can still learn
  (the status of the object's last run), shown next to "not observable", never as "in sync";
- **export** (`declaration_of`, `export_scopes`, `export_refusal`): how `platforge export` turns
  a live object back into the declaration that plans nothing against it (adopting a live
  platform into Git); deploy-only kinds are never exportable.
"""

from __future__ import annotations

import builtins
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .fingerprint import Fingerprinter
from .model import (
    Created,
    DocumentWrite,
    FieldChange,
    Identity,
    LiveObject,
    ObjectRef,
    Observability,
    Readiness,
    Ref,
    Resource,
    RunStatus,
    SourceLocation,
)
from .outputs import refs_of
from .rules import NO_RULE, FieldRule, rules_from_sets
from .secrets import SecretRef, resolve_secret

#: Placeholder validated in place of a secret the caller supplies directly (see Kind.declare).
PROGRAM_SECRET = {"from_env": "PLATFORGE_PROGRAM_SUPPLIED_SECRET"}


class Context:
    """What a kind gets to talk to its platform during one plan or apply.

    `cached()` memoises listings within a run, so a kind that needs the user listing to turn
    ids into names (ACLs) does not fetch it again: live state costs one call per kind per page.
    """

    def __init__(self, client: Any, fingerprinter: Fingerprinter, settings: Mapping[str, Any] | None = None) -> None:
        self.client = client
        self.fingerprinter = fingerprinter
        self.settings = dict(settings or {})
        #: Read secret values live to compare fingerprints (drift, `plan --refresh-secrets`).
        #: Otherwise a plan trusts the fingerprints the last apply recorded: a secret read is one
        #: request per secret, and a declared change is still found from the declaration.
        self.refresh_secrets = False
        self._cache: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._loading: dict[str, threading.Lock] = {}

    def cached(self, key: str, load: Callable[[], Any]) -> Any:
        """`load()` once per key and run; threads asking for one key wait for its one load,
        while different keys load side by side (live state is read in parallel)."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            value = load()
            with self._lock:
                self._cache[key] = value
                self._loading.pop(key, None)
            return value

    def peek(self, key: str) -> Any:
        """A cached value if present, without loading it."""
        with self._lock:
            return self._cache.get(key)

    def invalidate_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k.startswith(prefix)]:
                del self._cache[key]

    def invalidate(self, *keys: str) -> None:
        with self._lock:
            if not keys:
                self._cache.clear()
            for key in keys:
                self._cache.pop(key, None)


class Kind(ABC):
    """Base class for one kind of platform object."""

    #: Short name used in stacks and addresses, e.g. "user" -> address "user.alice".
    name: ClassVar[str]
    #: The declared schema; unknown fields are rejected (extra="forbid").
    spec_model: ClassVar[type[BaseModel]]
    #: Spec fields that identify the object on the platform (its natural key).
    identity_fields: ClassVar[tuple[str, ...]]
    #: How each field compares and is written (see platforge.core.rules); unlisted fields are
    #: compared as declared and changed in place.
    field_rules: ClassVar[Mapping[str, FieldRule]] = {}
    #: Derived from field_rules (a kind may also set these directly; they are merged in).
    replace_fields: ClassVar[frozenset[str]] = frozenset()
    sensitive_fields: ClassVar[frozenset[str]] = frozenset()
    create_only_fields: ClassVar[frozenset[str]] = frozenset()
    new_version_fields: ClassVar[frozenset[str]] = frozenset()
    #: Whether a delete deserves prominence in a plan (users and groups).
    destructive: ClassVar[bool] = False
    #: Whether the old object must go before its replacement exists (same natural key). When
    #: False, a replace creates the new object first, also when the identity changes.
    delete_before_replace: ClassVar[bool] = True
    #: What `delete` really does on the platform, as plans say it: "delete", or e.g. "archive"
    #: for a platform with no delete (a soft delete); with `delete_note`, a sentence every plan
    #: format shows with each action that deletes an object of this kind (a delete, a replace).
    delete_verb: ClassVar[str] = "delete"
    delete_note: ClassVar[str | None] = None
    #: What the platform lets this kind read back.
    observability: ClassVar[Observability] = Observability.FULL
    #: The platform assigns ids and names need not be unique: owned objects are found by id.
    identified_by_id: ClassVar[bool] = False
    #: Objects per page of this kind's listing: apply verifies a level's writes with one listing
    #: when it has fewer pages than there are objects to read back. None: the platform does not
    #: page this listing, which is one request whatever its size.
    list_page_size: ClassVar[int | None] = 100
    #: How long a written object may take to become ready (see `ready`), in seconds.
    ready_timeout: ClassVar[float] = 60.0
    #: Names the platform itself provides; they may be referenced without being declared.
    builtin_names: ClassVar[frozenset[str]] = frozenset()
    #: Kinds that share one namespace on the platform (Datatailr's workflows, services and apps
    #: are all jobs named by one name): an object that moves from one such kind to another under
    #: the same identity is replaced, never created beside the one it displaces.
    identity_space: ClassVar[str | None] = None
    #: The kind's listing can cover several scopes in one query (`list_scopes`), as Dataloop's
    #: DQL takes `projectId $in [...]`: a plan then reads it with one listing (and its pages)
    #: instead of one per scope.
    lists_scopes_together: ClassVar[bool] = False
    #: The `Context.settings` keys this kind reads (a front door that plans one object at a
    #: time, like Pulumi, must hand them over per object).
    settings_used: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Keep the rules in one place: the per-rule sets and `field_rules` describe the same
        thing, so each is completed from the other."""
        super().__init_subclass__(**kwargs)
        rules = dict(rules_from_sets(replace=cls.replace_fields, sensitive=cls.sensitive_fields,
                                     create_only=cls.create_only_fields, new_version=cls.new_version_fields))
        rules.update(cls.field_rules)
        cls.field_rules = rules
        cls.replace_fields = frozenset(n for n, r in rules.items() if r.replace)
        cls.sensitive_fields = frozenset(n for n, r in rules.items() if r.sensitive)
        cls.create_only_fields = frozenset(n for n, r in rules.items() if r.create_only)
        cls.new_version_fields = frozenset(n for n, r in rules.items() if r.new_version)

    @classmethod
    def rule(cls, field_name: str) -> FieldRule:
        return cls.field_rules.get(field_name, NO_RULE)

    @property
    def secrets_readable(self) -> bool:
        """Whether live values of sensitive fields can be read back (else only state fingerprints)."""
        return self.observability is Observability.FULL

    @property
    def observable(self) -> bool:
        return self.observability is not Observability.NONE

    # ---- declaration -------------------------------------------------------------------

    def declare(self, name: str, raw: Mapping[str, Any], source: SourceLocation | None, base_dir: str = ".",
                secret_values: Mapping[str, str] | None = None) -> Resource:
        """Validate one declared object and turn it into a Resource (raises pydantic errors).

        Secret fields are references in a stack (`{ from_env = ... }`). A front door that already
        holds the value (a Pulumi secret) passes it in `secret_values` instead; either way the
        value lands only in `Resource.secrets`, never in the spec.
        """
        raw = dict(raw)
        given = dict(secret_values or {})
        for field_name in given:
            raw[field_name] = PROGRAM_SECRET
        model = self.spec_model.model_validate(self.prepare(name, raw))
        spec = self.canonical_spec(model)
        secrets: dict[str, str] = {}
        deferred: dict[str, SecretRef] = {}
        for field_name in self.sensitive_fields | self.create_only_fields:
            ref = getattr(model, field_name, None)
            if field_name in given:
                secrets[field_name] = given[field_name]
                spec[field_name] = {"from_program": "secret"}
            elif isinstance(ref, SecretRef):
                if field_name in self.create_only_fields and field_name not in self.sensitive_fields:
                    deferred[field_name] = ref.located(base_dir)
                else:
                    secrets[field_name] = resolve_secret(ref, base_dir, f"{self.name}.{name}.{field_name}")
                spec[field_name] = ref.describe()
        identity = tuple(spec[f] for f in self.identity_fields)
        refs = [*self.references(model), *(r for r in refs_of(spec))]
        return Resource(
            kind=self.name, name=name, spec=spec, identity=identity, secrets=secrets,
            refs=tuple(dict.fromkeys(refs)), source=source, deferred=deferred,
        )

    def resolve_deferred(self, resource: Resource) -> None:
        """Read the create-only secrets of an object about to be created (raises SecretUnavailable)."""
        for field_name, ref in list(resource.deferred.items()):
            resource.secrets[field_name] = resolve_secret(ref, ".", f"{resource.address}.{field_name}")
            del resource.deferred[field_name]

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        """Fill what the table name implies (e.g. the object's own name) before validation."""
        return raw

    def canonical_spec(self, model: BaseModel) -> dict[str, Any]:
        """The comparable form of what was declared. Only fields the user set are managed:
        an unset optional field is left to the platform (no perpetual diff from defaults)."""
        data: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True)
        for field_name in self.identity_fields:
            data[field_name] = getattr(model, field_name)
        for field_name, rule in self.field_rules.items():
            if rule.local and field_name in type(model).model_fields:
                # platforge's own settings are always recorded: their default is a decision too
                # (a dataset is protected unless declared otherwise), and only a record shows it.
                data.setdefault(field_name, getattr(model, field_name))
        canonical: dict[str, Any] = canonicalize(data)
        return canonical

    def desired(self, ctx: Context, resource: Resource) -> Resource:
        """The declaration in the form live values take, where only the platform can compute it
        (a schedule written as helper fields, compiled by the server into cron). Called when
        planning and before each write; cache what it asks the platform within the run."""
        return resource

    def delete_confirmation(self, ref: ObjectRef, live: LiveObject | None) -> str | None:
        """Why deleting this object needs its own confirmation beyond `--yes` (a job in prod),
        or None. Apply refuses such a delete unless `--confirm-delete ADDRESS` names it."""
        return None

    def delete_refusal(self, spec: Mapping[str, Any]) -> str | None:
        """Why an object must not be deleted while its declaration says so (deletion protection,
        as Terraform providers' `deletion_protection`), or None. `spec` is the declaration last
        applied when pruning (the stack declares the object no more), the declared one when a
        change replaces it. A refusal blocks the plan before apply's first write and no flag
        overrides it: the stack itself must first apply the protection off."""
        return None

    def describe_drift(self, changes: builtins.list[FieldChange]) -> str | None:
        """A kind's own words for what changed on the platform ("prod runs version 2, declared
        3", "job stopped"), or None for the generic description."""
        return None

    def references(self, model: BaseModel) -> Iterable[Ref]:
        """References to other declared objects (by kind and name), for ordering and checks;
        references through an `OutputRef` are added by the core."""
        return ()

    def identity_of_name(self, name: str) -> Identity:
        """The identity of an object a stack refers to by name (a reference or `[external]`)."""
        return (name,)

    def refuse_write(self, ctx: Context, resource: Resource, live: LiveObject, changes: list[FieldChange],
                     adopting: bool) -> str | None:
        """Why bringing the existing object `live` to `resource` (by `changes`; or taking it over,
        when `adopting`) would be unsafe whatever the user consents to, e.g. writing a secret into
        an object whose readers someone else controls; None when it is safe. Checked at plan
        time, before apply's first write."""
        return None

    # ---- live state --------------------------------------------------------------------

    def scopes(self, resources: Iterable[Resource], settings: Mapping[str, Any]) -> set[Any]:
        """Partitions to list (e.g. environments); the default is the whole platform."""
        return {None}

    @abstractmethod
    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        """Every object of this kind in `scope`, read with list calls (one per page)."""

    def list_scopes(self, ctx: Context, scopes: Sequence[Any]) -> builtins.list[LiveObject]:
        """Every object of this kind in all of `scopes`; kinds that set `lists_scopes_together`
        answer with one query (and its pages) instead of one listing per scope."""
        return [live for scope in scopes for live in self.list(ctx, scope)]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        """One object, for read-back after a write and refresh: by id where the kind has ids and
        the id is known, else by identity (the first match)."""
        scope = self.scope_of(ref.identity)
        listed = self.list(ctx, scope)
        if ref.platform_id is not None:
            for live in listed:
                if live.platform_id == ref.platform_id:
                    return live
            if self.identified_by_id:
                return None
        for live in listed:
            if live.identity == ref.identity:
                return live
        return None

    def scope_of(self, identity: Identity) -> Any:
        return None

    def normalise_fields(self, fields: dict[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
        """Fields as this kind compares them under a run's settings (the Datatailr user kind leaves
        out groups whose membership another resource owns); used for live objects and for what a
        front door recorded earlier."""
        return fields

    def fingerprint_live(self, ctx: Context, live: LiveObject, resource: Resource) -> dict[str, str]:
        """Keyed fingerprints of the live secret values a declared resource manages."""
        return dict(live.fingerprints)

    # ---- writes ------------------------------------------------------------------------

    @abstractmethod
    def create(self, ctx: Context, resource: Resource) -> Created | Any:
        """Create the object; return a `Created` (id, revision, values shown once), or just the
        platform id if that is all the platform assigns."""

    @abstractmethod
    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        """Bring `live` to `resource.spec` for the top-level fields in `changed` (in place)."""

    @abstractmethod
    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        """Delete the object; deleting something already gone is not an error."""

    def save(self, ctx: Context, resource: Resource, live: LiveObject) -> Created | Any:
        """Write a new version of a versioned object (a field with `new_version` changed);
        return the `Created` with its revision."""
        raise NotImplementedError(f"kind {self.name!r} has new_version fields but no save()")

    # ---- capabilities with safe defaults ---------------------------------------------

    def document_of(self, ref: ObjectRef) -> Hashable | None:
        """The platform document this object is stored in, when several objects share one (a
        settings document with many keys): writes to one document are serialised, whatever
        the kind writing them (kinds sharing a document answer the same value)."""
        return None

    #: Objects of this kind sharing a document are written together: apply hands a level's
    #: creates, updates and deletes of one document to `write_document` in one call, so the
    #: document is read and written once instead of once per object.
    merges_document_writes: ClassVar[bool] = False

    def write_document(self, ctx: Context, writes: Sequence[DocumentWrite]) -> builtins.list[Any]:
        """Make every write in `writes` (all to one document) with one read-modify-write, and
        answer, in order, what each create would have returned (its platform id; None for the
        others). Called only when `merges_document_writes` is set."""
        raise NotImplementedError

    def ready(self, ctx: Context, live: LiveObject) -> Readiness:
        """Whether the object a write produced is usable yet; polled after the read-back
        matches, within `ready_timeout` seconds. A failure here is permanent."""
        return Readiness.done()

    def probe(self, ctx: Context, ref: ObjectRef) -> RunStatus | None:
        """For a kind the platform cannot show (`Observability.NONE`): the status of the object's
        last run, if the platform can tell (an alive probe; one cheap read). `drift` (never
        `plan`) calls it for every object it reports `not_observable`, in parallel; a failure is
        reported as an unknown status and never fails the drift. None: this kind has no probe."""
        return None

    def classify_error(self, exc: Exception) -> bool | None:
        """True when a failure is temporary (worth deciding again from live state), False when
        permanent, None to leave it to the platform."""
        return None

    # ---- export (adopting a live platform into Git) -------------------------------------

    #: Why objects of this kind cannot be exported into a stack (`platforge export`), or None.
    #: A deploy-only kind (`Observability.NONE`) never can: there is nothing to read back.
    export_refusal: ClassVar[str | None] = None
    #: What export says of the live objects `declaration_of` leaves out (None answers).
    export_omission: ClassVar[str] = "left to the platform by this kind"

    @property
    def not_exportable(self) -> str | None:
        """None when the kind can be exported, else why not (said by `platforge export`)."""
        if not self.observable:
            return "the platform cannot read it back (deploy-only): there is nothing to export"
        return self.export_refusal

    def export_scopes(self, ctx: Context, listed: Mapping[str, builtins.list[LiveObject]]) -> builtins.list[Any]:
        """The scopes export lists this kind in, given what it listed of the kinds before it
        (`listed`, by kind name; a kind comes after the kinds it refers to). The default: the
        scopes a stack with no declaration would list (`scopes`), else the whole platform."""
        return sorted(self.scopes([], ctx.settings) or {None}, key=lambda s: (s is None, str(s)))

    def declaration_of(self, live: LiveObject, settings: Mapping[str, Any]) -> dict[str, Any] | None:
        """The declaration (a stack table's fields) that stands for `live`, shaped so that
        `declare` then `canonical_spec` then a diff against the same `live` is empty; None
        leaves the object out of an export (`export_omission` says why).

        The default: the live fields that are spec fields, without secrets (export writes a
        `{ from_env = ... }` reference for each required one), create-only fields, empty
        values, and values equal to the field's default (except identity fields, always
        written). Override it where a live field's form is not its declared form."""
        model_fields = self.spec_model.model_fields
        hidden = self.sensitive_fields | self.create_only_fields
        out: dict[str, Any] = {}
        for name, value in live.fields.items():
            if name not in model_fields or name in hidden or self.rule(name).local:
                continue
            if name not in self.identity_fields:
                if value is None or value == "" or value == [] or value == {}:
                    continue
                field_info = model_fields[name]
                if not field_info.is_required() and field_info.default is not None \
                        and canonicalize(field_info.default) == canonicalize(value):
                    continue
            out[name] = value
        return out

    # ---- helpers -----------------------------------------------------------------------

    def validation_errors(self, name: str, raw: Mapping[str, Any]) -> builtins.list[ErrorDetails]:
        try:
            self.spec_model.model_validate(self.prepare(name, dict(raw)))
        except ValidationError as exc:
            return exc.errors()
        return []


def canonicalize(value: Any) -> Any:
    """JSON-compatible, order-stable data: dict keys sorted, sets sorted, tuples as lists.

    Lists keep their order: a kind that means a set must declare it as a set (or sort it),
    so that "permuting a list changes nothing" holds where order carries no meaning.
    """
    if isinstance(value, Mapping):
        return {str(k): canonicalize(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (set, frozenset)):
        return sorted((canonicalize(v) for v in value), key=_order_key)
    if isinstance(value, (list, tuple)):
        return [canonicalize(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _order_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, repr(value))


def sorted_unique(values: Iterable[Any]) -> list[Any]:
    return sorted(set(values), key=_order_key)


__all__ = ["Context", "Kind", "canonicalize", "sorted_unique"]
