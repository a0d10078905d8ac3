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
    `platforge.pulumi`: no top-level `provider` or `resources` module reaches site-packages, and
    every package folder on disk is in the wheel (found, never listed by hand)."""
    repo = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("platforge_setup_py", repo / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    import setuptools

    captured: dict = {}
    original = setuptools.setup
    setuptools.setup = lambda **kwargs: captured.update(kwargs)  # type: ignore[assignment]
    try:
        spec.loader.exec_module(module)
    finally:
        setuptools.setup = original  # type: ignore[assignment]
    packages, package_dir = set(captured["packages"]), captured["package_dir"]
    assert all(name == "platforge" or name.startswith("platforge.") for name in packages)
    assert package_dir == {"platforge": "platforge", "platforge.provider": "provider", "platforge.pulumi": "resources"}
    assert "packages" not in tomllib.loads((repo / "pyproject.toml").read_text()).get("tool", {}).get("setuptools", {})
    on_disk = {str(p.parent.relative_to(repo)).replace("/", ".") for p in repo.glob("**/__init__.py")
               if not any(part.startswith(".") or part in ("tests", "build", "bench") for part in p.relative_to(repo).parts)}
    mapped = set()
    for package in on_disk:
        for prefix, folder in sorted(package_dir.items(), key=lambda kv: -len(kv[1])):
            if package == folder.replace("/", ".") or package.startswith(folder.replace("/", ".") + "."):
                mapped.add(prefix + package[len(folder):])
                break
    assert mapped == packages, mapped ^ packages
    assert {"platforge.provider._kit.sandbox", "platforge.provider.datatailr.sandbox.jobs"} <= packages
    assert importlib.util.find_spec("platforge.pulumi.datatailr") is not None
