"""The base of every typed platforge Pulumi resource: its own resource type per class
(`pulumi-python:dynamic/<platform>:<Class>`), validation through the kind's pydantic schema at
construction (for values already known), secret inputs wrapped as Pulumi secrets whatever form
they arrive in, one cached provider per kind, output-only properties declared as None, and
secret outputs declared in `additional_secret_outputs`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import Resource

from ..core.kind import Kind
from ..provider import get_platform
from .dynamic import CONTROL_INPUTS, OUTPUT_ONLY, KindProvider, _type_of, describe_errors

#: The type every class shared before each got its own. Existing stacks recorded their
#: resources under it; an alias moves each to its class's type without a replace.
LEGACY_TYPE = "pulumi-python:dynamic:Resource"

_PROVIDERS: dict[tuple[str, str], KindProvider] = {}


def register_provider(provider: KindProvider) -> None:
    """A platform whose kinds need more of this door than the generic provider gives (Dataloop:
    an import by id alone, across projects) registers its own subclass, before any resource of
    the kind is made."""
    _PROVIDERS.setdefault((provider.platform, provider.kind), provider)


def known(value: Any) -> bool:
    """Whether a Pulumi input holds no output still to be resolved."""
    return _known(value)


def provider_for(platform: str, kind: str) -> KindProvider:
    """One provider object per kind, so `__provider` is the same for every resource of it."""
    key = (platform, kind)
    if key not in _PROVIDERS:
        _PROVIDERS[key] = KindProvider(platform, kind)
    return _PROVIDERS[key]


def _known(value: Any) -> bool:
    if isinstance(value, pulumi.Output):
        return False
    if isinstance(value, (list, tuple)):
        return all(_known(v) for v in value)
    if isinstance(value, Mapping):
        return all(_known(v) for v in value.values())
    return True


class PlatforgeResource(Resource):
    """A platform object managed through the same core as `platforge apply`.

    A class per kind declares its own Pulumi type with the keywords `pulumi.dynamic.Resource`
    subclasses take: `class User(PlatforgeResource, module="datatailr", name="User")` registers
    as `pulumi-python:dynamic/datatailr:User`, so a `Group("alice")` and a `User("alice")` have
    different URNs. The type is part of every URN in state: never rename it."""

    platform: ClassVar[str]
    kind: ClassVar[str]
    #: Outputs taking the values the platform shows only once, at creation (a new API key's
    #: secret): always Pulumi secrets, kept by the engine in its state and never by platforge.
    shown_once: ClassVar[tuple[str, ...]] = ()
    #: Schema fields only the command line uses (where it writes a value shown once: Pulumi keeps
    #: it as a secret output instead). The class does not take them; `declare_stack` leaves them out.
    cli_only: ClassVar[frozenset[str]] = frozenset()

    platform_id: pulumi.Output[Any]
    #: The version the last write produced, for versioned objects (a job's save); else None.
    revision: pulumi.Output[Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__ and cls._resource_type_name == "dynamic:Resource":
            raise TypeError(f"{cls.__name__} must declare its Pulumi type: "
                            f"class {cls.__name__}(PlatforgeResource, module=<platform>, name={cls.__name__!r})")

    def __init__(self, resource_name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        props = {k: v for k, v in props.items() if v is not None}
        kind = get_platform(self.platform).kinds[self.kind]
        self._validate(kind, props)
        hidden = sorted(kind.sensitive_fields | kind.create_only_fields)
        for name in hidden:
            if name in props:  # a plain string, an Output, a secret Output: always a secret in state
                props[name] = pulumi.Output.secret(props[name])
        for name in (*OUTPUT_ONLY, *self.shown_once):
            props[name] = None
        secret_outputs = sorted({*hidden, *self.shown_once})
        own = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=LEGACY_TYPE)],
                                     additional_secret_outputs=secret_outputs or None)
        merged = pulumi.ResourceOptions.merge(opts or pulumi.ResourceOptions(), own)
        super().__init__(provider_for(self.platform, self.kind), resource_name, props, merged)

    def _validate(self, kind: Kind, props: Mapping[str, Any]) -> None:
        """Fail at construction, with the field named, when a known value is invalid (never
        echoing the value of a secret field)."""
        sensitive = kind.sensitive_fields | kind.create_only_fields
        plain = {k: v for k, v in props.items() if k not in CONTROL_INPUTS and _known(v)}
        problems = []
        for name in sorted(sensitive):
            if name in plain and not isinstance(plain[name], str):
                problems.append(f"{name}: expected the secret value as a string; found {_type_of(plain[name])}")
            if name in props:
                plain[name] = {"from_env": "PLATFORGE_PROGRAM_SUPPLIED_SECRET"}
        adopt = props.get("adopt")
        if adopt is not None and _known(adopt) and not isinstance(adopt, bool):
            problems.append("adopt: expected true or false")
        unknown = {k for k, v in props.items() if not _known(v)}
        name = str(plain.get(kind.identity_fields[-1], plain.get("name", "unknown")))
        errors = [e for e in kind.validation_errors(name, plain)
                  if not (e.get("loc") and str(e["loc"][0]) in unknown)]
        if errors:
            problems.append(describe_errors(kind, errors).removeprefix(f"invalid {kind.name}: "))
        if problems:
            raise ValueError(f"invalid {kind.name}: " + "; ".join(problems))
