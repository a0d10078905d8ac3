"""Bad input fails before the first request (not even a token), exit 1, naming the file, the
line, the field, what was expected and what was found, and never echoing a secret."""

from __future__ import annotations

import re
import secrets

import pytest

from .cases import CASES, SECRET_ENV
from .conftest import World


def failing_plan(world: World, body: str, files: dict[str, str] | None = None) -> str:
    stack = world.stack(body, files=files)
    mark = world.mark()
    result = world.cli("plan", stack)
    assert result.exit_code == 1, result.output
    assert world.requests_since(mark) == []
    return result.output


def line_of(world: World, needle: str) -> int:
    text = (world.tmp_path / "stack" / "main.toml").read_text()
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "s-" + secrets.token_hex(8))


@pytest.mark.parametrize(("kind", "field", "needle"), [
    ("storage_to_storage", "source", "source = "),
    ("storage_to_tables", "version", 'version = "2"'),
    ("table_to_storage", "gcs_dest_bucket", "gcs_dest_bucket ="),
    ("workflow", "target_dag", "target_dag ="),
    ("vm_launcher", "script_to_execute", "script_to_execute ="),
    ("context", "gcp_project_id", "gcp_project_id ="),
])
def test_a_missing_required_field_names_file_line_and_field(world: World, kind: str, field: str, needle: str) -> None:
    case = CASES[kind]
    body = "\n".join(line for line in case.body.splitlines() if needle not in line)
    out = failing_plan(world, body, case.files)
    header = line_of(world, f"[{case.table}.{case.name}]")
    assert re.search(rf"main\.toml:{header}\b", out), out
    assert f"{case.address}.{field}" in out and "required field missing" in out


def test_an_inline_secret_is_refused_without_showing_it(world: World) -> None:
    plaintext = "plain-" + secrets.token_hex(10)
    body = CASES["storage_to_storage"].body.replace('gcp_credentials_secret = { from_env = "T_SECRET" } }]',
                                                    f'gcp_credentials_secret = "{plaintext}" }}]')
    out = failing_plan(world, body)
    assert plaintext not in out
    assert "storage_to_storage.sts.destinations.0.gcp_credentials_secret" in out
    assert "an inline secret is not allowed" in out and "from_env" in out
    assert re.search(rf"main\.toml:{line_of(world, 'destinations = ')}\b", out), out


def test_an_inline_secret_in_a_vm_credentials_file_is_refused(world: World) -> None:
    plaintext = "plain-" + secrets.token_hex(10)
    body = CASES["vm_launcher"].body.replace('content = { from_env = "T_SECRET" }', f'content = "{plaintext}"')
    out = failing_plan(world, body)
    assert plaintext not in out and "credentials.sa.json.content" in out


def test_a_missing_doc_md_file_is_an_error_at_its_line(world: World) -> None:
    case = CASES["storage_to_tables"]
    out = failing_plan(world, case.body.replace('doc_md = "stt.md"', 'doc_md = "missing.md"'), case.files)
    assert re.search(rf"main\.toml:{line_of(world, 'doc_md = ')}\b", out), out
    assert "storage_to_tables.stt.doc_md" in out and "'missing.md' does not exist" in out


def test_a_ddl_file_that_is_not_json_is_an_error(world: World) -> None:
    case = CASES["storage_to_tables"]
    out = failing_plan(world, case.body, {**case.files, "ddl/sales.json": "not json\n"})
    assert "DDL file 'ddl/sales.json' is not JSON" in out


@pytest.mark.parametrize(("replace", "field", "expected"), [
    ('environment = "DEV"', "environment", "PROD, PREPROD, STAGING or DEV"),
    ('account = "000099"', "account", "6-digit account"),
])
def test_a_bad_value_says_what_was_expected_and_found(world: World, replace: str, field: str, expected: str) -> None:
    case = CASES["workflow"]
    bad = {"environment": 'environment = "dev"', "account": "account = 99"}[field]
    out = failing_plan(world, case.body.replace(replace, bad))
    assert f"workflow.wf.{field}" in out and expected in out and "found" in out
    assert re.search(rf"main\.toml:{line_of(world, bad)}\b", out), out


def test_a_boolean_is_never_coerced(world: World) -> None:
    case = CASES["workflow"]
    out = failing_plan(world, case.body.replace('version = "2"', 'version = "2"\n        activated = "yes"'))
    assert "workflow.wf.activated" in out and "the string 'yes'" in out


def test_archived_and_unknown_top_level_fields_are_refused(world: World) -> None:
    case = CASES["workflow"]
    out = failing_plan(world, case.body.replace('version = "2"', 'version = "2"\n        archived = true'))
    assert "unknown field 'archived'" in out
