"""Export: read a live platform and say, kind by kind, the declarations that stand for it.

`platforge export` adopts what already exists into Git: every readable kind is listed in the
scopes asked, each live object becomes the declaration that plans nothing against it
(`Kind.declaration_of`), and that declaration is checked here the way a stack would read it
(validated, made canonical, diffed against the same live object) before anyone sees it. The
front door writes the result as TOML, with the consent to adopt already declared.

What is never exported: the platform's own objects (`LiveObject.builtin`, placeholders, a kind's
`builtin_names`, a tool's internal objects), kinds that cannot be read back (deploy-only), and
secret values: a secret becomes a `{ from_env = "PLATFORGE_SECRET_..." }` reference, and the
export lists the variables to set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from pydantic import ValidationError

from .diff import diff_resource
from .errors import PlanError
from .kind import Context, Kind
from .model import LiveObject, Ref, address_of
from .plan import Platform
from .secrets import SecretUnavailable

#: Prefix of the environment variables export names for secrets it cannot (and must not) write.
SECRET_VARIABLE_PREFIX = "PLATFORGE_SECRET_"

_NOT_BARE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class SecretVariable:
    """A secret the export declared as a reference: set `variable` to its value before planning."""

    address: str
    field: str
    variable: str


@dataclass
class ExportedObject:
    kind: str
    table: str
    identity: tuple[Any, ...]
    declaration: dict[str, Any]
    platform_id: Any = None
    #: Fields left out because their live form does not read back as declared.
    dropped: list[str] = field(default_factory=list)
    secrets: list[SecretVariable] = field(default_factory=list)
    #: What the declaration refers to (other objects, by kind and name).
    refs: tuple[Ref, ...] = ()
    #: Optional secret fields left undeclared (never exported; unmanaged until declared).
    undeclared_secrets: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.table}"


@dataclass
class KindExport:
    """One kind's part of an export."""

    kind: str
    objects: list[ExportedObject] = field(default_factory=list)
    #: Addresses of the platform's own objects, left out.
    builtin: list[str] = field(default_factory=list)
    #: (address, why) of live objects left out for another reason.
    omitted: list[tuple[str, str]] = field(default_factory=list)
    #: Live objects the `match` patterns excluded.
    unmatched: int = 0
    #: Why this kind cannot be exported at all (nothing was listed), or None.
    refused: str | None = None

    def notes(self, undeclared: str) -> list[str]:
        """What the written file says about what it leaves out, one line each, for either door:
        the platform's own objects, objects left out and why, fields left to the platform, and
        optional secrets left undeclared (`undeclared`: how the door declares one)."""
        lines = [f"Left out, the platform's own: {', '.join(self.builtin)}"] if self.builtin else []
        lines += [f"Left out: {address}: {why}" for address, why in self.omitted]
        for obj in self.objects:
            if obj.dropped:
                lines.append(f"{obj.address}: {', '.join(obj.dropped)} left to the platform (its live form does not "
                             "read back as declared)")
            lines += [f"{obj.address}.{name}: not declared (a secret is never exported); {undeclared} to manage it"
                      for name in obj.undeclared_secrets]
        return lines


@dataclass
class Export:
    platform: str
    kinds: dict[str, KindExport]
    #: kind -> names the exported declarations refer to that no declaration stands for (the
    #: stack lists them under `[external]`: named, not managed).
    external: dict[str, set[str]] = field(default_factory=dict)

    @property
    def objects(self) -> list[ExportedObject]:
        return [obj for part in self.kinds.values() for obj in part.objects]

    @property
    def secret_variables(self) -> list[SecretVariable]:
        return [s for obj in self.objects for s in obj.secrets]

    @property
    def exported_kinds(self) -> list[str]:
        return [name for name, part in self.kinds.items() if part.refused is None]


def bare(text: str) -> str:
    """`text` as a TOML bare key: runs of anything but letters, digits, `_` and `-` as one `-`."""
    return _NOT_BARE.sub("-", text).strip("-")


