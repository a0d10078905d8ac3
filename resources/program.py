"""A Pulumi program that adopts a live platform: what `platforge export --format pulumi` writes.

The export's declarations (checked by the core against the live objects they came from) become
typed resources of this package, each with `adopt=True`: the first `pulumi up` takes every object
over without writing to it, because the declaration already matches it. The program is plain
Python a team goes on editing, so it is written the way a person would write it: one module per
kind under `adopted/` (a team adopts one kind at a time, and a later export of a kind rewrites that
kind's module only), resources named by their address (`group.analysts`, the name the TOML door
gives them), `depends_on` following the declarations' references, and secrets read from the
variables the export names, never values.
"""

from __future__ import annotations

import inspect
import json
import keyword
import pprint
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.export import Export, ExportedObject
from ..provider import get_platform
from .stack import CLASSES, object_inputs

#: The package holding one module per exported kind, next to `__main__.py`.
PACKAGE = "adopted"
#: The first line of every file this writer owns: a later export rewrites only files that carry it.
MARK = "# Written by `platforge export --format pulumi`."

_HELPERS = f'''{MARK} The program's kind modules register here.
"""What every kind module of the adopted program shares: the resources declared so far, by
address, so a later module can depend on them; and secrets read from the environment."""

from __future__ import annotations

import os

import pulumi

#: address -> resource, in the order the kind modules declare them.
DECLARED: dict[str, pulumi.Resource] = {{}}


def declare(resource: pulumi.Resource) -> pulumi.Resource:
    DECLARED[resource._name] = resource
    return resource


def after(*addresses: str) -> pulumi.ResourceOptions:
    """Depend on the declared objects this one refers to; an object the program does not
    declare (the platform's own, or a kind not exported yet) is named, not managed."""
    return pulumi.ResourceOptions(depends_on=[DECLARED[a] for a in addresses if a in DECLARED])


def secret_from_env(variable: str, address: str) -> pulumi.Output[str]:
    """A secret's value from the environment, as a Pulumi secret (never written to a file)."""
    value = os.environ.get(variable)
    if value is None:
        raise RuntimeError(f"{{address}}: set the environment variable {{variable}} to the secret's value "
                           "(platforge export never writes secret values)")
    return pulumi.Output.secret(value)
'''


class ProgramError(Exception):
    """The export cannot be written as a program (a declaration a resource class does not take)."""


def _literal(value: Any, indent: int) -> str:
    """A declaration value as Python source (JSON data: `repr` is valid Python), wrapped like
    a person would wrap it when long."""
    text = pprint.pformat(value, width=max(40, 110 - indent), sort_dicts=False)
    return text.replace("\n", "\n" + " " * indent)


def _call(obj: ExportedObject, module: str, cls: Any, extra: Mapping[str, Any], depends: Sequence[str]) -> str:
    params = inspect.signature(cls.__init__).parameters
    secret_fields = {s.field: s.variable for s in obj.secrets}
    lines = [f"declare({module}.{cls.__name__}(", f"    {obj.address!r},"]
    for name, value in {**obj.declaration, **extra}.items():
        if name not in params or keyword.iskeyword(name) or not name.isidentifier():
            raise ProgramError(f"{obj.address}: {module}.{cls.__name__} takes no argument {name!r}")
        if name in secret_fields:
            lines.append(f"    {name}=secret_from_env({secret_fields[name]!r}, {obj.address!r}),")
        else:
            lines.append(f"    {name}={_literal(value, 4 + len(name) + 1)},")
    lines.append("    adopt=True,")
    if depends:
        lines.append(f"    opts=after({', '.join(repr(a) for a in depends)}),")
    lines.append("))")
    return "\n".join(lines)


def _object_settings(platform: Any, config: Any, export: Export) -> dict[str, dict[str, Any]]:
    """Address -> what a one-object plan of that exported object needs from the whole stack, as
    the TOML door's `declare_stack` passes it (`object_inputs`)."""
    if not getattr(platform, "object_settings", {}):
        return {}
    resources = [platform.kinds[obj.kind].declare(obj.table, obj.declaration, None,
                                                  secret_values={s.field: "(exported)" for s in obj.secrets})
                 for obj in export.objects]
    settings = platform.settings(config, resources)
    return {obj.address: object_inputs(platform, obj.kind, settings) for obj in export.objects}


def kind_order(platform_name: str, refers_to: Mapping[str, set[str]]) -> list[str]:
    """The kinds in the order their modules must run: a kind after the kinds its objects refer to
    (users before the groups that list them as members). A cycle is broken in the platform's own
    kind order; a reference against that order is then named, not a dependency (`after` skips
    what is not declared yet), which only matters for creates: adopting writes nothing."""
    remaining = [k for k in get_platform(platform_name).kinds if k in refers_to]
    order: list[str] = []
    while remaining:
        ready = [k for k in remaining if not (refers_to[k] - {k}) & set(remaining)]
        chosen = ready[0] if ready else remaining[0]
        order.append(chosen)
        remaining.remove(chosen)
    return order


_REFERS_TO = re.compile(r"^REFERS_TO = \((.*)\)$", re.MULTILINE)


def refers_to_of(module_text: str) -> set[str]:
    """The kinds an earlier export's module says it refers to."""
    found = _REFERS_TO.search(module_text)
    return set(re.findall(r"'([^']+)'", found.group(1))) if found else set()


def _refs(obj: ExportedObject) -> list[str]:
    return sorted({f"{ref.kind}.{ref.name}" for ref in obj.refs})


