#!/usr/bin/env python3
"""ci/discover.py [STACKS_DIR]: print the stacks as a JSON list, for a CI matrix.

A stack is a directory of STACKS_DIR (default: $PLATFORGE_STACKS, else stacks/ next to ci/) that
holds a platform.toml. Its name becomes a matrix value, a GitHub environment and part of file
names, so it must be letters, digits, '.', '_' or '-': any other name is an error (exit 1), never
passed on. In GitHub Actions the list is also the step output `stacks`. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def discover(stacks: Path) -> list[str]:
    found = sorted(p.parent.name for p in stacks.glob("*/platform.toml") if p.is_file())
    bad = [name for name in found if not NAME.fullmatch(name)]
    if bad:
        raise SystemExit(f"error: stack directories with names CI cannot use: {', '.join(map(repr, bad))} "
                         "(letters, digits, '.', '_', '-')")
    return found


def main(argv: list[str]) -> int:
    default = os.environ.get("PLATFORGE_STACKS") or Path(__file__).resolve().parent.parent / "stacks"
    stacks = Path(argv[1]) if len(argv) > 1 else Path(default)
    if not stacks.is_dir():
        print(f"error: {stacks} is not a directory", file=sys.stderr)
        return 1
    names = json.dumps(discover(stacks), separators=(",", ":"))
    print(names)
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as fh:
            fh.write(f"stacks={names}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