def table_name(identity: Iterable[Any], taken: set[str], fallback: str, short: bool = False) -> str:
    """A table name for an object, as a TOML bare key (letters, digits, `_`, `-`), unique among
    `taken` (a `-2`, `-3` ... suffix): the last part of its identity when `short` (the object's
    own name within its scope, which is how other declarations refer to it), else every part
    joined with `-`."""
    parts = [str(part) for part in identity]
    base = bare(parts[-1] if short and parts else "-".join(parts)) or fallback
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def secret_variable(address: str, field_name: str, several: bool) -> str:
    """`PLATFORGE_SECRET_<ADDRESS>` (with `_<FIELD>` when the object has several secrets)."""
    raw = f"{address}_{field_name}" if several else address
    return SECRET_VARIABLE_PREFIX + _NOT_BARE.sub("_", raw.replace("-", "_")).strip("_").upper()


def export_platform(
    platform: Platform,
    ctx: Context,
    config: Any,
    kinds: Sequence[str] = (),
    match: Sequence[str] = (),
    declared: Mapping[str, set[str]] | None = None,
) -> Export:
    """Export `kinds` (every kind when empty) of the platform `ctx` is connected to.

    `match`: address patterns (`group.ana*`) or identity patterns (`ana*`, `prod/warehouse/*`);
    only matching objects are exported. `declared`: kind -> table names a stack already declares
    (an earlier export into the same directory), so references to them are not external.
    """
    unknown = [k for k in kinds if k not in platform.kinds]
    if unknown:
        raise PlanError(f"unknown kind(s) for platform {platform.name}: {', '.join(unknown)}; expected "
                        f"{', '.join(platform.kinds)}")
    wanted = set(kinds) or set(platform.kinds)
    listed: dict[str, list[LiveObject]] = {}
    parts: dict[str, KindExport] = {}
    internal = getattr(platform, "is_internal", None)
    defaults = getattr(platform, "declaration_defaults", None)
    for kind_name, kind in platform.kinds.items():
        if kind_name not in wanted:
            continue
        part = parts[kind_name] = KindExport(kind_name)
        part.refused = kind.not_exportable
        if part.refused is not None:
            continue
        lives = _list(kind, ctx, listed)
        listed[kind_name] = lives
        implied = defaults(kind, config) if defaults is not None else {}
        taken: set[str] = set()
        by_identity: dict[tuple[Any, ...], list[LiveObject]] = {}
        for live in lives:
            by_identity.setdefault(tuple(live.identity), []).append(live)
        # An object's own name is its table's name where no other object of the kind shares it.
        last_parts: dict[str, int] = {}
        for identity in by_identity:
            short_name = bare(str(identity[-1])) if identity else ""
            last_parts[short_name] = last_parts.get(short_name, 0) + 1
        for identity, same in sorted(by_identity.items(), key=lambda kv: [str(p) for p in kv[0]]):
            address = address_of(kind_name, identity)
            if match and not _matches(match, kind_name, identity):
                part.unmatched += len(same)
                continue
            live = same[0]
            if any(_builtin(kind, internal, o) for o in same):
                part.builtin.append(address)
                continue
            if len(same) > 1:
                ids = ", ".join(str(o.platform_id) for o in same)
                part.omitted.append((address, f"{len(same)} live objects share this identity (ids {ids}); declare "
                                              "the one to manage by hand and adopt it with --adopt ADDRESS=ID"))
                continue
            declaration = kind.declaration_of(live, ctx.settings)
            if declaration is None:
                part.omitted.append((address, kind.export_omission))
                continue
            short = bool(identity) and last_parts.get(bare(str(identity[-1])), 0) == 1
            obj, problem = _checked(kind, ctx, live, identity, _without_none(declaration), implied, taken, short)
            if obj is None:
                part.omitted.append((address, problem or "its declaration does not read back"))
                continue
            part.objects.append(obj)
    export = Export(platform=platform.name, kinds=parts)
    export.external = _external(platform, export, declared or {})
    return export


