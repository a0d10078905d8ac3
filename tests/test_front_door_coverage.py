"""Every kind the CLI manages is also a Pulumi resource class, on every registered platform, so
a kind added later cannot ship through one front door only."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

from platforge.provider import PLATFORMS, get_platform
from platforge.pulumi.stack import CLASSES


def test_every_kind_of_every_platform_has_a_pulumi_class():
    for name in PLATFORMS:
        platform = get_platform(name)
        assert name in CLASSES, f"no Pulumi resources for platform {name}"
        assert set(CLASSES[name]) == set(platform.kinds), (name, set(platform.kinds) ^ set(CLASSES[name]))
        for kind_name, cls in CLASSES[name].items():
            assert cls.platform == name and cls.kind == kind_name


def test_installed_import_names_live_under_platforge():
    """The design card's `provider/` and `resources/` folders install as `platforge.provider` and
    `platforge.pulumi`: no top-level `provider` or `resources` module reaches site-packages."""
    config = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    assert all(name == "platforge" or name.startswith("platforge.") for name in setuptools["packages"])
    assert all(name.startswith("platforge") for name in setuptools["package-dir"])
    assert setuptools["package-dir"]["platforge.provider"] == "provider"
    assert setuptools["package-dir"]["platforge.pulumi"] == "resources"
    repo = Path(__file__).resolve().parents[1]
    on_disk = {str(p.parent.relative_to(repo)).replace("/", ".") for p in repo.glob("**/__init__.py")
               if not any(part.startswith(".") or part in ("tests", "build") for part in p.relative_to(repo).parts)}
    mapped = set()
    for package in on_disk:
        for prefix, folder in sorted(setuptools["package-dir"].items(), key=lambda kv: -len(kv[1])):
            if package == folder.replace("/", ".") or package.startswith(folder.replace("/", ".") + "."):
                mapped.add(prefix + package[len(folder):])
                break
    assert mapped == set(setuptools["packages"]), mapped ^ set(setuptools["packages"])
    assert importlib.util.find_spec("platforge.pulumi.datatailr") is not None
