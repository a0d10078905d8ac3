"""The pieces of `platforge export` that need no platform: table names as unique TOML bare keys,
secret variable names, the TOML writer (every value reads back as written, comments say what
was left out), and kinds that cannot be read back refused before any connection."""

from __future__ import annotations

import tomllib

import pytest
from platforge.provider import get_platform

from platforge.cli.export import render_kind
from platforge.core.errors import PlanError
from platforge.core.export import ExportedObject, KindExport, SecretVariable, secret_variable, table_name

from .conftest import cli


def test_table_names_are_bare_keys_and_unique():
    taken: set[str] = set()
    assert table_name(("prod", "warehouse/url"), taken, "kv") == "prod-warehouse-url"
    assert table_name(("prod", "warehouse url"), taken, "kv") == "prod-warehouse-url-2"
    assert table_name(("svc.etl@corp",), taken, "user") == "svc-etl-corp"
    assert table_name(("g", "alice@example.com"), taken, "m", short=True) == "alice-example-com"
    assert table_name(("///",), taken, "group") == "group"
    for name in taken:
        assert tomllib.loads(f"[t.{name}]\n") == {"t": {name: {}}}


def test_secret_variables_name_the_address():
    assert secret_variable("secret.warehouse-password", "value", False) == "PLATFORGE_SECRET_SECRET_WAREHOUSE_PASSWORD"
    assert secret_variable("connection.pg", "password", True) == "PLATFORGE_SECRET_CONNECTION_PG_PASSWORD"


def test_rendered_values_read_back_exactly_and_notes_are_comments():
    tricky = {
        "name": 'quote " backslash \\ and ünïcode',
        "multi": "line one\nline two",
        "numbers": [1, 2.5, -3],
        "flags": {"on": True, "off": False},
        "acl": {"read": {"users": ["alice"], "groups": []}, "write": {"users": [], "groups": ["ops"]}},
        "nodes": [{"name": "a", "inputs": [{"name": "item", "type": "Item"}], "meta": {}}],
        "empty": [],
        "value": {"from_env": "PLATFORGE_SECRET_KV_X"},
    }
    part = KindExport("kv", objects=[ExportedObject(
        "kv", "x", ("x",), tricky, secrets=[SecretVariable("kv.x", "value", "PLATFORGE_SECRET_KV_X")],
        dropped=["driver"], undeclared_secrets=["password"])],
        builtin=["kv.root"], omitted=[("kv.y", "a reason")])
    text = render_kind(part, None, ["A header line."])
    assert tomllib.loads(text) == {"kv": {"x": tricky}}
    assert text.startswith("# A header line.")
    for line in ("# Left out, the platform's own: kv.root", "# Left out: kv.y: a reason",
                 "# kv.x: driver left to the platform", "# kv.x.value: set PLATFORGE_SECRET_KV_X",
                 "# kv.x.password: not declared"):
        assert line in text
    assert 'value = {from_env = "PLATFORGE_SECRET_KV_X"}' in text


def test_a_value_toml_cannot_hold_is_refused_not_written_wrong():
    part = KindExport("kv", objects=[ExportedObject("kv", "x", ("x",), {"value": [1, None]})])
    with pytest.raises(Exception):  # noqa: B017  (tomlkit refuses None; never a silently different file)
        render_kind(part, None, [])


def test_tailer_kinds_are_not_exportable(tmp_path):
    platform = get_platform("tailer")
    assert all(kind.not_exportable and "deploy-only" in kind.not_exportable for kind in platform.kinds.values())
    result = cli("export", "--platform", "tailer", "--endpoint", "http://127.0.0.1:9", tmp_path / "t")
    assert result.exit_code == 1
    for name in platform.kinds:
        assert f"kind {name} is not exportable: the platform cannot read it back" in result.stderr
    assert not (tmp_path / "t").exists()  # nothing written, not even the directory
    one = cli("export", "--platform", "tailer", "--endpoint", "http://127.0.0.1:9", "--kinds", "context", tmp_path / "c")
    assert one.exit_code == 1 and "kind context is not exportable" in one.stderr


def test_unknown_kinds_and_platforms_are_usage_errors(tmp_path):
    unknown = cli("export", "--platform", "nope", "--endpoint", "http://127.0.0.1:9", tmp_path / "n")
    assert unknown.exit_code == 1 and "datatailr" in unknown.stderr
    with pytest.raises(PlanError):
        from platforge.core.export import export_platform

        export_platform(get_platform("studio"), None, None, kinds=["nope"])  # type: ignore[arg-type]
    bad_option = cli("export", "--platform", "studio", "--endpoint", "http://127.0.0.1:9", "--option", "team",
                     tmp_path / "o")
    assert bad_option.exit_code == 1 and "KEY=VALUE" in bad_option.stderr
    missing_team = cli("export", "--platform", "studio", "--endpoint", "http://127.0.0.1:9", tmp_path / "m")
    assert missing_team.exit_code == 1 and "team" in missing_team.stderr


def test_an_out_dir_with_a_broken_file_is_refused_before_any_connection(tmp_path):
    out = tmp_path / "broken"
    out.mkdir()
    (out / "main.toml").write_text("[platform\n", encoding="utf-8")
    result = cli("export", "--platform", "datatailr", "--endpoint", "http://127.0.0.1:9", out)
    assert result.exit_code == 1 and "main.toml: cannot read it as TOML" in result.stderr
    assert (out / "main.toml").read_text() == "[platform\n" and sorted(p.name for p in out.iterdir()) == ["main.toml"]
