"""Only sandboxes whose callers sign in with a password offer the password flags: a flag that
does nothing (or a password file nothing reads) misleads whoever runs the sandbox."""

from __future__ import annotations

import pytest
from platforge.provider.sandbox import command_line
from typer.testing import CliRunner


@pytest.mark.parametrize(("platform", "has_password"),
                         [("datatailr", True), ("dataloop", True), ("dataiku", False), ("studio", False)])
def test_password_flags_exist_only_where_callers_sign_in_with_one(platform: str, has_password: bool):
    result = CliRunner().invoke(command_line(), [platform, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    for flag in ("--admin-password", "--session-secret", "--admin-user"):
        assert (flag in result.output) is has_password, (platform, flag)


@pytest.mark.parametrize("platform", ["dataiku", "studio"])
def test_a_password_flag_is_a_usage_error_where_there_is_none(platform: str, tmp_path):
    result = CliRunner().invoke(command_line(), [platform, "--db", str(tmp_path / "x.db"), "--admin-password", "pw"])
    assert result.exit_code != 0 and "--admin-password" in result.output  # the `platforge` command makes it 1
    assert not (tmp_path / "x.db.admin-password").exists()
