"""The contract between the core and a platform's kinds of object.

A kind is one unit, in the style of Terraform's plugin framework: its schema (a pydantic model),
its identity, its field rules (which fields force a replace, which are secret, which are set
once on create), and its list/read/create/update/delete. The core sees only this contract.
"""

from __future__ import annotations

import builtins
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .fingerprint import Fingerprinter
from .model import FieldChange, Identity, LiveObject, Ref, Resource, SourceLocation
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
        self._cache: dict[str, Any] = {}
        self._lock = threading.RLock()

    def cached(self, key: str, load: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = load()
            return self._cache[key]

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
    #: Changing these cannot be done in place: the object is replaced.
    replace_fields: ClassVar[frozenset[str]] = frozenset()
    #: Values that are secrets: compared by keyed fingerprint, never stored or printed.
    sensitive_fields: ClassVar[frozenset[str]] = frozenset()
    #: Set on create only (e.g. an initial password): never diffed afterwards.
    create_only_fields: ClassVar[frozenset[str]] = frozenset()
    #: Whether a delete deserves prominence in a plan (users and groups).
    destructive: ClassVar[bool] = False
    #: Whether the old object must go before its replacement exists (same natural key).
    delete_before_replace: ClassVar[bool] = True
    #: Whether live values of sensitive fields can be read back (else only state fingerprints).
    secrets_readable: ClassVar[bool] = True
    #: Names the platform itself provides; they may be referenced without being declared.
    builtin_names: ClassVar[frozenset[str]] = frozenset()

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
        return Resource(
            kind=self.name, name=name, spec=spec, identity=identity, secrets=secrets,
            refs=tuple(self.references(model)), source=source, deferred=deferred,
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
        canonical: dict[str, Any] = canonicalize(data)
        return canonical

    def references(self, model: BaseModel) -> Iterable[Ref]:
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

    def read(self, ctx: Context, identity: Identity) -> LiveObject | None:
        """One object by identity, for read-back after a write, refresh and import."""
        scope = self.scope_of(identity)
        for live in self.list(ctx, scope):
            if live.identity == identity:
                return live
        return None

    def scope_of(self, identity: Identity) -> Any:
        return None

    def fingerprint_live(self, ctx: Context, live: LiveObject, resource: Resource) -> dict[str, str]:
        """Keyed fingerprints of the live secret values a declared resource manages."""
        return dict(live.fingerprints)

    # ---- writes ------------------------------------------------------------------------

    @abstractmethod
    def create(self, ctx: Context, resource: Resource) -> Any:
        """Create the object; return its platform id if the platform assigns one."""

    @abstractmethod
    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        """Bring `live` to `resource.spec` for the top-level fields in `changed`."""

    @abstractmethod
    def delete(self, ctx: Context, identity: Identity, live: LiveObject | None) -> None:
        """Delete the object; deleting something already gone is not an error."""

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
