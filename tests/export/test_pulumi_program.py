"""`platforge export --format pulumi`: the program it writes is run as the Pulumi engine runs it
(the SDK under engine-backed mocks, the real provider plugin over gRPC, the sandbox). Its first
`up` adopts every exported object with zero platform writes (the access log), its second is all
`same`; secrets are variables, never values; one kind at a time extends the program; the
directory mix-ups are refused."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ..pulumi.programs import PlainMocks, run_program
from .conftest import assert_program_adopts, cli, log_lines, program, writes_since


def _export(box, out: Path, *extra: str):
    return cli("export", "--format", "pulumi", "--platform", "datatailr", "--endpoint", box.url, *extra, out)


def test_the_program_adopts_everything_with_zero_writes_then_changes_nothing(populated, tmp_path, monkeypatch):
    box, values = populated
    out = tmp_path / "team-program"
    result = _export(box, out, "--environment", "dev")
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [".gitignore", "Pulumi.dev.yaml", "Pulumi.yaml", "__main__.py", "adopted/__init__.py",
                     "adopted/group.py", "adopted/group_membership.py", "adopted/kv.py", "adopted/secret.py",
                     "adopted/user.py", "requirements.txt"]
    everything = "".join(p.read_text() for p in out.rglob("*") if p.is_file()) + result.output
    assert not any(v in everything for v in values.values()) and box.admin_password not in everything
    variable = "PLATFORGE_SECRET_SECRET_DEV_WAREHOUSE_PASSWORD"
    secret_module = (out / "adopted" / "secret.py").read_text()
    assert f"value=secret_from_env({variable!r}, 'secret.warehouse-password')" in secret_module
    settings = (out / "Pulumi.dev.yaml").read_text()
    assert f'platforge:endpoint: "{box.url}"' in settings and 'platforge:environment: "dev"' in settings
    assert "username_env" not in settings and "password" not in settings.split("config:")[1]
    main = (out / "__main__.py").read_text()
    kinds = ast.literal_eval(next(line for line in main.splitlines() if line.startswith("KINDS = ")).split("=", 1)[1])
    # users first: the groups list them as members, the ACLs name both
    assert kinds.index("user") < kinds.index("group") < kinds.index("kv")
    group_module = (out / "adopted" / "group.py").read_text()
    assert "opts=after('user.bob', 'user.carol')" in group_module  # group.oncall's members
    assert "Left out, the platform's own: group.admin, group.dtusers, group.node_admin" in group_module

    # The program is code a team keeps: ruff finds nothing in it.
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "E,F,W,I",
                           "--line-length", "120", "."], capture_output=True, text=True, cwd=out)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # Without the secret's variable the program fails naming it (and sends nothing).
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(Exception, match=variable):
        run_program(program(out), PlainMocks())

    monkeypatch.setenv(variable, values["QUICKSTART_WAREHOUSE_PASSWORD_DEV"])
    toml_stack = tmp_path / "toml"  # the same objects as the TOML export adopts, by the same addresses
    assert cli("export", "--platform", "datatailr", "--endpoint", box.url, toml_stack).exit_code == 0
    adopt = tomllib.loads((toml_stack / "platform.toml").read_text())["adopt"]["objects"]
    assert len(adopt) == 11
    mark = len(log_lines(box.access_log))
    assert_program_adopts(out, "dev", {"platforge:username": box.admin_user, "platforge:password": box.admin_password},
                          lambda: writes_since(box.access_log, mark), adopt)


def test_one_kind_at_a_time_extends_the_program(populated, tmp_path):
    box, _ = populated
    out = tmp_path / "program"
    assert _export(box, out, "--kinds", "group").exit_code == 0
    assert sorted(p.name for p in (out / "adopted").glob("*.py")) == ["__init__.py", "group.py"]
    group_module = (out / "adopted" / "group.py").read_text()
    (out / "Pulumi.dev.yaml").write_text("config:\n  platforge:endpoint: edited-by-pulumi-config-set\n")
    second = _export(box, out, "--kinds", "user")
    assert second.exit_code == 0, second.output
    assert (out / "adopted" / "group.py").read_text() == group_module  # the first kind's module is kept
    main = (out / "__main__.py").read_text()
    assert "KINDS = ('user', 'group')" in main
    assert "edited-by-pulumi-config-set" in (out / "Pulumi.dev.yaml").read_text()  # stack settings are the user's
    run = run_program(program(out), PlainMocks())
    assert {a.split(".")[0] for a in run.exports["addresses"]} == {"group", "user"}
    assert "user.admin" not in run.exports["addresses"]  # the platform's own


def test_mix_ups_are_refused_before_anything_is_written(populated, tmp_path):
    box, _ = populated
    toml_stack = tmp_path / "toml"
    assert cli("export", "--platform", "datatailr", "--endpoint", box.url, "--kinds", "group", toml_stack).exit_code == 0
    into_toml = _export(box, toml_stack)
    assert into_toml.exit_code == 1 and "holds a TOML stack" in into_toml.stderr
    assert not (toml_stack / "Pulumi.yaml").exists()
    program = tmp_path / "program"
    assert _export(box, program, "--kinds", "group").exit_code == 0
    toml_into_program = cli("export", "--platform", "datatailr", "--endpoint", box.url, program)
    assert toml_into_program.exit_code == 1 and "holds a Pulumi program" in toml_into_program.stderr
    stray = cli("export", "--platform", "datatailr", "--endpoint", box.url, "--pulumi-stack", "x", tmp_path / "y")
    assert stray.exit_code == 1 and "--format pulumi" in stray.stderr
    hand_written = tmp_path / "hand"
    (hand_written / "adopted").mkdir(parents=True)
    (hand_written / "__main__.py").write_text("# ours\n")
    refused = _export(box, hand_written, "--kinds", "group")
    assert refused.exit_code == 1 and "was not written by platforge export" in refused.stderr
    assert (hand_written / "__main__.py").read_text() == "# ours\n" and not (hand_written / "adopted" / "group.py").exists()
    tailer = cli("export", "--format", "pulumi", "--platform", "tailer", "--endpoint", "http://127.0.0.1:9",
                 tmp_path / "tailer")
    assert tailer.exit_code == 1 and "not exportable" in tailer.stderr
