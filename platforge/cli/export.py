"""`platforge export`: adopt a live platform into Git.

Reads a live platform and writes a stack directory the other commands read: the connection
(`[platform]`, with the names of the credential variables, never credentials) and the consent to
adopt what was exported (`[adopt] objects`) in `platform.toml`, and one file per kind. A second
export of another kind into the same directory adds that kind's file and extends the consent
(and `[external]`), so a team adopts one kind at a time. `--format pulumi` writes the same objects
as a Pulumi program instead (`platforge.pulumi.program`): each resource adopts its live object.

Exit codes: 0 exported; 1 an error, or nothing exportable among the kinds asked.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import tomlkit
import typer
from pydantic import ValidationError
from rich.text import Text
from tomlkit.items import Table

from ..core.errors import PlanError
from ..core.export import Export, KindExport, export_platform
from ..core.fingerprint import Fingerprinter, new_key
from ..core.kind import Context
from ..core.schema import explain
from ..provider import PLATFORMS, get_platform
from . import _console
from .stacks import run_guarded

PLATFORM_FILE = "platform.toml"


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


def _read_doc(path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
        raise PlanError(f"{path}: cannot read it as TOML ({exc})") from None


def _stack_files(out_dir: Path) -> dict[Path, tomlkit.TOMLDocument]:
    return {path: _read_doc(path) for path in sorted(out_dir.glob("*.toml")) if path.is_file()}


def _holding(files: Mapping[Path, tomlkit.TOMLDocument], table: str) -> Path | None:
    return next((path for path, doc in files.items() if table in doc), None)


def _config(platform: Any, raw: dict[str, Any], source: str) -> Any:
    model = getattr(platform, "config_model", None)
    if model is None:
        raise PlanError(f"platform {platform.name} has no [platform] table model")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [f"[platform] {'.'.join(str(p) for p in e.get('loc', ()))}: {explain(model, e)}" for e in exc.errors()]
        raise PlanError(f"{source}: " + "; ".join(problems)) from None


def _options(values: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PlanError(f"--option {item!r}: expected KEY=VALUE (a field of the [platform] table)")
        out[key.strip()] = value
    return out


def _toml_value(value: Any) -> Any:
    """Small tables of plain values inline (`{ from_env = "X" }`, ACL principals); the rest as
    tables, so a file reads like a hand-written stack."""
    if isinstance(value, Mapping):
        if all(not isinstance(v, Mapping) and not (isinstance(v, list) and any(isinstance(i, Mapping) for i in v))
               for v in value.values()):
            inline = tomlkit.inline_table()
            for k, v in value.items():
                inline[k] = _toml_value(v)
            return inline
        table = tomlkit.table()
        for k, v in value.items():
            table.add(k, _toml_value(v))
        return table
    if isinstance(value, list):
        array = tomlkit.array()
        for v in value:
            array.append(_inline(v))
        if len(value) > 4 or len(repr(value)) > 80:
            array.multiline(True)
        return array
    return value


def _inline(value: Any) -> Any:
    if isinstance(value, Mapping):
        inline = tomlkit.inline_table()
        for k, v in value.items():
            inline[k] = _inline(v)
        return inline
    if isinstance(value, list):
        array = tomlkit.array()
        for v in value:
            array.append(_inline(v))
        return array
    return value


def render_kind(part: KindExport, existing: tomlkit.TOMLDocument | None, header: list[str]) -> str:
    """The kind's file: a table per exported object (replacing a table of the same name an earlier
    export wrote; other tables kept), with what was left out said in comments."""
    doc = existing if existing is not None else tomlkit.document()
    if existing is None:
        for line in header:
            doc.add(tomlkit.comment(line))
    notes = part.notes("declare it as { from_env = ... }")
    notes += [f"{obj.address}.{s.field}: set {s.variable} to the secret's value (never written here)"
              for obj in part.objects for s in obj.secrets]
    said = tomlkit.dumps(doc) if existing is not None else ""
    notes = [line for line in dict.fromkeys(notes) if f"# {line}" not in said]  # a re-export says it once
    if notes:
        doc.add(tomlkit.nl())
        for line in notes:
            doc.add(tomlkit.comment(line))
    kind_table = doc.get(part.kind)
    if not isinstance(kind_table, Table):
        kind_table = tomlkit.table(is_super_table=True)
        doc.add(part.kind, kind_table)
    for obj in part.objects:
        body = tomlkit.table()
        for key, value in obj.declaration.items():
            body.add(key, _toml_value(value))
        if obj.table in kind_table:
            del kind_table[obj.table]
        kind_table.add(obj.table, body)
    text = tomlkit.dumps(doc)
    parsed = tomllib.loads(text)  # what every other command reads back: the same declarations
    for obj in part.objects:
        if parsed.get(part.kind, {}).get(obj.table) != obj.declaration:
            raise PlanError(f"{obj.address}: its declaration does not survive TOML (a value TOML cannot hold?)")
    return text


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _merge_list(doc: Any, table: str, key: str, values: set[str]) -> None:
    body = doc.get(table)
    if body is None:
        body = tomlkit.table()
        doc.add(table, body)
    current = [str(v) for v in body.get(key, [])]
    merged = current + sorted(values - set(current))
    array = tomlkit.array()
    for v in merged:
        array.append(v)
    array.multiline(len(merged) > 3)
    body[key] = array


def write_stack(out_dir: Path, export: Export, config: Any, endpoint: str,
                files: dict[Path, tomlkit.TOMLDocument]) -> list[Path]:
    """Write the export into `out_dir`; return the files written."""
    written: list[Path] = []
    where = f"{export.platform} at {endpoint}" + (f" ({config.scope()})" if config.scope() else "")
    header = [f"Exported by `platforge export` from {where}.",
              f"The consent to adopt these objects is in {PLATFORM_FILE} ([adopt] objects): the first apply",
              "takes them over and records ownership without writing to the platform."]
    platform_path = _holding(files, "platform") or out_dir / PLATFORM_FILE
    platform_doc = files.get(platform_path)
    if platform_doc is None:
        platform_doc = tomlkit.document()
        platform_doc.add(tomlkit.comment(f"The connection to {export.platform}: credentials come from the variables "
                                         "named here (the platform's defaults where none is named), never from a file."))
        body = tomlkit.table()
        for key, value in config.model_dump(mode="json", exclude_none=True).items():
            body.add(key, _toml_value(value))
        platform_doc.add("platform", body)
    docs: dict[Path, Any] = {platform_path: platform_doc}
    adopt_path = _holding(files, "adopt") or platform_path
    docs.setdefault(adopt_path, files[adopt_path] if adopt_path in files else platform_doc)
    _merge_list(docs[adopt_path], "adopt", "objects", {obj.address for obj in export.objects})
    declared_now = {(obj.kind, obj.table) for obj in export.objects}
    external_path = _holding(files, "external")
    if external_path is not None:
        docs.setdefault(external_path, files[external_path])
        body = docs[external_path]["external"]
        for kind_name in list(body):  # names declared now are managed, no longer external
            kept = [n for n in body[kind_name] if (kind_name, str(n)) not in declared_now]
            if kept:
                array = tomlkit.array()
                for n in kept:
                    array.append(n)
                body[kind_name] = array
            else:
                del body[kind_name]
    if export.external:
        target = external_path or platform_path
        docs.setdefault(target, files.get(target, platform_doc))
        if "external" not in docs[target]:
            docs[target].add(tomlkit.nl())
            docs[target].add(tomlkit.comment("Referred to by exported objects, not exported (yet): named, not managed."))
        for kind_name, names in sorted(export.external.items()):
            _merge_list(docs[target], "external", kind_name, names)
    for name, part in export.kinds.items():
        if part.refused is not None or not (part.objects or part.builtin or part.omitted):
            continue
        path = out_dir / f"{name}.toml"
        _write(path, render_kind(part, files.get(path), header))
        written.append(path)
    for path, doc in docs.items():
        _write(path, tomlkit.dumps(doc))
        written.append(path)
    ignore = out_dir / ".gitignore"
    if not ignore.exists():  # the state and its fingerprint key must never reach Git
        ignore.write_text(".platforge/\n", encoding="utf-8")
    return written


def _existing_tables(files: Mapping[Path, tomlkit.TOMLDocument], platform: Any) -> dict[str, dict[str, Path]]:
    out: dict[str, dict[str, Path]] = {}
    for path, doc in files.items():
        for kind_name in platform.kinds:
            body = doc.get(kind_name)
            if isinstance(body, Mapping):
                for table in body:
                    out.setdefault(kind_name, {})[str(table)] = path
    return out


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        out_dir: Annotated[Path, typer.Argument(help="The stack directory to write (created if missing; a second "
                                                     "export into it adds kinds).")],
        platform_name: Annotated[str | None, typer.Option(
            "--platform", help=f"The platform: {', '.join(PLATFORMS)} (default: OUT_DIR's [platform] type).")] = None,
        endpoint: Annotated[str | None, typer.Option("--endpoint", help="The platform's endpoint (default: OUT_DIR's "
                                                                        "[platform] endpoint).")] = None,
        environment: Annotated[str | None, typer.Option(
            "--environment", help="The environment to export, where the platform has them (Datatailr).")] = None,
        kinds: Annotated[list[str] | None, typer.Option(
            "--kinds", help="Export only these kinds (repeatable or comma-separated; default: every kind).")] = None,
        match: Annotated[list[str] | None, typer.Option(
            "--match", metavar="PATTERN",
            help="Export only objects whose address ('group.ana*') or identity ('ana*') matches (repeatable).")] = None,
        option: Annotated[list[str] | None, typer.Option(
            "--option", metavar="KEY=VALUE",
            help="Another field of the [platform] table for a new OUT_DIR (team=acme, org=acme, token_env=...).")] = None,
        fmt: Annotated[ExportFormat, typer.Option(
            "--format", help="toml: a stack for `platforge plan/apply`; pulumi: a Pulumi program whose resources "
                             "adopt the live objects (one module per kind under adopted/).")] = ExportFormat.toml,
        pulumi_stack: Annotated[str | None, typer.Option(
            "--pulumi-stack", help="With --format pulumi: the stack whose settings file Pulumi.<STACK>.yaml is written "
                                   "(default: the environment, else main).")] = None,
    ) -> None:
        """Write the live platform's objects as a stack (one file per kind, adoption consent
        declared). Exit 0: exported; 1: error, or no kind asked can be exported."""

        def run() -> int:
            if out_dir.exists() and not out_dir.is_dir():
                raise PlanError(f"{out_dir} is not a directory")
            if fmt is ExportFormat.pulumi:
                return _export_program(out_dir, platform_name, endpoint, environment, _split(kinds), _split(match),
                                       option, pulumi_stack)
            if pulumi_stack is not None:
                raise PlanError("--pulumi-stack goes with --format pulumi")
            if (out_dir / "Pulumi.yaml").exists():
                raise PlanError(f"{out_dir} holds a Pulumi program: export a TOML stack into another directory")
            files = _stack_files(out_dir) if out_dir.is_dir() else {}
            platform_path = _holding(files, "platform")
            if platform_path is not None:
                table = files[platform_path]["platform"]
                if not isinstance(table, Table):
                    raise PlanError(f"{platform_path}: [platform] is not a table")
                raw = dict(table.unwrap())
                if platform_name is not None and raw.get("type") != platform_name:
                    raise PlanError(f"{platform_path} is a stack of platform {raw.get('type')!r}, not {platform_name!r}; "
                                    "export into another directory")
                source = str(platform_path)
                if environment is not None and raw.get("environment") not in (None, environment):
                    raise PlanError(f"{platform_path} targets environment {raw.get('environment')!r}, not "
                                    f"{environment!r}: one stack, one target; export into another directory")
                if option:
                    raise PlanError(f"--option applies to a new stack; edit [platform] in {platform_path} instead")
            else:
                if platform_name is None or endpoint is None:
                    raise PlanError("a new OUT_DIR needs --platform and --endpoint (its [platform] table is written "
                                    f"as {out_dir / PLATFORM_FILE})")
                raw = {"type": platform_name, "endpoint": endpoint, **_options(option)}
                if environment is not None:
                    raw["environment"] = environment
                source = "the [platform] table from the options"
            platform, asked = _platform_and_kinds(raw, _split(kinds))
            config = _config(platform, raw, source)
            existing = _existing_tables(files, platform)
            result = _read_live(platform, config, endpoint, asked, _split(match),
                                {k: set(v) for k, v in existing.items()})
            for part in result.kinds.values():  # a table another file declares is that file's
                clashes = [o for o in part.objects if existing.get(part.kind, {}).get(o.table, out_dir / f"{part.kind}.toml")
                           != out_dir / f"{part.kind}.toml"]
                for obj in clashes:
                    part.objects.remove(obj)
                    part.omitted.append((obj.address, f"already declared in {existing[part.kind][obj.table]}"))
            out_dir.mkdir(parents=True, exist_ok=True)
            written = write_stack(out_dir, result, config, endpoint or config.endpoint, files)
            _report(result, written)
            return 0

        raise typer.Exit(run_guarded(run))


class ExportFormat(str, Enum):
    toml = "toml"
    pulumi = "pulumi"


def _platform_and_kinds(raw: Mapping[str, Any], asked: list[str]) -> tuple[Any, list[str]]:
    """The platform and the kinds asked, refused (exit 1) when none of them can be exported."""
    try:
        platform = get_platform(str(raw.get("type")))
    except KeyError as exc:
        raise PlanError(f"unknown platform {raw.get('type')!r}: expected one of {exc.args[0]}") from None
    unknown = [k for k in asked if k not in platform.kinds]
    if unknown:
        raise PlanError(f"unknown kind(s) for platform {platform.name}: {', '.join(unknown)}; expected one of "
                        f"{', '.join(platform.kinds)}")
    refusals = {k: platform.kinds[k].not_exportable for k in asked or list(platform.kinds)}
    if all(refusals.values()):
        for k, why in refusals.items():
            _console.error(f"kind {k} is not exportable: {why}")
        raise typer.Exit(1)
    return platform, asked


def _read_live(platform: Any, config: Any, endpoint: str | None, asked: list[str], match: list[str],
               declared: Mapping[str, set[str]]) -> Export:
    client = platform.connect(config, endpoint)
    ctx = Context(client, Fingerprinter(new_key()), platform.settings(config, []))
    return export_platform(platform, ctx, config, kinds=asked, match=match, declared=declared)


def _export_program(out_dir: Path, platform_name: str | None, endpoint: str | None, environment: str | None,
                    asked: list[str], match: list[str], option: list[str] | None, stack: str | None) -> int:
    """`--format pulumi`: write (or extend, one kind at a time) a Pulumi program that adopts the
    live objects. The connection comes from the options every time: a program keeps its settings
    in Pulumi's stack config, which this command does not read back."""
    from ..pulumi.program import MARK, PACKAGE, ProgramError, refers_to_of, render_program

    if platform_name is None or endpoint is None:
        raise PlanError("--format pulumi needs --platform and --endpoint")
    if any(out_dir.glob("*.toml")):
        raise PlanError(f"{out_dir} holds a TOML stack: write the Pulumi program into another directory")
    raw: dict[str, Any] = {"type": platform_name, "endpoint": endpoint, **_options(option)}
    if environment is not None:
        raw["environment"] = environment
    platform, kinds_asked = _platform_and_kinds(raw, asked)
    present: dict[str, set[str]] = {}
    for module in sorted((out_dir / PACKAGE).glob("*.py")):
        text = module.read_text(encoding="utf-8")
        if module.stem == "__init__" or not text.startswith(MARK):
            continue
        other = re.search(r"^from platforge\.pulumi import (\w+)$", text, re.MULTILINE)
        if other is not None and other.group(1) != platform.name:
            raise PlanError(f"{out_dir} holds a program adopting {other.group(1)}, not {platform.name}: one program, "
                            "one platform; export into another directory")
        if module.stem in platform.kinds:
            present[module.stem] = refers_to_of(text)
    config = _config(platform, raw, "the [platform] table from the options")
    result = _read_live(platform, config, endpoint, kinds_asked, match, {})
    for name in result.exported_kinds:
        present.pop(name, None)
    name = stack or str(getattr(config, "environment", None) or "main")
    try:
        files = render_program(result, config, endpoint, out_dir, name, present)
    except ProgramError as exc:
        raise PlanError(str(exc)) from None
    written: list[Path] = []
    keep_if_there = {f"Pulumi.{name}.yaml", "requirements.txt", ".gitignore"}  # `pulumi config set` edits the first
    for relative, text in files.items():
        path = out_dir / relative
        if path.exists() and relative in keep_if_there:
            continue
        if path.exists() and not path.read_text(encoding="utf-8").startswith(MARK):
            raise PlanError(f"{path} was not written by platforge export: move it away or export into another "
                            "directory (nothing was written)")
        if relative.endswith(".py"):
            compile(text, str(path), "exec")  # what Python will read: a writer defect shows here, not in `pulumi up`
    for relative, text in files.items():
        path = out_dir / relative
        if path.exists() and relative in keep_if_there:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, text)
        written.append(path)
    _report(result, written, program=True)
    return 0


