#!/usr/bin/env python3
"""ci/discover.py [STACKS_DIR]: print the stacks as a JSON list, the include list of a CI matrix.

A stack is a directory of STACKS_DIR (default: $PLATFORGE_STACKS, else stacks/ next to ci/) that
holds a platform.toml. Each becomes one object:

    {"stack": "prod", "state": "platform", "runner": ["ubuntu-latest"]}
    {"stack": "analytics-dataiku", "state": "local", "runner": ["self-hosted", "platforge-state"]}

`state` is the stack's `[state] backend` (platform.toml; platforge's default is "local"), and
`runner` the runs-on labels it needs: a state on the platform can be planned and applied from any
runner, so GitHub's hosted one; a local state is a file on the disk of the self-hosted runner
labelled `platforge-state`, which keeps $PLATFORGE_STATE_DIR between runs, so every job of such
a stack runs there. Set PLATFORGE_HOSTED_RUNNER and PLATFORGE_STATE_RUNNER (comma-separated
labels) to use other labels.

A stack's name becomes a matrix value, a GitHub environment and part of file names, so it must be
letters, digits, '.', '_' or '-': any other name is an error (exit 1), never passed on; so is a
platform.toml that is not TOML or whose [state] backend is neither "platform" nor "local". In
GitHub Actions the list is also the step output `stacks`. Standard library only (Python 3.11+).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from pathlib import Path

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
HOSTED = ["ubuntu-latest"]
STATE_RUNNER = ["self-hosted", "platforge-state"]


def labels(variable: str, default: list[str]) -> list[str]:
    value = os.environ.get(variable, "").strip()
    if not value:
        return list(default)
    found = [label.strip() for label in value.split(",") if label.strip()]
    bad = [label for label in found if not LABEL.fullmatch(label)]
    if not found or bad:
        raise SystemExit(f"error: {variable}={value!r} is not a comma-separated list of runner labels")
    return found


def backend(platform_toml: Path) -> str:
    try:
        document = tomllib.loads(platform_toml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"error: {platform_toml}: {exc}") from None
    state = document.get("state", {})
    value = state.get("backend", "local") if isinstance(state, dict) else None
    if value not in ("platform", "local"):
        raise SystemExit(f"error: {platform_toml}: [state] backend must be \"platform\" or \"local\", not {value!r}")
    return str(value)


def discover(stacks: Path) -> list[dict[str, object]]:
    found = sorted(p.parent.name for p in stacks.glob("*/platform.toml") if p.is_file())
    bad = [name for name in found if not NAME.fullmatch(name)]
    if bad:
        raise SystemExit(f"error: stack directories with names CI cannot use: {', '.join(map(repr, bad))} "
                         "(letters, digits, '.', '_', '-')")
    hosted, state_runner = labels("PLATFORGE_HOSTED_RUNNER", HOSTED), labels("PLATFORGE_STATE_RUNNER", STATE_RUNNER)
    matrix: list[dict[str, object]] = []
    for name in found:
        state = backend(stacks / name / "platform.toml")
        matrix.append({"stack": name, "state": state, "runner": hosted if state == "platform" else state_runner})
    return matrix


def main(argv: list[str]) -> int:
    default = os.environ.get("PLATFORGE_STACKS") or Path(__file__).resolve().parent.parent / "stacks"
    stacks = Path(argv[1]) if len(argv) > 1 else Path(default)
    if not stacks.is_dir():
        print(f"error: {stacks} is not a directory", file=sys.stderr)
        return 1
    matrix = json.dumps(discover(stacks), separators=(",", ":"))
    print(matrix)
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as fh:
            fh.write(f"stacks={matrix}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