def _without_none(value: Any) -> Any:
    """TOML has no null: a table leaves out what is None (an unset field)."""
    if isinstance(value, Mapping):
        return {str(k): _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


def _list(kind: Kind, ctx: Context, listed: Mapping[str, list[LiveObject]]) -> list[LiveObject]:
    scopes = kind.export_scopes(ctx, listed)
    if kind.lists_scopes_together and len(scopes) > 1:
        return kind.list_scopes(ctx, scopes)
    return [live for scope in scopes for live in kind.list(ctx, scope)]


def _matches(patterns: Sequence[str], kind: str, identity: tuple[Any, ...]) -> bool:
    address = address_of(kind, identity)
    plain = "/".join(str(p) for p in identity)
    return any(fnmatchcase(address, p) or fnmatchcase(plain, p) for p in patterns)


def _builtin(kind: Kind, internal: Any, live: LiveObject) -> bool:
    identity = tuple(live.identity)
    return bool(live.builtin or live.placeholder
                or (len(identity) == 1 and str(identity[0]) in kind.builtin_names)
                or (internal is not None and internal(kind.name, identity)))


def _checked(kind: Kind, ctx: Context, live: LiveObject, identity: tuple[Any, ...], declaration: dict[str, Any],
             implied: Mapping[str, Any], taken: set[str], short: bool) -> tuple[ExportedObject | None, str | None]:
    """The declaration as a stack would read it, diffed against the live object it came from:
    optional fields whose live form does not read back are dropped (left to the platform, said
    in a note); an object whose identity or required fields do not read back is left out."""
    model_fields = kind.spec_model.model_fields
    required_secrets = sorted(f for f in kind.sensitive_fields
                              if f in model_fields and model_fields[f].is_required())
    if required_secrets and not kind.secrets_readable:
        return None, (f"the platform never shows its {', '.join(required_secrets)}, so adopting it would overwrite "
                      "them with whatever a variable holds: declare it by hand, with the reference to the value "
                      "you mean to set")
    table = table_name(identity, taken, kind.name, short)
    address = f"{kind.name}.{table}"
    # Named after the object's identity, not its table: two stacks of one platform (dev and prod)
    # never ask for the same variable for two different secrets.
    secrets = [SecretVariable(address, f, secret_variable(address_of(kind.name, identity), f, len(required_secrets) > 1))
               for f in required_secrets]
    dropped: list[str] = []
    for _ in range(len(declaration) + 1):
        try:
            resource = kind.declare(table, {**implied, **declaration}, None,
                                    secret_values={s.field: "(exported)" for s in secrets})
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = [str(p) for p in err.get("loc", ())]
            if loc and _optional(kind, loc[0]) and loc[0] in declaration:
                declaration.pop(loc[0])  # its live form is no valid declaration: left to the platform
                dropped.append(loc[0])
                continue
            where = ".".join(loc) or "its fields"
            return None, f"its live form is not a valid declaration ({where}: {err.get('msg')})"
        except (SecretUnavailable, ValueError) as exc:
            return None, f"its live form is not a valid declaration ({exc})"
        if tuple(resource.identity) != identity:
            return None, "its declaration names another object (its identity does not read back)"
        resource = kind.desired(ctx, resource)
        changes = [c for c in diff_resource(kind, resource, live, {}, {}) if not c.sensitive]
        if not changes:
            for s in secrets:
                declaration[s.field] = {"from_env": s.variable}
            optional = sorted(f for f in kind.sensitive_fields if f in model_fields and f not in required_secrets)
            return ExportedObject(kind.name, table, identity, declaration, live.platform_id, dropped, secrets,
                                  resource.refs, optional), None
        fields = sorted({c.path.split(".", 1)[0] for c in changes})
        removable = [f for f in fields if f in declaration and _optional(kind, f)]
        if removable != fields:
            return None, f"its declaration does not read back as it is live ({', '.join(fields)} differ)"
        for f in fields:
            declaration.pop(f)
            dropped.append(f)
    return None, "its declaration does not read back"


def _optional(kind: Kind, name: str) -> bool:
    """Whether a field may be left out of a declaration (then the platform's, unmanaged)."""
    info = kind.spec_model.model_fields.get(name)
    return info is not None and not info.is_required() and name not in kind.identity_fields


def _external(platform: Platform, export: Export, declared: Mapping[str, set[str]]) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {k: set(v) for k, v in declared.items()}
    for obj in export.objects:
        names.setdefault(obj.kind, set()).add(obj.table)
    external: dict[str, set[str]] = {}
    for obj in export.objects:
        for ref in obj.refs:
            target = platform.kinds.get(ref.kind)
            if ref.name in names.get(ref.kind, set()) or (target is not None and ref.name in target.builtin_names):
                continue
            external.setdefault(ref.kind, set()).add(ref.name)
    return external


__all__ = ["SECRET_VARIABLE_PREFIX", "Export", "ExportedObject", "KindExport", "SecretVariable", "export_platform",
           "secret_variable", "table_name"]
