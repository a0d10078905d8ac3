"""How `drift --accept` edits one declaration's TOML table: nested and dotted paths, inline tables,
removal of a field that is unset live, refusals (references, nulls TOML cannot hold), and nothing
else in the file moving."""

from __future__ import annotations

import tomllib

import pytest
import tomlkit

from platforge.cli.accept import _set

SOURCE = """\
# header comment
[kv.cfg]   # the table
value = { retries = 3, mode = "fast" }   # inline
labels.team = "data"     # a dotted key
"a.b" = 1                # a key with a dot in it
secret = { from_env = "X" }
note = "drop me"         # unset on the platform

[kv.cfg.deep]
level = { inner = { x = 1 } }

[kv.other]
value = 7
"""


def edited(path: str, value: object) -> tuple[str, str]:
    document = tomlkit.parse(SOURCE)
    problem = _set(document["kv"]["cfg"], path, value)
    return problem, tomlkit.dumps(document)


@pytest.mark.parametrize(("path", "value", "old", "new"), [
    ("value.retries", 5, "retries = 3,", "retries = 5,"),
    ("value", {"retries": 4, "mode": "slow"}, '{ retries = 3, mode = "fast" }', '{retries = 4, mode = "slow"}'),
    ("labels.team", "ops", 'labels.team = "data"', 'labels.team = "ops"'),
    ("a.b", 2, '"a.b" = 1 ', '"a.b" = 2 '),
    ("deep.level.inner.x", 9, "{ inner = { x = 1 } }", "{ inner = { x = 9 } }"),
])
def test_only_the_value_changes(path, value, old, new):
    problem, text = edited(path, value)
    assert problem == ""
    assert SOURCE.count(old) == 1 and text == SOURCE.replace(old, new)
    tomllib.loads(text)  # still TOML


def test_a_field_unset_live_is_removed_with_its_line():
    problem, text = edited("note", None)
    assert problem == ""
    assert text == SOURCE.replace('note = "drop me"         # unset on the platform\n', "")


def test_a_new_nested_field_is_added_and_the_rest_stays():
    problem, text = edited("extra.flag", True)
    assert problem == ""
    assert tomllib.loads(text)["kv"]["cfg"]["extra"] == {"flag": True}
    assert text.startswith(SOURCE.split("[kv.cfg.deep]")[0].rstrip("\n"))
    assert "[kv.other]\nvalue = 7\n" in text


@pytest.mark.parametrize(("path", "value", "why"), [
    ("secret", "plain", "declared by reference (from_env)"),
    ("secret.from_env", "Y", "declared by reference (from_env)"),
    ("value", {"retries": None}, "null"),
    ("labels.team.sub", 1, "not a table"),
])
def test_refusals_change_nothing(path, value, why):
    problem, text = edited(path, value)
    assert why in problem
    assert text == SOURCE
