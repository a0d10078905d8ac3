"""Facts about the repository a user clones: it stands on its own (no file or help text points
outside it) and keeps what must never be committed out of Git."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist", ".platforge"}
OUTSIDE = re.compile(r"shared/contracts|\.\./shared|(?<![\w.])/work/")


def repository_files() -> list[Path]:
    return [p for p in REPO.rglob("*") if p.is_file() and not SKIP & set(p.relative_to(REPO).parts)
            and p.suffix in {".py", ".md", ".toml", ".yaml", ".yml", ".json", ".txt", ""}
            and p != Path(__file__)]


def test_no_file_refers_to_a_path_outside_the_repository():
    offenders = []
    for path in repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{path.relative_to(REPO)}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    # Tests that guard this very rule name the pattern they look for.
    offenders = [o for o in offenders if not o.startswith("tests/")]
    assert offenders == []


def test_state_and_keys_stay_out_of_git_and_the_readme_says_so():
    assert ".platforge/" in (REPO / ".gitignore").read_text().splitlines()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(r"`\.platforge/`[^\n]*(out of Git|\.gitignore)", readme)


def test_the_readme_offers_adoption_not_pulumi_import():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "import_=\"" not in readme and "ResourceOptions(import_" not in readme
    assert "adopt=True" in readme and "--adopt" in readme
