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

import re
import tomllib
from functools import lru_cache
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import Problem, StackError
from .model import Resource, SourceLocation
from .plan import Platform
from .secrets import SecretUnavailable

RESERVED_TABLES = {"stack", "platform", "state", "external"}


class PlatformConfig(BaseModel):
    """`[platform]`: which platform, where, and which environment variables hold credentials.

    Credentials themselves never live in the stack: only the *names* of the variables do.
    """

    model_config = ConfigDict(extra="forbid")

    type: str
    endpoint: str
    environment: str = "dev"
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    parallelism: int = Field(default=4, ge=1, le=64)
    rate_limit: float | None = Field(default=None, gt=0)


class StateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = "local"
    path: str = ".platforge/state.json"
    prefix: str | None = None


class StackMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None


@dataclass
class Stack:
    name: str
    directory: Path
    platform_config: PlatformConfig
    state_config: StateConfig
    resources: list[Resource]
    external: dict[str, set[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


PlatformLookup = Callable[[str], Platform]


def load_stack(directory: str | Path, lookup: PlatformLookup) -> tuple[Stack, Platform]:
    """Read and validate every `*.toml` file in `directory`; raise StackError with all problems."""
    root = Path(directory)
    if not root.is_dir():
        raise StackError(Problem(file=str(root), message="stack directory does not exist"))
    files = sorted(root.glob("*.toml"))
    if not files:
        raise StackError(Problem(file=str(root), message="no *.toml files found: expected a stack directory"))

    problems: list[Problem] = []
    documents: list[tuple[Path, str, dict[str, Any]]] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            documents.append((path, text, tomllib.loads(text)))
        except tomllib.TOMLDecodeError as exc:
            problems.append(Problem(file=str(path), line=_toml_error_line(exc), message=f"invalid TOML: {exc}"))
    if problems:
        raise StackError(problems)

    platform_cfg = _single_table(documents, "platform", PlatformConfig, problems, required=True)
    state_cfg = _single_table(documents, "state", StateConfig, problems) or StateConfig()
    meta = _single_table(documents, "stack", StackMeta, problems) or StackMeta()
    if platform_cfg is None:
        raise StackError(problems)
    try:
        platform = lookup(platform_cfg.type)
    except KeyError as exc:
        where = _find_table(documents, "platform")
        raise StackError(Problem(file=where[0], line=where[1], path="platform.type",
                                 message=f"unknown platform type {platform_cfg.type!r}: expected one of {exc.args[0]}")) from None

    external: dict[str, set[str]] = {}
    resources: list[Resource] = []
    seen_addresses: dict[str, str] = {}
    for path, text, doc in documents:
        for table, body in doc.items():
            if table in RESERVED_TABLES:
                if table == "external":
                    _read_external(path, text, body, platform, external, problems)
                continue
            kind = platform.kinds.get(table)
            if kind is None:
                problems.append(Problem(
                    file=str(path), line=_locate(text, [table]), path=table,
                    message=f"unknown kind {table!r} for platform {platform.name}: expected one of "
                            f"{', '.join(sorted(platform.kinds))} (or stack, platform, state, external)"))
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
                raw = _with_defaults(raw, kind, platform_cfg)
                try:
                    resources.append(kind.declare(name, raw, SourceLocation(str(path), line), str(root)))
                except ValidationError as exc:
                    for err in exc.errors():
                        loc = [str(p) for p in err.get("loc", ())]
                        key = loc[0] if loc else None
                        problems.append(Problem(
                            file=str(path), line=_locate(text, [table, name], key) or line,
                            path=".".join([table, name, *loc]),
                            message=_explain(err)))
                except SecretUnavailable as exc:
                    problems.append(Problem(file=str(path), line=line, path=address, message=str(exc)))
                except ValueError as exc:
                    problems.append(Problem(file=str(path), line=line, path=address, message=str(exc)))

    problems.extend(_duplicate_identities(resources))
    problems.extend(_dangling_references(resources, platform, external))
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
    )
    return stack, platform


def _with_defaults(raw: dict[str, Any], kind: Any, platform_cfg: PlatformConfig) -> dict[str, Any]:
    """Environment-scoped kinds default to the stack's [platform] environment."""
    if "environment" in kind.spec_model.model_fields and "environment" not in raw:
        return {**raw, "environment": platform_cfg.environment}
    return raw


def _single_table(documents, name: str, model: type[BaseModel], problems: list[Problem], required: bool = False):
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
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            problems.append(Problem(file=str(path), line=_locate(text, [name], loc[0] if loc else None),
                                    path=".".join([name, *loc]), message=_explain(err)))
        return None


def _find_table(documents, name: str) -> tuple[str, int | None]:
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
                                    path=f"external.{kind_name}", message=f"unknown kind {kind_name!r}"))
            continue
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            problems.append(Problem(file=str(path), line=_locate(text, ["external"], kind_name),
                                    path=f"external.{kind_name}", message="expected a list of names"))
            continue
        external.setdefault(kind_name, set()).update(names)


def _duplicate_identities(resources: list[Resource]) -> list[Problem]:
    problems = []
    seen: dict[tuple[str, tuple], Resource] = {}
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


def _dangling_references(resources: list[Resource], platform: Platform, external: Mapping[str, set[str]]) -> list[Problem]:
    declared = {(r.kind, r.name) for r in resources}
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


def _explain(err: Mapping[str, Any]) -> str:
    message = err.get("msg", "invalid value")
    if err.get("type") == "extra_forbidden":
        return "unknown field (not part of this kind's schema)"
    if "input" in err and err.get("type") != "missing" and not isinstance(err["input"], (dict, list)):
        return f"{message}; found {err['input']!r}"
    return message


_TOML_LINE = re.compile(r"at line (\d+)")


def _toml_error_line(exc: Exception) -> int | None:
    match = _TOML_LINE.search(str(exc))
    return int(match.group(1)) if match else None


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
