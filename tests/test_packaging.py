"""The wheel holds every module of the tree, under `platforge`: packages are found, not listed
(setup.py), so a new subpackage can never drop out of what users install."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"platforge": "platforge", "platforge/provider": "provider", "platforge/pulumi": "resources"}


def tree_modules() -> set[str]:
    found: set[str] = set()
    for installed, folder in ROOTS.items():
        for path in (REPO / folder).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            found.add(f"{installed}/{path.relative_to(REPO / folder).as_posix()}")
    # the three roots overlap on disk (platforge/ is also a folder): keep each module once
    return found


def test_the_wheel_holds_every_module_of_the_tree(tmp_path):
    # Built from a clean copy: a `build/` left by an earlier build would hide a missing package.
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".platforge", ".mypy_cache", ".ruff_cache",
        ".pytest_cache", ".hypothesis"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next(tmp_path.glob("platforge-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {n for n in names if n.endswith(".py")}
    missing = sorted(tree_modules() - modules)
    assert missing == [], missing
    assert not any(n.startswith(("provider/", "resources/", "tests/", "bench/")) for n in names)
    assert "platforge/provider/datatailr/sandbox/DECISIONS.md" in names
