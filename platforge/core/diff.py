"""Field-level differences between a desired spec and a live object, both canonical.

Only declared fields are compared (an unset field is the platform's business), dicts are walked
key by key so that a keyed collection reports per-key changes, and sensitive fields compare
keyed fingerprints, never values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .kind import Context, Kind
from .model import FieldChange, LiveObject, Resource

_MISSING = object()


def diff_resource(
    kind: Kind,
    resource: Resource,
    live: LiveObject,
    desired_fingerprints: dict[str, str],
    live_fingerprints: dict[str, str],
) -> list[FieldChange]:
    changes: list[FieldChange] = []
    for name, desired in resource.spec.items():
        if name in kind.create_only_fields:
            continue
        forces = name in kind.replace_fields
        if name in kind.sensitive_fields:
            want = desired_fingerprints.get(name)
            have = live_fingerprints.get(name)
            if want is not None and want != have:
                changes.append(FieldChange(name, have, want, sensitive=True, forces_replace=forces))
            continue
        current = live.fields.get(name, _MISSING)
        changes.extend(_walk(name, None if current is _MISSING else current, desired, forces))
    return changes


def declared_fingerprints(kind: Kind, ctx: Context, resource: Resource) -> dict[str, str]:
    """Keyed fingerprints of the secret values a resource declares (never the values)."""
    return {name: ctx.fingerprinter(value) for name, value in resource.secrets.items()
            if name in kind.sensitive_fields}


def live_fingerprints(kind: Kind, ctx: Context, live: LiveObject, resource: Resource,
                      recorded: Mapping[str, str] | None) -> dict[str, str]:
    """What the platform holds for the resource's secrets: read back where the kind can, else the
    fingerprints `recorded` when they were last written (a write-only value cannot drift visibly)."""
    if kind.secrets_readable:
        return kind.fingerprint_live(ctx, live, resource)
    return dict(recorded or {})


def changes_against_live(kind: Kind, ctx: Context, resource: Resource, live: LiveObject,
                         recorded: Mapping[str, str] | None) -> list[FieldChange]:
    """Everything `live` lacks of the declaration, secrets compared by fingerprint."""
    return diff_resource(kind, resource, live, declared_fingerprints(kind, ctx, resource),
                         live_fingerprints(kind, ctx, live, resource, recorded))


def _walk(path: str, old: Any, new: Any, forces: bool) -> list[FieldChange]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldChange] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}"
            out.extend(_walk(sub, old.get(key), new.get(key), forces))
        return out
    if _same(old, new):
        return []
    return [FieldChange(path, old, new, forces_replace=forces)]


def _same(a: Any, b: Any) -> bool:
    """Equal after the normalisations every platform needs: None vs empty collections,
    1 vs 1.0 (Pulumi sends every number as a float)."""
    if a is None and b in ((), [], {}, ""):
        return True
    if b is None and a in ((), [], {}, ""):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def changed_top_level(changes: list[FieldChange]) -> set[str]:
    return {c.path.split(".", 1)[0] for c in changes}
