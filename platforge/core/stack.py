"""Stacks: a directory of TOML files declaring one platform target and its objects.

    [stack]            name = "team-data"              (optional; defaults to the directory name)
    [platform]         type, endpoint, environment, and the *names* of credential variables
    [state]            backend = "local" | "platform", path / prefix
    [external]         user = ["bob"], group = ["finance"]: objects referenced but not managed
    [<kind>.<name>]    one object per table, e.g. [user.alice], [kv.db_url]

Everything is validated before any API call, and every problem names its file, the key path
and, where it can be found, the line.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import Problem, StackError
from .model import Identity, Resource, SourceLocation
from .plan import Platform
from .schema import Name, StrictInt, describe_found, expects, explain
from .secrets import SecretUnavailable

RESERVED_TABLES = {"stack", "platform", "state", "external", "adopt", "unmanaged"}


class PlatformConfig(BaseModel):
    """`[platform]`: what every platform's table has. Each platform extends it with its own
    fields (an environment, a team, an org or account, the names of the environment variables
    holding its credentials) in its `config_model`; the core reads only these.

    Credentials themselves never live in the stack: only the *names* of the variables do.
    """

    model_config = ConfigDict(extra="forbid")

    #: Credential -> the field of this table that names the environment variable holding it
    #: (e.g. {"password": "password_env"}): how a front door that holds the values itself (the
    #: Pulumi provider, from secret stack config) hands them over through the same model.
    credential_fields: ClassVar[Mapping[str, str]] = {}

    type: Name
    endpoint: Name
    parallelism: StrictInt = Field(default=4, ge=1, le=64, json_schema_extra=expects("an integer from 1 to 64"))

    def scope(self) -> str:
        """The part of the target beyond the endpoint that a state is bound to (an environment,
        an org), or "" where a platform has none."""
        return ""


class _PlatformType(BaseModel):
    """The one field read before the platform is known: which platform owns the table."""

    model_config = ConfigDict(extra="allow")

    type: Name


#: `${NAME}` in `[state] path`: an environment variable's value.
_STATE_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class StateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "platform"] = "local"
    path: Name = ".platforge/state.json"
    prefix: Name | None = None
    #: Groups whose members may read and write this stack's state, lock and fingerprint key on
    #: the `platform` backend, besides the identity that applies (see the README's security section).
    operators: list[Name] = Field(default_factory=list, json_schema_extra=expects("a list of group names"))

    def variables(self) -> list[str]:
        """The environment variables `path` names as `${NAME}` (a CI runner's state directory)."""
        return _STATE_VARIABLE.findall(self.path)

    def resolved_path(self, environ: Mapping[str, str] | None = None) -> str:
        """`path` with each `${NAME}` replaced by that environment variable's value (checked
        when the stack is read: an unset one is a stack problem)."""
        env = os.environ if environ is None else environ
        return _STATE_VARIABLE.sub(lambda m: env[m.group(1)], self.path)


class StackMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None


class AdoptConfig(BaseModel):
    """`[adopt] objects = [...]`: consent, kept in Git, to take over existing objects on apply
    (like Terraform's import blocks). Patterns are addresses with wildcards."""

    model_config = ConfigDict(extra="forbid")

    objects: list[Name] = Field(default_factory=list, json_schema_extra=expects("a list of addresses such as 'user.alice' or 'group.*'"))


class UnmanagedConfig(BaseModel):
    """`[unmanaged] ignore = [...]`: live objects this stack knows about and does not want to
    hear of in drift (address patterns, e.g. 'user.svc-*')."""

    model_config = ConfigDict(extra="forbid")

    ignore: list[Name] = Field(default_factory=list, json_schema_extra=expects("a list of address patterns such as 'user.svc-*'"))


@dataclass
class Stack:
    name: str
    directory: Path
    platform_config: PlatformConfig
    state_config: StateConfig
    resources: list[Resource]
    external: dict[str, set[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    adopt: list[str] = field(default_factory=list)
    unmanaged_ignore: list[str] = field(default_factory=list)


PlatformLookup = Callable[[str], Platform]


def load_stack(directory: str | Path, lookup: PlatformLookup, declarations: bool = True) -> tuple[Stack, Platform]:
    """Read and validate every `*.toml` file in `directory`; raise StackError with all problems.

    `declarations=False` reads only what locates the stack's state (its name, `[platform]`,
    `[state]`): `platforge lock` needs no secret's value and must work while a declaration is
    broken."""
    root = Path(directory)
    if not root.is_dir():
        raise StackError(Problem(file=str(root), message="stack directory does not exist"))
    files = sorted(root.glob("*.toml"))
    if not files:
        raise StackError(Problem(file=str(root), message="no *.toml files found: expected a stack directory"))

    problems: list[Problem] = []
    documents: list[tuple[Path, str, dict[str, Any]]] = []
    for path in files:
        parsed = _read_toml(path, problems)
        if parsed is not None:
            documents.append((path, *parsed))
    if problems:
        raise StackError(problems)

    platform_type = _single_table(documents, "platform", _PlatformType, problems, required=True)
    state_cfg = _single_table(documents, "state", StateConfig, problems) or StateConfig()
    meta = _single_table(documents, "stack", StackMeta, problems) or StackMeta()
    adopt_cfg = _single_table(documents, "adopt", AdoptConfig, problems) or AdoptConfig()
    unmanaged_cfg = _single_table(documents, "unmanaged", UnmanagedConfig, problems) or UnmanagedConfig()
    for variable in state_cfg.variables():
        if not os.environ.get(variable):
            where = next((str(p), _locate(text, ["state"], "path")) for p, text, doc in documents if "state" in doc)
            problems.append(Problem(file=where[0], line=where[1], path="state.path",
                                    message=f"the environment variable {variable} (named by ${{{variable}}}) is not set: "
                                            "set it to the directory that keeps this stack's state between runs"))
    if platform_type is None or problems:
        raise StackError(problems)
    try:
        platform = lookup(platform_type.type)
    except KeyError as exc:
        where = _find_table(documents, "platform")
        raise StackError(Problem(file=where[0], line=where[1], path="platform.type",
                                 message=f"unknown platform type {platform_type.type!r}: expected one of {exc.args[0]}")) from None
    # The platform owns the rest of its table's schema.
    platform_cfg = _single_table(documents, "platform", getattr(platform, "config_model", PlatformConfig), problems)
    if platform_cfg is None:
        raise StackError(problems)

    external: dict[str, set[str]] = {}
    resources: list[Resource] = []
    seen_addresses: dict[str, str] = {}
    #: Every declaration, valid or not: a reference to an object whose declaration has a typo
    #: is not also "not declared" (one true message per mistake).
    declared_names: set[tuple[str, str]] = set()
    for path, text, doc in documents if declarations else ():
        for table, body in doc.items():
            if table in RESERVED_TABLES:
                if table == "external":
                    _read_external(path, text, body, platform, external, problems)
                continue
            kind = platform.kinds.get(table)
            if kind is None:
                problems.append(Problem(
                    file=str(path), line=_locate(text, [table]), path=table,
                    message=f"unknown kind {table!r} for platform {platform.name}{_did_you_mean(table, [*platform.kinds, *RESERVED_TABLES])}"
                            f" expected one of {', '.join(sorted(platform.kinds))} "
                            f"(or {', '.join(sorted(RESERVED_TABLES))})"))
                continue
            if not isinstance(body, dict):
                problems.append(Problem(file=str(path), line=_locate(text, [table]), path=table,
                                        message=f"expected tables like [{table}.<name>], found a {type(body).__name__}"))
                continue
            for name, raw in body.items():
                address = f"{table}.{name}"
                line = _locate(text, [table, name])
                if not isinstance(raw, dict):
                    problems.append(Problem(file=str(path), line=line, path=address,
                                            message=f"expected a table of fields, found {type(raw).__name__}"))
                    continue
                if address in seen_addresses:
                    problems.append(Problem(file=str(path), line=line, path=address,
                                            message=f"duplicate declaration: {address} is also declared in {seen_addresses[address]}"))
                    continue
                seen_addresses[address] = f"{path}:{line}" if line else str(path)
                declared_names.add((table, name))
                raw = _with_defaults(raw, kind, platform, platform_cfg)
                try:
                    resources.append(kind.declare(name, raw, SourceLocation(str(path), line), str(root)))
                except ValidationError as exc:
                    hidden = frozenset(kind.sensitive_fields | kind.create_only_fields)
                    for err in exc.errors():
                        loc = [str(p) for p in err.get("loc", ())]
                        key = loc[0] if loc else None
                        problems.append(Problem(
                            file=str(path), line=_locate(text, [table, name], key) or line,
                            path=".".join([table, name, *loc]),
                            message=explain(kind.spec_model, err, hidden)))
                except SecretUnavailable as exc:
                    problems.append(Problem(file=str(path), line=line, path=address, message=str(exc)))
                except ValueError as exc:
                    problems.append(Problem(file=str(path), line=line, path=address, message=str(exc)))

    problems.extend(_duplicate_identities(resources))
    problems.extend(_dangling_references(resources, platform, external, declared_names))
    problems.extend(platform.validate_stack(resources))
    if problems:
        raise StackError(problems)
    stack = Stack(
        name=meta.name or root.resolve().name,
        directory=root,
        platform_config=platform_cfg,
        state_config=state_cfg,
        resources=resources,
        external=external,
        files=[str(p) for p in files],
        adopt=list(adopt_cfg.objects),
        unmanaged_ignore=list(unmanaged_cfg.ignore),
    )
    return stack, platform


#: A stack file is a page of declarations, not a data set: a bigger one is a mistake.
MAX_STACK_FILE_BYTES = 16 << 20


def _read_toml(path: Path, problems: list[Problem]) -> tuple[str, dict[str, Any]] | None:
    """Parse one stack file, turning everything that can go wrong with a file into a Problem:
    not a regular file (a directory, a dangling link, a FIFO that would block), not UTF-8,
    invalid or pathologically nested TOML."""
    try:
        info = path.stat()
    except OSError as exc:
        problems.append(Problem(file=str(path), message=f"cannot read this file: {exc.strerror or exc}"))
        return None
    if not stat.S_ISREG(info.st_mode):
        problems.append(Problem(file=str(path), message="not a regular file: a stack's *.toml entries must be files"))
        return None
    if info.st_size > MAX_STACK_FILE_BYTES:
        problems.append(Problem(file=str(path), message=f"file is larger than {MAX_STACK_FILE_BYTES} bytes"))
        return None
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        problems.append(Problem(file=str(path), message=f"cannot read this file: {exc.strerror or exc}"))
        return None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        problems.append(Problem(file=str(path), line=line, message="not UTF-8 text: TOML files must be UTF-8"))
        return None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(Problem(file=str(path), line=_toml_error_line(exc, text), message=f"invalid TOML: {exc}"))
    except RecursionError:
        problems.append(Problem(file=str(path), message="invalid TOML: nested too deeply"))
    return None


def _with_defaults(raw: dict[str, Any], kind: Any, platform: Platform, platform_cfg: PlatformConfig) -> dict[str, Any]:
    """What the platform's table implies for a declaration (a default environment, a project),
    as the platform says: the core knows none of these fields."""
    defaults = getattr(platform, "declaration_defaults", None)
    implied = defaults(kind, platform_cfg) if defaults is not None else {}
    return {**implied, **raw}


Document = tuple[Path, str, dict[str, Any]]
ModelT = TypeVar("ModelT", bound=BaseModel)


def _single_table(documents: list[Document], name: str, model: type[ModelT], problems: list[Problem],
                  required: bool = False) -> ModelT | None:
    found = [(path, text, doc[name]) for path, text, doc in documents if name in doc]
    if not found:
        if required:
            problems.append(Problem(file=str(documents[0][0].parent), path=name,
                                    message=f"no [{name}] table in any file: exactly one is required"))
        return None
    if len(found) > 1:
        problems.append(Problem(file=str(found[1][0]), line=_locate(found[1][1], [name]), path=name,
                                message=f"[{name}] is declared more than once (also in {found[0][0]})"))
        return None
    path, text, body = found[0]
    if not isinstance(body, dict):
        problems.append(Problem(file=str(path), line=_locate(text, [name]), path=name,
                                message=f"expected a table [{name}]; found {describe_found(body)}"))
        return None
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            problems.append(Problem(file=str(path), line=_locate(text, [name], loc[0] if loc else None),
                                    path=".".join([name, *loc]), message=explain(model, err)))
        return None


def _find_table(documents: list[Document], name: str) -> tuple[str, int | None]:
    for path, text, doc in documents:
        if name in doc:
            return str(path), _locate(text, [name])
    return str(documents[0][0]), None


def _read_external(path: Path, text: str, body: Any, platform: Platform, external: dict[str, set[str]],
                   problems: list[Problem]) -> None:
    if not isinstance(body, dict):
        problems.append(Problem(file=str(path), line=_locate(text, ["external"]), path="external",
                                message="expected a table mapping kinds to lists of names"))
        return
    for kind_name, names in body.items():
        if kind_name not in platform.kinds:
            problems.append(Problem(file=str(path), line=_locate(text, ["external"], kind_name),
                                    path=f"external.{kind_name}",
                                    message=f"unknown kind {kind_name!r}{_did_you_mean(kind_name, platform.kinds)}"
                                            f" expected one of {', '.join(sorted(platform.kinds))}"))
            continue
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            problems.append(Problem(file=str(path), line=_locate(text, ["external"], kind_name),
                                    path=f"external.{kind_name}",
                                    message=f"expected a list of {kind_name} names; found {describe_found(names)}"))
            continue
        external.setdefault(kind_name, set()).update(names)


def _did_you_mean(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?);" if close else ":"


def _duplicate_identities(resources: list[Resource]) -> list[Problem]:
    problems = []
    seen: dict[tuple[str, Identity], Resource] = {}
    for resource in resources:
        key = (resource.kind, tuple(resource.identity))
        if key in seen:
            other = seen[key]
            problems.append(Problem(
                file=resource.source.file if resource.source else "<stack>",
                line=resource.source.line if resource.source else None, path=resource.address,
                message=f"{resource.address} and {other.address} ({other.source}) both declare "
                        f"{resource.kind} {'/'.join(map(str, resource.identity))}"))
        else:
            seen[key] = resource
    return problems


def _dangling_references(resources: list[Resource], platform: Platform, external: Mapping[str, set[str]],
                         declared: set[tuple[str, str]]) -> list[Problem]:
    problems = []
    for resource in resources:
        for ref in resource.refs:
            if (ref.kind, ref.name) in declared or ref.name in external.get(ref.kind, set()):
                continue
            kind = platform.kinds.get(ref.kind)
            if kind is not None and ref.name in kind.builtin_names:
                continue
            problems.append(Problem(
                file=resource.source.file if resource.source else "<stack>",
                line=resource.source.line if resource.source else None, path=resource.address,
                message=f"refers to {ref.kind} {ref.name!r}, which is not declared in this stack; declare "
                        f"[{ref.kind}.{ref.name}] or list it under [external] {ref.kind} = [...]"))
    return problems


_TOML_LINE = re.compile(r"at line (\d+)")


def _toml_error_line(exc: Exception, text: str) -> int | None:
    """The line tomllib names, or for an error it places "at end of document" (an array or
    string never closed) the last line, which is where a reader starts looking."""
    match = _TOML_LINE.search(str(exc))
    if match:
        return int(match.group(1))
    if "end of document" in str(exc):
        return max(1, len(text.rstrip("\n").split("\n")))
    return None


_HEADER = re.compile(r"^\s*\[(?!\[)\s*(?P<inner>[^\]]+?)\s*\]\s*(#.*)?$")
_PART = re.compile(r"\"([^\"]*)\"|'([^']*)'|([^.\s\"']+)")


class _SourceIndex:
    """Where each `[table]` header starts in one file, built in one pass so that locating every
    declaration of a large stack stays linear."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers: dict[tuple[str, ...], int] = {}
        for number, line in enumerate(self.lines, start=1):
            match = _HEADER.match(line)
            if match:
                parts = tuple(next(g for g in m.groups() if g is not None) for m in _PART.finditer(match["inner"]))
                self.headers.setdefault(parts, number)

    def locate(self, table: list[str], key: str | None) -> int | None:
        path = tuple(table)
        line = self.headers.get(path)
        if line is not None:
            if key is None:
                return line
            nested = self.headers.get((*path, key))
            if nested is not None:
                return nested
            key_re = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*=")
            for number in range(line + 1, len(self.lines) + 1):
                candidate = self.lines[number - 1]
                if _HEADER.match(candidate):
                    break
                if key_re.match(candidate):
                    return number
            return line
        if key is None:
            nested_lines = [n for parts, n in self.headers.items() if parts[: len(path)] == path]
            if nested_lines:
                return min(nested_lines)
        if len(table) >= 2:  # inline form `name = { ... }` or a dotted key `name.field = ...`
            inline = re.compile(rf"^\s*{re.escape(table[-1])}\s*(=|\.)")
            for number, candidate in enumerate(self.lines, start=1):
                if inline.match(candidate):
                    return number
        return None


@lru_cache(maxsize=64)
def _index(text: str) -> _SourceIndex:
    return _SourceIndex(text)


def _locate(text: str, table: list[str], key: str | None = None) -> int | None:
    """Best-effort line of `[a.b]` (or of `key` inside it) in `text`; None when unsure."""
    return _index(text).locate(table, key)
