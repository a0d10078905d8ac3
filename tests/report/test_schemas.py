"""The documented formats match what the engine writes: real Plan and DriftReport objects
validate against docs/schemas, broken documents do not, and every field the producer writes is
described in the schema and in the prose docs."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from platforge.core.drift import DRIFT_FORMAT
from platforge.core.plan import PLAN_FORMAT

from .factories import drift_doc, empty_drift_doc, empty_plan_doc, plan_doc
from .schema_check import SCHEMAS, backends, load

DOCS = SCHEMAS.parent
BACKENDS = backends()


@pytest.fixture(params=sorted(BACKENDS))
def errors(request) -> Callable[[str, Any], list[str]]:
    check = BACKENDS[request.param]
    return lambda name, doc: check(load(name), doc)


def test_a_real_validator_is_available_or_the_minimal_one_is_used():
    assert "minimal" in BACKENDS and len(BACKENDS) >= 1


def test_schemas_are_valid_draft_2020_12():
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    for name in ("plan", "drift"):
        schema = load(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema_rs.meta.validate(schema)


def test_schema_format_constants_match_the_producer():
    assert load("plan")["properties"]["format"]["const"] == PLAN_FORMAT
    assert load("drift")["properties"]["format"]["const"] == DRIFT_FORMAT


@pytest.mark.parametrize("make", [plan_doc, empty_plan_doc, lambda: plan_doc(serial=None, prune=False)],
                         ids=["plan", "empty", "no-state"])
def test_real_plans_validate(errors, make):
    assert errors("plan", json.loads(json.dumps(make()))) == []


@pytest.mark.parametrize("make", [drift_doc, empty_drift_doc], ids=["drift", "empty"])
def test_real_drift_reports_validate(errors, make):
    assert errors("drift", json.loads(json.dumps(make()))) == []


def _mutate(doc: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


PLAN_BREAKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "format v2": lambda d: d.update(format="platforge.plan/v2"),
    "unknown op": lambda d: d["actions"][0].update(op="import"),
    "missing summary key": lambda d: d["summary"].pop("no-op"),
    "negative count": lambda d: d["summary"].update(create=-1),
    "bad digest": lambda d: d.update(live_digest="md5:abc"),
    "leaked secret": lambda d: d["actions"][1]["changes"][1].update(new="hunter2"),
    "missing destructive": lambda d: d["actions"][0].pop("destructive"),
    "serial is text": lambda d: d["state"].update(serial="4"),
    "orphan not a string": lambda d: d["orphans"].append(3),
}

DRIFT_BREAKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "format v2": lambda d: d.update(format="platforge.drift/v2"),
    "unknown cause": lambda d: d["findings"][0].update(cause="ghost"),
    "unknown detection": lambda d: d["findings"][0].update(detection="psychic"),
    "drifted without findings": lambda d: d.update(findings=[]),
    "not drifted with findings": lambda d: d.update(drifted=False),
    "leaked secret": lambda d: d["findings"][1]["changes"][0].update(old="hunter2"),
    "missing summary key": lambda d: d["summary"].pop("missing"),
    "missing secret_detection": lambda d: d.pop("secret_detection"),
}


@pytest.mark.parametrize("name", sorted(PLAN_BREAKS))
def test_broken_plans_are_rejected(errors, name):
    assert errors("plan", _mutate(plan_doc(), PLAN_BREAKS[name]))


@pytest.mark.parametrize("name", sorted(DRIFT_BREAKS))
def test_broken_drift_reports_are_rejected(errors, name):
    assert errors("drift", _mutate(drift_doc(), DRIFT_BREAKS[name]))


def test_additive_fields_keep_validating(errors):
    """The stability promise: a v1 consumer's schema accepts a newer v1 with more fields."""
    plan = _mutate(plan_doc(), lambda d: (d.update(new_top_level=1), d["actions"][0].update(annotations={})))
    drift = _mutate(drift_doc(), lambda d: d["findings"][0].update(first_seen="2025-01-01"))
    assert errors("plan", plan) == [] and errors("drift", drift) == []


def _example(doc_name: str) -> dict[str, Any]:
    text = (DOCS / doc_name).read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    return json.loads(blocks[0])


def test_the_examples_in_the_docs_validate(errors):
    assert errors("plan", _example("plan-format.md")) == []
    assert errors("drift", _example("drift-format.md")) == []


def _object_schemas(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return target
    return schema


def _assert_documented(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str) -> None:
    """Every key the producer writes is a described, required property; a field added to the
    producer without documenting it fails here."""
    schema = _object_schemas(schema, root)
    if isinstance(value, dict) and "properties" in schema:
        assert set(value) == set(schema["properties"]) == set(schema["required"]), where
        for key, sub in value.items():
            _assert_documented(sub, schema["properties"][key], root, f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            _assert_documented(item, schema["items"], root, f"{where}[]")


def test_every_field_the_producer_writes_is_in_the_schema():
    for name, doc in (("plan", plan_doc()), ("drift", drift_doc())):
        schema = load(name)
        _assert_documented(json.loads(json.dumps(doc)), schema, schema, name)


def _all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _all_keys(v)}
    return set()


@pytest.mark.parametrize(("doc_name", "make"), [("plan-format.md", plan_doc), ("drift-format.md", drift_doc)])
def test_every_field_is_described_in_the_prose_docs(doc_name, make):
    prose = (DOCS / doc_name).read_text(encoding="utf-8")
    prose = prose[:prose.index("## Example")]
    missing = sorted(k for k in _all_keys(make()) if not re.search(rf"`(?:[\w-]+\.)*{re.escape(k)}`", prose))
    assert missing == []
