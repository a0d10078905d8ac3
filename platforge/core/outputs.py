"""Values one action produces that a later action of the same apply uses: an object's platform
id, or the revision a save produced (a promotion of "the version just saved").

A kind's schema declares such a field as `OutputRef`; in a stack it reads

    version = { output = "job.etl.revision" }       # or "<kind>.<name>.platform_id"

The core orders the referring object after the one it names, resolves the value from live state
when that object does not change, and otherwise shows it as known after apply and resolves it
when the earlier action has run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from .model import Ref

#: What a plan shows for a value only the apply will know.
AFTER_APPLY = "(known after apply)"
ATTRIBUTES = ("platform_id", "revision")
_PLAIN = frozenset({str, int, float, bool, list, tuple, type(None)})


class OutputRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    __expected__: ClassVar[str] = 'an output reference such as { output = "job.etl.revision" }'

    output: str = Field(pattern=r"^[A-Za-z0-9_-]+\.[^.]+\.(platform_id|revision)$")

    def target(self) -> tuple[str, str]:
        """(address, attribute)."""
        address, _, attribute = self.output.rpartition(".")
        return address, attribute


def output_refs(spec: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Field -> (address, attribute) for every top-level field that is an output reference."""
    found: dict[str, tuple[str, str]] = {}
    if _PLAIN.issuperset(map(type, spec.values())):  # no mapping among the values: decided in C
        return found
    for name, value in spec.items():
        kind = type(value)
        if kind in _PLAIN:
            continue
        # A plain dict first: the Mapping ABC check costs ten times more, once per field.
        if (kind is dict or isinstance(value, Mapping)) and len(value) == 1 and isinstance(value.get("output"), str):
            address, _, attribute = value["output"].rpartition(".")
            if attribute in ATTRIBUTES and address:
                found[name] = (address, attribute)
    return found


def refs_of(spec: Mapping[str, Any]) -> list[Ref]:
    return [Ref(*address.split(".", 1)) for address, _ in output_refs(spec).values()]


def resolve(spec: Mapping[str, Any], known: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Any], set[str]]:
    """The spec with every output reference replaced by its value from `known` (address ->
    attribute -> value), and the fields whose value is not known yet."""
    resolved = dict(spec)
    unknown: set[str] = set()
    for name, (address, attribute) in output_refs(spec).items():
        value = known.get(address, {}).get(attribute)
        if value is None:
            unknown.add(name)
            resolved[name] = AFTER_APPLY
        else:
            resolved[name] = value
    return resolved, unknown


__all__ = ["AFTER_APPLY", "OutputRef", "output_refs", "refs_of", "resolve"]
