"""A secret's value never appears in a plan (text, JSON, Markdown), the state, a drift report (any
format), the command's output or its debug log, nor in a pickled declaration: only its keyed
fingerprint is kept."""

from __future__ import annotations

import pickle
import secrets

import pytest
from platforge.provider import get_platform

from platforge.core.stack import load_stack

from .cases import CASES, SECRET_ENV
from .conftest import World


@pytest.mark.parametrize("kind", sorted(k for k, c in CASES.items() if c.has_secret))
def test_the_secret_marker_is_never_written_anywhere(world: World, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = "MARKER" + secrets.token_hex(16)
    monkeypatch.setenv(SECRET_ENV, marker)
    monkeypatch.setenv("PLATFORGE_LOG", "debug")
    case = CASES[kind]
    stack = world.stack(case.body, files=case.files)
    outputs = [world.cli("plan", stack), world.cli("plan", stack, "--json"),
               world.cli("plan", stack, "--markdown", stack.parent / "plan.md"),
               world.cli("apply", stack, "--yes")]
    monkeypatch.setenv(SECRET_ENV, marker + "x")  # a changed secret: the plan shows the change, not the value
    outputs += [world.cli("plan", stack), world.cli("plan", stack, "--json")]
    monkeypatch.setenv(SECRET_ENV, marker)
    outputs += [world.cli("drift", stack, "--format", fmt) for fmt in ("text", "json", "markdown", "html")]
    assert outputs[3].exit_code == 0 and outputs[5].exit_code == 2
    written = [o.stdout + o.stderr for o in outputs]
    written += [p.read_text(errors="replace") for p in stack.rglob("*") if p.is_file() and p.name != "main.toml"]
    written.append((stack.parent / "plan.md").read_text())
    written.append(open(world.access_log, encoding="utf-8").read())
    assert any("(sensitive)" in w for w in written)
    for text in written:
        assert marker not in text
        assert world.refresh_token not in text and world.api_key not in text  # the run's credentials neither
    loaded, _ = load_stack(stack, get_platform)
    (resource,) = loaded.resources
    assert marker in resource.secrets["secrets"]  # it was read ...
    assert marker.encode() not in pickle.dumps(resource)  # ... and a pickle carries none of it
    assert marker not in repr(resource)