def render_kind(export: Export, kind_name: str, where: str, order: Sequence[str],
                extras: Mapping[str, dict[str, Any]]) -> str:
    """One kind's module: its objects in the export's order, each depending on the objects it
    refers to that modules earlier in `order` declare; `extras`: `_object_settings`."""
    cls = CLASSES[export.platform][kind_name]
    part = export.kinds[kind_name]
    earlier = set(order[:order.index(kind_name)]) | {kind_name}
    body: list[str] = []
    uses_after = False
    for obj in part.objects:
        refs = _refs(obj)
        depends = [a for a in refs if a.split(".", 1)[0] in earlier]
        uses_after = uses_after or bool(depends)
        text = _call(obj, export.platform, cls, extras.get(obj.address, {}), depends)
        later = [a for a in refs if a not in depends]
        if later:
            text = f"# Also refers to {', '.join(later)} (declared by a later module: no dependency)\n" + text
        body.append(text)
    notes = part.notes("pass it")
    comment = "".join("".join(f"# {piece}\n" for piece in textwrap.wrap(line, 100, subsequent_indent="  "))
                      for line in notes)
    uses_secrets = any(obj.secrets for obj in part.objects)
    helpers = ", ".join(sorted(["declare", *(["after"] if uses_after else []),
                                *(["secret_from_env"] if uses_secrets else [])]))
    refers = sorted({a.split(".", 1)[0] for obj in part.objects for a in _refs(obj)} - {kind_name})
    summary = textwrap.fill(f"{kind_name}: {len(part.objects)} object(s) of {where}, each taken over by the first "
                            "`pulumi up` (adopt=True) without a write, since it is declared as it is live.", 100)
    header = (f'{MARK}\n"""{summary}"""\n\n'
              f"from platforge.pulumi import {export.platform}\n\nfrom . import {helpers}\n\n"
              "#: The kinds these objects refer to: `__main__.py` imports their modules first.\n"
              f"REFERS_TO = {tuple(refers)!r}\n")
    return header + (f"\n{comment}" if comment else "") + "\n" + "\n\n".join(body) + ("\n" if body else "")


def _project_name(out_dir: Path, platform: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", out_dir.resolve().name).strip("-.")
    return name or f"platforge-{platform}"


def render_program(export: Export, config: Any, endpoint: str, out_dir: Path, stack: str,
                   present: Mapping[str, set[str]] | None = None) -> dict[str, str]:
    """The files of the program (path relative to `out_dir` -> text). `present`: the kinds whose
    modules an earlier export wrote there (kept, and imported by the new `__main__.py`), with the
    kinds each refers to."""
    present = present or {}
    platform = get_platform(export.platform)
    scope = config.scope() if callable(getattr(config, "scope", None)) else None
    where = f"{export.platform} at {endpoint}" + (f" ({scope})" if scope else "")
    files: dict[str, str] = {f"{PACKAGE}/__init__.py": _HELPERS}
    written = [name for name, part in export.kinds.items()
               if part.refused is None and (part.objects or part.builtin or part.omitted)]
    refers: dict[str, set[str]] = {k: set(v) for k, v in present.items()}
    for name in written:
        refers[name] = {ref.kind for obj in export.kinds[name].objects for ref in obj.refs}
    order = kind_order(export.platform, refers)
    extras = _object_settings(platform, config, export)  # once: it declares every exported object
    for name in written:
        files[f"{PACKAGE}/{name}.py"] = render_kind(export, name, where, order, extras)
    variables = sorted({s.variable for s in export.secret_variables})
    credentials = platform.config_model.credential_fields
    doc = [f"The objects of {where}, adopted:", "the first `pulumi up` takes each over and writes nothing.", "",
           f"Each kind's objects are declared by its module in {PACKAGE}/, imported in dependency order.",
           "Before the first `pulumi up`:", f"    pulumi stack select --create {stack}",
           "    pulumi config set --secret platforge:CREDENTIAL VALUE   (those you sign in with: "
           + ", ".join(credentials) + ")"]
    if variables:
        doc += ["and set the secrets' variables (values are never written here):",
                *(f"    {v}" for v in variables)]
    files["__main__.py"] = (
        f'{MARK}\n"""' + "\n".join(doc) + '\n"""\n\nimport importlib\n\nimport pulumi\n\n'
        f"from {PACKAGE} import DECLARED\n\n"
        "#: A kind after the kinds its objects refer to (users before the groups listing them as members).\n"
        f"KINDS = {tuple(order)!r}\n\n"
        f'for kind in KINDS:\n    importlib.import_module(f"{PACKAGE}.{{kind}}")\n\n'
        'pulumi.export("addresses", sorted(DECLARED))\n'
        'pulumi.export("platform_ids", {address: r.platform_id for address, r in DECLARED.items()})\n')
    description = f"The objects of {where}, adopted by platforge export"
    files["Pulumi.yaml"] = (f"{MARK}\nname: {_project_name(out_dir, export.platform)}\nruntime:\n  name: python\n"
                            f"  options:\n    toolchain: pip\n    virtualenv: venv\ndescription: {json.dumps(description)}\n")
    values = {k: v for k, v in config.model_dump(mode="json", exclude_none=True).items()
              if k != "type" and k not in set(credentials.values())}
    values["endpoint"] = endpoint
    lines = [f"{MARK} The stack {stack}'s settings; credentials are secrets set with", "# " + " or ".join(
        f"`pulumi config set --secret platforge:{c}`" for c in credentials) + ", never written here.", "config:"]
    lines += [f"  platforge:{k}: {json.dumps(v)}" for k, v in values.items()]
    files[f"Pulumi.{stack}.yaml"] = "\n".join(lines) + "\n"
    files["requirements.txt"] = "platforge[pulumi]\n"
    files[".gitignore"] = "venv/\n__pycache__/\n"
    return files


__all__ = ["MARK", "PACKAGE", "ProgramError", "kind_order", "refers_to_of", "render_program"]
