"""Handing over a value the platform shows once: owner-only files, a dotenv file's other lines
kept, never written through a symbolic link planted at the target, and targets validated."""

from __future__ import annotations

import os
import stat

import pytest
from pydantic import ValidationError

from platforge.core.secrets import ShownOnceTarget, deliver_shown_once


def test_a_file_target_is_owner_only_and_relative_to_the_stack(tmp_path):
    path = deliver_shown_once("dkuaps-abc", ShownOnceTarget(file="keys/ci"), str(tmp_path))
    assert path == tmp_path / "keys" / "ci" and path.read_text() == "dkuaps-abc\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_planted_symlink_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    (tmp_path / "key").symlink_to(victim)
    deliver_shown_once("s3cret", ShownOnceTarget(file="key"), str(tmp_path))
    assert victim.read_text() == "untouched\n"
    assert not (tmp_path / "key").is_symlink() and (tmp_path / "key").read_text() == "s3cret\n"


def test_a_dotenv_target_keeps_other_lines_and_quotes_what_needs_it(tmp_path):
    (tmp_path / ".env").write_text("A=1\nKEY=old\nB=2\n")
    deliver_shown_once("it's $x", ShownOnceTarget(env_file=".env", variable="KEY"), str(tmp_path))
    assert (tmp_path / ".env").read_text() == "A=1\nB=2\nKEY='it'\"'\"'s $x'\n"


@pytest.mark.parametrize("raw", [{}, {"file": "a", "env_file": "b", "variable": "V"}, {"env_file": ".env"},
                                 {"env_file": ".env", "variable": "1BAD"}, {"file": "a", "variable": "V"},
                                 {"file": 3}, {"path": "a"}])
def test_bad_targets_are_refused(raw):
    with pytest.raises(ValidationError):
        ShownOnceTarget.model_validate(raw)
