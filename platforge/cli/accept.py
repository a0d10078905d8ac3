"""`platforge drift --accept ADDRESS`: make the stack say what the platform now has.

For each chosen address, the live values of its out-of-band field changes are written back into
the TOML file that declares it, in place: only those values change, and every comment, blank
line, key order and quoting elsewhere in the file stays byte for byte (tomlkit). Nothing else is
accepted: declared changes, missing and unmanaged objects are not out-of-band edits of a declared
field, and a secret is never written into a stack file (its source is an environment variable or
a file the stack points at; the command says so and leaves it).

Every address is checked before any file is touched; an address with nothing to accept is an
error (exit 1) and nothing is written. After writing, the stack is loaded again; should it no
longer load, every file is put back as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import InlineTable, Table

from ..core.drift import DriftReport
from ..core.errors import StackError
from ..core.model import Cause, FieldChange, Resource
from ..core.stack import load_stack
from ..provider import get_platform

#: An inline table with one of these keys is a reference to a value kept elsewhere (an
#: environment variable, a file, a program, another object's output): accepting a live value
#: into it would replace the reference with a copy, so it is refused.
REFERENCE_KEYS = frozenset({"from_env", "from_file", "from_program", "output"})
SECRET_NOTE = "platforge never writes a secret into a stack file"


class AcceptError(Exception):
    """Why nothing was accepted: one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass
class Accepted:
    address: str
    file: str
    fields: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)


def accept(report: DriftReport, resources: Sequence[Resource], addresses: Sequence[str],
           stack_dir: Path) -> list[Accepted]:
    """Write the live values of the chosen addresses' out-of-band changes into their files."""
    by_address = {r.address: r for r in resources}
    problems: list[str] = []
    chosen: list[tuple[Resource, list[FieldChange], list[FieldChange]]] = []
    for address in dict.fromkeys(addresses):
        findings = [f for f in report.findings if f.address == address]
        resource = by_address.get(address)
        if resource is None:
            causes = sorted({f.cause.value for f in findings})
            why = f" (its drift: {', '.join(causes)})" if causes else ""
            problems.append(f"{address}: not declared in this stack{why}; only declared objects can accept live values")
            continue
        out_of_band = [c for f in findings if f.cause is Cause.OUT_OF_BAND for c in f.changes]
        if not out_of_band:
            causes = sorted({f.cause.value for f in findings})
            why = f"its drift is {', '.join(causes)}" if causes else "it is in sync"
            problems.append(f"{address}: nothing to accept: no field changed on the platform since the last apply ({why})")
            continue
        plain = [c for c in out_of_band if not c.sensitive]
        secrets = [c for c in out_of_band if c.sensitive]
        if not plain:
            names = ", ".join(c.path for c in secrets)
            problems.append(f"{address}: nothing to accept: only its secret ({names}) changed on the platform, and "
                            f"{SECRET_NOTE}; update the secret's source and apply, or apply to put the stack's value back")
            continue
        if resource.source is None or not resource.source.file:
            problems.append(f"{address}: its declaration has no source file to write to")
            continue
        chosen.append((resource, plain, secrets))
    if problems:
        raise AcceptError(problems)

    documents: dict[Path, tuple[str, Any]] = {}
    results: list[Accepted] = []
    for resource, plain, secrets in chosen:
        assert resource.source is not None
        path = Path(resource.source.file)
        if path not in documents:
            text = path.read_bytes().decode("utf-8")  # as is: no newline translation
            documents[path] = (text, tomlkit.parse(text))
        table = _declaration(documents[path][1], resource)
        if table is None:
            problems.append(f"{resource.address}: cannot find [{resource.kind}.{resource.name}] in {path}")
            continue
        done = Accepted(resource.address, str(path), secrets=[c.path for c in secrets])
        for change in plain:
            problem = _set(table, change.path, change.new)
            if problem:
                problems.append(f"{resource.address}: {change.path}: {problem}")
            else:
                done.fields.append(change.path)
        results.append(done)
    if problems:
        raise AcceptError(problems)

    originals = {path: text for path, (text, _) in documents.items()}
    try:
        for path, (_, document) in documents.items():
            _write(path, tomlkit.dumps(document))
        load_stack(stack_dir, get_platform)  # the stack must still load as it did
    except (StackError, OSError) as exc:
        for path, text in originals.items():
            _write(path, text)
        detail = "; ".join(str(p) for p in exc.problems) if isinstance(exc, StackError) else str(exc)
        raise AcceptError([f"the accepted values do not make a valid stack, so every file was put back: {detail}"]) \
            from None
    return results


def _declaration(document: Any, resource: Resource) -> Any:
    kind = document.get(resource.kind)
    if not isinstance(kind, Mapping):
        return None
    table = kind.get(resource.name)
    return table if isinstance(table, Mapping) else None


def _is_reference(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = REFERENCE_KEYS & set(value)
        if keys:
            return sorted(keys)[0]
    return ""


def _set(table: Any, path: str, value: Any) -> str:
    """Set `path` (dotted; a key that itself holds dots is matched whole first) to `value` in
    the declaration's table; "" when done, else why not. None removes the key: the field is
    then left to the platform, which is what an unset live field means."""
    container, rest = table, path
    while rest not in container and "." in rest:
        head, tail = rest.split(".", 1)
        inner = container.get(head)
        if inner is None:
            if value is None:
                return ""  # nothing declared, nothing live: already agrees
            nested: Any = value
            for part in reversed(tail.split(".")):
                nested = {part: nested}
            return _assign(container, head, nested, None)
        if not isinstance(inner, Mapping):
            return f"declared as a {type(inner).__name__}, not a table"
        if ref := _is_reference(inner):
            return f"declared by reference ({ref}); change its source instead"
        container, rest = inner, tail
    existing = container.get(rest)
    if ref := _is_reference(existing):
        return f"declared by reference ({ref}); change its source instead"
    if value is None:
        if rest in container:
            del container[rest]
        return ""
    return _assign(container, rest, value, existing)


def _assign(container: Any, key: str, value: Any, existing: Any) -> str:
    if _has_null(value):
        return "the live value holds a null, which TOML cannot write"
    inline = isinstance(existing, InlineTable) or isinstance(container, InlineTable) or (
        isinstance(value, Mapping) and not isinstance(existing, Table))
    container[key] = _inline(value) if inline and isinstance(value, Mapping) else _plain(value)
    return ""


def _inline(value: Mapping[str, Any]) -> InlineTable:
    table = tomlkit.inline_table()
    for key, item in value.items():
        table[key] = _inline(item) if isinstance(item, Mapping) else _plain(item)
    return table


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        array = tomlkit.array()
        array.extend(_inline(v) if isinstance(v, Mapping) else _plain(v) for v in value)
        return array
    return value


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, Mapping):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


def _write(path: Path, text: str) -> None:
    """Replace the file atomically, keeping its permissions."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".accept", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
