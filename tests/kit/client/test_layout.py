"""The shape of the client kit: a flat public face over small private modules whose imports
point one way (private modules never import the face, so the face can re-export them without
cycles), no platform in sight, and the old single `transport` module gone."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from platforge.provider._kit import client as kit

PACKAGE = Path(kit.__file__).parent


def imports_of(path: Path) -> list[tuple[str, int, list[str]]]:
    """(module, level, names) of every import statement in `path`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            out.append((node.module or "", node.level, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, 0, []) for a in node.names]
    return out


PRIVATE = sorted(p for p in PACKAGE.glob("_*.py") if p.name != "__init__.py")


def test_the_kit_is_split_into_private_modules():
    assert {p.stem for p in PRIVATE} == {"_auth", "_base", "_config", "_errors", "_multipart", "_paging", "_poll", "_ratelimit",
                                         "_redact", "_retry", "_transport", "_wire"}


@pytest.mark.parametrize("path", PRIVATE, ids=lambda p: p.stem)
def test_private_modules_never_import_the_public_face_or_a_platform(path):
    for module, level, names in imports_of(path):
        assert not (level == 1 and module == ""), f"{path.name}: `from . import {', '.join(names)}` reaches the face"
        assert level <= 1, f"{path.name} imports from outside the kit: {'.' * level}{module}"
        assert not module.startswith(("platforge", "provider")), f"{path.name} imports {module} absolutely"
        if level == 1:
            assert module.startswith("_"), f"{path.name} imports .{module}, which is not a private module of the kit"


def test_the_face_exports_what_it_lists_from_the_private_modules():
    assert len(kit.__all__) == len(set(kit.__all__))
    defined = {name for name in kit.__all__
               if inspect.isclass(getattr(kit, name)) or inspect.isfunction(getattr(kit, name))}
    assert {"BaseClient", "SessionAuth", "poll", "OffsetPaging", "PageIndexPaging", "CursorPaging",
            "FilePart", "PollTimeout", "PagingError"} <= defined
    for name in defined:
        assert getattr(kit, name).__module__.startswith("platforge.provider._kit.client._"), name


def test_the_old_transport_module_is_gone():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("platforge.provider._kit.transport")
    assert not (PACKAGE.parent / "transport.py").exists()


def test_the_provider_reexports_the_kits_platform_error():
    from platforge.provider import PlatformError
    from platforge.provider.datatailr import NotFound

    assert PlatformError is kit.PlatformError and issubclass(NotFound, kit.PlatformError)
