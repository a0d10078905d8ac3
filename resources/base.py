"""The base of every typed platforge Pulumi resource: validation through the kind's pydantic
schema at construction (for values already known), one cached provider per kind, output-only
properties declared as None, and secret outputs declared in `additional_secret_outputs`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import Resource

from ..provider import get_platform
from .provider import CONTROL_INPUTS, OUTPUT_ONLY, KindProvider, _describe

_PROVIDERS: dict[tuple[str, str], KindProvider] = {}


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
    """A platform object managed through the same core as `platforge apply`."""

    platform: ClassVar[str]
    kind: ClassVar[str]

    platform_id: pulumi.Output[Any]

    def __init__(self, resource_name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        props = {k: v for k, v in props.items() if v is not None}
        self._validate(props)
        kind = get_platform(self.platform).kinds[self.kind]
        secret_names = sorted(kind.sensitive_fields | kind.create_only_fields)
        for name in OUTPUT_ONLY:
            props[name] = None
        merged = pulumi.ResourceOptions.merge(
            opts or pulumi.ResourceOptions(), pulumi.ResourceOptions(additional_secret_outputs=secret_names)
        ) if secret_names else opts
        super().__init__(provider_for(self.platform, self.kind), resource_name, props, merged)

    def _validate(self, props: Mapping[str, Any]) -> None:
        """Fail at construction, with the field named, when a known value is invalid."""
        kind = get_platform(self.platform).kinds[self.kind]
        sensitive = kind.sensitive_fields | kind.create_only_fields
        plain = {k: v for k, v in props.items() if k not in CONTROL_INPUTS and _known(v)}
        for name in sensitive:
            if name in props:
                plain[name] = {"from_env": "PLATFORGE_PROGRAM_SUPPLIED_SECRET"}
        unknown = {k for k, v in props.items() if not _known(v)}
        name = str(plain.get(kind.identity_fields[-1], plain.get("name", "unknown")))
        errors = [e for e in kind.validation_errors(name, plain)
                  if not (e.get("loc") and str(e["loc"][0]) in unknown)]
        if errors:
            raise ValueError(_describe(self.kind, errors))
