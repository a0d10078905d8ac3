"""Field-level differences between a desired spec and a live object, both canonical, following
each kind's field rules (platforge.core.rules).

Only declared fields are compared (an unset field is the platform's business). Dicts are walked
key by key so that a keyed collection reports per-key changes; sets compare as sets; keyed lists
compare item by item; nested documents compare as a whole first and only when they differ field
by field with deepdiff, which keeps deepdiff's cost off the path of objects that did not change.
Sensitive fields compare keyed fingerprints, never values. Every change carries a reason code
(platforge.core.model.REASONS) from comparing live, the declaration and the last applied spec.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .kind import Context, Kind, canonicalize
from .model import FieldChange, LiveObject, Resource
from .rules import ANY, NO_RULE, Collection, FieldRule

_MISSING = object()
#: Types whose values of one type are the same exactly when equal (as `_same` decides them).
_SCALARS = frozenset({str, int, float, bool})

#: How many nested documents were compared field by field (deepdiff) in this process: a
#: benchmark checks that a no-change plan compares none.
DOCUMENT_DIFFS = {"count": 0}


def diff_resource(
    kind: Kind,
    resource: Resource,
    live: LiveObject,
    desired_fingerprints: dict[str, str],
    live_fingerprints: dict[str, str],
    applied: Mapping[str, Any] | None = None,
    applied_fingerprints: Mapping[str, str] | None = None,
) -> list[FieldChange]:
    """What `live` lacks of the declaration. `applied` is the spec of the last apply (when the
    state has one), `applied_fingerprints` its secrets' fingerprints: they give each change its
    reason, and `applied` is what a field whose remote changes are ignored is compared with."""
    changes: list[FieldChange] = []
    rules = kind.field_rules
    fields = live.fields
    current: Any
    for name, desired in resource.spec.items():
        rule = rules.get(name)
        if rule is None:
            # No rule: compared as given, and equal as given is no change (most fields of most
            # objects end here; what differs goes the whole way below).
            current = fields.get(name)
            if (current is desired or type(current) is type(desired) and type(desired) in _SCALARS
                    and current == desired) or _same(current, desired):
                continue
            rule = NO_RULE
        if rule.create_only:
            continue
        if rule.sensitive:
            want = desired_fingerprints.get(name)
            have = live_fingerprints.get(name)
            if want is not None and want != have:
                recorded = (applied_fingerprints or {}).get(name, _MISSING) if applied is not None else _MISSING
                changes.append(FieldChange(name, have, want, sensitive=True, forces_replace=rule.replace,
                                           reason=_reason(have, want, recorded), new_version=rule.new_version))
            continue
        if rule.local:
            # Never on the platform: what was applied (or, where the "live" view is what a front
            # door holds, its value there); with neither, it is as declared.
            current = applied[name] if applied is not None and name in applied else live.fields.get(name, desired)
        elif rule.ignore_remote_changes and applied is not None and name in applied:
            current = applied[name]  # the platform's own changes to this field do not count
        else:
            current = live.fields.get(name, _MISSING)
            current = None if current is _MISSING else current
        before = applied.get(name, _MISSING) if applied is not None else _MISSING
        changes.extend(_field_changes(name, current, desired, rule, before))
    return changes


def _field_changes(name: str, old: Any, new: Any, rule: FieldRule, before: Any) -> list[FieldChange]:
    if _same(old, new):
        # Equal as given is equal in every normal form below (sets, keyed tables, documents,
        # server defaults only ever strip what the declaration lacks): most fields of most
        # objects end here, which keeps a no-change plan's diff cheap.
        return []
    old, new = _normalise(old, rule), _normalise(new, rule)
    if rule.server_defaults and isinstance(old, (dict, list)) and isinstance(new, (dict, list)):
        old = _without_defaults(old, new, rule.server_defaults)
    if rule.document:
        if canonicalize(old) == canonicalize(new):  # the cheap check: most documents did not change
            return []
        raw = _document_changes(name, old, new)
    else:
        raw = _walk(name, old, new)
    base = None if before is _MISSING else _normalise(before, rule)
    return [FieldChange(path, o, n, forces_replace=rule.replace, new_version=rule.new_version,
                        reason=_reason(o, n, _at(base, path[len(name):]) if before is not _MISSING else _MISSING))
            for path, o, n in raw]


def _reason(live: Any, desired: Any, applied: Any) -> str:
    if applied is _MISSING:
        return "no_history"
    if _same(applied, live):
        return "declared"
    if _same(applied, desired):
        return "remote"
    return "both"


def _normalise(value: Any, rule: FieldRule) -> Any:
    """Sets as sorted lists, keyed lists as tables by key: the forms the rule says compare."""
    if not isinstance(value, list):
        return value
    if rule.collection is Collection.SET:
        return canonicalize(frozenset(_hashable(v) for v in value)) if value else []
    if rule.collection is Collection.KEYED and rule.key is not None:
        if all(isinstance(item, Mapping) and rule.key in item for item in value):
            return {str(item[rule.key]): item for item in value}
    return value


def _hashable(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return repr(canonicalize(value))
    return value


def _without_defaults(live: Any, declared: Any, defaults: Mapping[str, Any]) -> Any:
    """`live` without the paths the platform fills in by default that the declaration leaves out."""
    patterns = [(re.compile("^" + re.escape(p).replace(r"\*", r"[^.]+") + "$"), v) for p, v in defaults.items()]

    def strip(value: Any, wanted: Any, path: str) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, sub in value.items():
                here = f"{path}.{key}" if path else str(key)
                has = isinstance(wanted, dict) and key in wanted
                if not has and any(rx.match(here) and (default is ANY or _same(default, sub)) for rx, default in patterns):
                    continue
                out[key] = strip(sub, wanted.get(key) if isinstance(wanted, dict) else None, here)
            return out
        if isinstance(value, list):
            return [strip(item, wanted[i] if isinstance(wanted, list) and i < len(wanted) else None,
                          f"{path}.{i}" if path else str(i)) for i, item in enumerate(value)]
        return value

    return strip(live, declared, "")


def _document_changes(name: str, old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """Field-level changes of a nested document, by deepdiff (only reached when it differs)."""
    from deepdiff import DeepDiff  # imported here: only documents that differ pay for it

    DOCUMENT_DIFFS["count"] += 1
    diff = DeepDiff(old, new, verbose_level=2, view="tree")
    changes: list[tuple[str, Any, Any]] = []
    for report in diff.values():
        for level in report:
            path = name + "".join(f".{p}" for p in level.path(output_format="list"))
            t1 = None if _absent(level.t1) else level.t1
            t2 = None if _absent(level.t2) else level.t2
            changes.append((path, t1, t2))
    return sorted(changes, key=lambda c: c[0])


def _absent(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"


def _at(value: Any, subpath: str) -> Any:
    """The part of `value` at `.a.b` (a path below a field), or _MISSING."""
    for part in [p for p in subpath.split(".") if p]:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def declared_fingerprints(kind: Kind, ctx: Context, resource: Resource) -> dict[str, str]:
    """Keyed fingerprints of the secret values a resource declares (never the values)."""
    if not resource.secrets:
        return {}
    return {name: ctx.fingerprinter(value) for name, value in resource.secrets.items()
            if name in kind.sensitive_fields}


def live_fingerprints(kind: Kind, ctx: Context, live: LiveObject, resource: Resource,
                      recorded: Mapping[str, str] | None) -> dict[str, str]:
    """What the platform holds for the resource's secrets. Read back (one request per secret)
    when the run asks for it (`ctx.refresh_secrets`: drift, `plan --refresh-secrets`) or when
    nothing was recorded for them (an object being adopted); else the fingerprints `recorded` at
    the last write. A kind whose platform cannot show secret values always uses `recorded`."""
    if not kind.secrets_readable:
        return dict(recorded or {})
    wanted = {name for name in resource.secrets if name in kind.sensitive_fields}
    if ctx.refresh_secrets or recorded is None or not wanted <= set(recorded):
        return kind.fingerprint_live(ctx, live, resource)
    return {name: recorded[name] for name in wanted}


def changes_against_live(kind: Kind, ctx: Context, resource: Resource, live: LiveObject,
                         recorded: Mapping[str, str] | None,
                         applied: Mapping[str, Any] | None = None) -> list[FieldChange]:
    """Everything `live` lacks of the declaration, secrets compared by fingerprint; `recorded`
    and `applied` are what the last apply left in the state, when there was one."""
    if not resource.secrets:  # nothing to fingerprint: no secret can differ
        return diff_resource(kind, resource, live, {}, {}, applied, recorded)
    return diff_resource(kind, resource, live, declared_fingerprints(kind, ctx, resource),
                         live_fingerprints(kind, ctx, live, resource, recorded), applied, recorded)


def _walk(path: str, old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(old) | set(new)):
            out.extend(_walk(f"{path}.{key}", old.get(key), new.get(key)))
        return out
    if _same(old, new):
        return []
    return [(path, old, new)]


def _same(a: Any, b: Any) -> bool:
    """Equal after the normalisations every platform needs: None vs empty collections,
    1 vs 1.0 (Pulumi sends every number as a float)."""
    kind = type(a)
    if kind is type(b):  # the common case, decided without the isinstance ladder below
        if kind is str or kind is int or kind is bool or a is None:
            return bool(a == b)
        if kind is list:
            return len(a) == len(b) and all(map(_same, a, b))
        if kind is dict:
            return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
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
