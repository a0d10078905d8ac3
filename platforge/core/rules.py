"""Field rules as data: how each field of a kind is compared and written, in one place a reader
can see (in the style of Databricks' bundle engine: `recreate_on_changes`, `ignore_remote_changes`,
`backend_defaults`).

    field_rules = {
        "system": FieldRule(replace=True),
        "image": FieldRule(new_version=True),
        "password": FieldRule(sensitive=True, create_only=True),
        "members": FieldRule(collection=Collection.SET),
        "tasks": FieldRule(collection=Collection.KEYED, key="name", document=True,
                           server_defaults={"*.timeout_seconds": 0}),
        "last_modified_by": FieldRule(ignore_remote_changes=True),
        "deletion_protection": FieldRule(local=True),
    }

A field with no rule is compared as declared, changed in place, and managed only when declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Collection(str, Enum):
    """How a list field compares."""

    ORDERED = "ordered"  # position matters (the default)
    SET = "set"  # order and repeats do not matter
    KEYED = "keyed"  # a list of tables, each named by `key`: compared item by item


#: A server default that matches whatever value the platform fills in.
ANY = object()


@dataclass(frozen=True)
class FieldRule:
    #: Cannot change in place: a change replaces the object (delete and create).
    replace: bool = False
    #: A change makes a new version of the object (a save), not an in-place update.
    new_version: bool = False
    #: Written on create only (an initial password): never compared afterwards.
    create_only: bool = False
    #: A secret: compared by keyed fingerprint, never stored, printed or diffed by value.
    sensitive: bool = False
    #: The platform may change it on its own: only changes to the declaration count, so a plan
    #: compares the declaration with the last applied value, and drift never reports it.
    ignore_remote_changes: bool = False
    #: platforge's own setting for the object (deletion protection), never sent to or read from
    #: the platform: compared with the last applied value (or what a front door holds), so a
    #: change is an update that writes nothing and is recorded.
    local: bool = False
    #: How a list compares.
    collection: Collection = Collection.ORDERED
    #: For a keyed list: the item field that names an item.
    key: str | None = None
    #: A nested document (a job definition, a settings document): compared first as a whole,
    #: and only when it differs, field by field (deepdiff), so the cost stays off the hot path.
    document: bool = False
    #: Paths inside the field (`*` matches one level) that the platform fills in when they are not
    #: declared, with the value it fills in (or ANY): an undeclared path holding its default is
    #: no difference.
    server_defaults: Mapping[str, Any] = field(default_factory=dict)


NO_RULE = FieldRule()


def rules_from_sets(*, replace: frozenset[str] = frozenset(), sensitive: frozenset[str] = frozenset(),
                    create_only: frozenset[str] = frozenset(), new_version: frozenset[str] = frozenset()
                    ) -> dict[str, FieldRule]:
    """Field rules from the older per-rule sets of field names."""
    names = replace | sensitive | create_only | new_version
    return {name: FieldRule(replace=name in replace, sensitive=name in sensitive, create_only=name in create_only,
                            new_version=name in new_version) for name in sorted(names)}


__all__ = ["ANY", "Collection", "FieldRule", "NO_RULE", "rules_from_sets"]
