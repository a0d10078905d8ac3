"""The SDK venv fixture itself: a build that cannot install fails the tests (never skips them),
and leaves no half-built venv that a later run would take for a good one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tailer.sdk import conftest

pytestmark = pytest.mark.sdk


def test_a_failed_install_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "requirements.txt"
    bad.write_text("tailer-sdk===this is not a version specifier\n")  # rejected by pip before any download
    venv = tmp_path / "venv"
    monkeypatch.setattr(conftest, "REQUIREMENTS", bad)
    monkeypatch.setattr(conftest, "VENV", venv)
    with pytest.raises(pytest.fail.Exception) as failed:
        conftest._build()
    assert "building the tailer-sdk venv" in str(failed.value) and str(bad) in str(failed.value)
    assert not venv.exists()


def test_the_built_venv_is_reused_while_the_requirements_are_unchanged(tailer_python: Path) -> None:
    marker = conftest.VENV / conftest.MARKER
    assert tailer_python.exists() and marker.read_text().strip() == conftest._wanted()
    seconds = float((conftest.VENV / ".build-seconds").read_text())
    assert seconds > 0