def _report(export: Export, written: list[Path], program: bool = False) -> None:
    out = _console.stdout()
    total = 0
    for name, part in export.kinds.items():
        if part.refused is not None:
            out.print(Text(f"{name}: not exportable: {part.refused}"))
            continue
        total += len(part.objects)
        line = f"{name}: {len(part.objects)} exported"
        if part.builtin:
            line += f", {len(part.builtin)} left out as the platform's own ({', '.join(part.builtin)})"
        if part.omitted:
            line += f", {len(part.omitted)} left out (see the comments in {f'adopted/{name}.py' if program else f'{name}.toml'})"
        if part.unmatched:
            line += f", {part.unmatched} not matching --match"
        out.print(Text(line))
        for address, why in part.omitted:
            out.print(Text(f"  left out {address}: {why}"))
        for obj in part.objects:
            if obj.dropped:
                out.print(Text(f"  {obj.address}: {', '.join(obj.dropped)} left to the platform (not declared)"))
    if export.external:
        names = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in sorted(export.external.items()))
        out.print(Text(f"Named under [external] (referred to, not exported): {names}"))
    variables = export.secret_variables
    if variables:
        out.print(Text("Secrets are references, never values: set these variables before plan or apply:"))
        for s in variables:
            out.print(Text(f"  {s.variable}  ({s.address}.{s.field})"))
    if program:
        out.print(Text(f"Wrote {', '.join(str(p) for p in written) or 'nothing'}: {total} object(s), each with "
                       "adopt=True. Next: set the stack's credentials (see __main__.py), then `pulumi up`: it takes "
                       "them over and writes nothing to the platform."))
        return
    out.print(Text(f"Wrote {', '.join(str(p) for p in written) or 'nothing'}: {total} object(s), adoption consent in "
                   f"[adopt]. Next: platforge plan {written[0].parent if written else '.'} (imports only), then "
                   "apply --yes to record ownership."))


__all__ = ["register", "render_kind", "write_stack"]
