from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from platforge.core.engine import Engine, make_backend
from platforge.core.stack import load_stack

from .fakes import FakePlatform


class Harness:
    """A fake platform plus helpers to write a stack directory and get an Engine over it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.platform = FakePlatform()
        self.stack_dir = root / "stack"
        self.stack_dir.mkdir()

    def write(self, body: str, name: str = "main.toml", header: bool = True) -> Path:
        text = textwrap.dedent(body)
        if header:
            text = '[platform]\ntype = "fake"\nendpoint = "memory://fake"\n\n' + text
        path = self.stack_dir / name
        path.write_text(text, encoding="utf-8")
        return path

    def engine(self, endpoint: str | None = None, check_target: bool = True) -> Engine:
        stack, platform = load_stack(self.stack_dir, lambda t: self._lookup(t))
        client = platform.connect(stack.platform_config, endpoint)
        return Engine(stack, platform, client, make_backend(stack, platform, client), check_target=check_target)

    def _lookup(self, type_name: str):
        if type_name != "fake":
            raise KeyError("fake")
        return self.platform


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)
