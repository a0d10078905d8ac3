"""The quality gates, run as tests so that `.ci/run` (the README's second command) enforces them:
ruff on the whole tree, mypy strict on the core, and the import-linter contracts for the layers
(pyproject.toml).

The layers are checked on the installed layout: `provider/` is `platforge.provider` and
`resources/` is `platforge.pulumi` only once installed, and import-linter reads packages from
disk, so the tree is staged as it installs in a temporary directory first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_ruff():
    result = run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_the_core(tmp_path):
    result = run("mypy", "--strict", "--cache-dir", str(tmp_path / "mypy"), "platforge/core", "provider/_kit/client")
    assert result.returncode == 0, result.stdout + result.stderr


def stage_installed_layout(root: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.md")
    package = root / "platforge"
    shutil.copytree(REPO / "platforge", package, ignore=ignore)
    shutil.copytree(REPO / "provider", package / "provider", ignore=ignore)
    shutil.copytree(REPO / "resources", package / "pulumi", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_import_layers(tmp_path):
    staged = stage_installed_layout(tmp_path / "staged")
    env = {**os.environ, "PYTHONPATH": str(staged)}
    result = run("lint-imports", "--no-cache", cwd=staged, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout, result.stdout


def test_a_broken_layer_is_caught(tmp_path):
    """The gate can fail: a core module that imports a platform breaks the first contract."""
    staged = stage_installed_layout(tmp_path / "staged")
    with (staged / "platforge" / "core" / "model.py").open("a") as fh:
        fh.write("\nfrom platforge.provider import get_platform  # noqa: E402\n")
    env = {**os.environ, "PYTHONPATH": str(staged)}
    result = run("lint-imports", "--no-cache", cwd=staged, env=env)
    assert result.returncode != 0 and "The core imports no platform" in result.stdout, result.stdout
