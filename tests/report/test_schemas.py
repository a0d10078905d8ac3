"""The documented formats match what the engine writes: documents from the real planner and
drift detector (and from hand-picked core objects) validate against docs/schemas, broken
documents do not, every field the producer writes is described in the schema and in the prose
docs, and every field the schema describes is one the producer writes."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from platforge.core.drift import DRIFT_FORMAT, DriftFinding
from platforge.core.model import Action, Cause, Op, RunStatus
from platforge.core.plan import PLAN_FORMAT

from .factories import (
    core_drift_doc,
    core_plan_doc,
    core_unmanaged_only_drift_doc,
    drift_doc,
    empty_drift_doc,
    empty_plan_doc,
    import_actions,
    plan_doc,
    review_plan_doc,
    sample_actions,
)
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


FAIL_ON_UNMANAGED = frozenset(Cause)

def _soft_delete_plan_doc() -> dict[str, Any]:
    """A kind whose delete is an archive (Tailer): its deletes and replaces say so."""
    soft = {"verb": "archive", "note": "only a super-administrator can restore it"}
    return plan_doc([Action("workflow.old", "workflow", ("000099", "DEV", "old"), Op.DELETE, "no longer declared",
                            platform_id="old", delete_as=dict(soft))], unmanaged=[], coverage={})


def _probed_drift_doc() -> dict[str, Any]:
    """Not-observable findings with an alive probe's answer, and one whose probe failed."""
    return drift_doc([
        DriftFinding(Cause.NOT_OBSERVABLE, "workflow.wf", "workflow", ("000099", "DEV", "wf"),
                     "applied as declared; the platform cannot show this kind, so it cannot be checked",
                     run_status=RunStatus("SUCCESS", "20250115-abc", "2025-01-15T09:00:00+00:00")),
        DriftFinding(Cause.NOT_OBSERVABLE, "workflow.wf2", "workflow", ("000099", "DEV", "wf2"),
                     "applied as declared; the platform cannot show this kind, so it cannot be checked",
                     run_status=RunStatus("unknown", error="TransportError: connection refused")),
    ], in_sync=[], coverage={})


PLANS = {
    "soft-delete": _soft_delete_plan_doc,
    "plan": plan_doc,
    "empty": empty_plan_doc,
    "no-state": lambda: plan_doc(serial=None, prune=False),
    "review": review_plan_doc,
    "core": core_plan_doc,
}
DRIFTS = {
    "probed": _probed_drift_doc,
    "drift": drift_doc,
    "empty": empty_drift_doc,
    "core": core_drift_doc,
    "core-fail-on-unmanaged": lambda: core_drift_doc(fail_on=FAIL_ON_UNMANAGED),
    "core-unmanaged-only": core_unmanaged_only_drift_doc,
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_real_plans_validate(errors, name):
    assert errors("plan", json.loads(json.dumps(PLANS[name]()))) == []


@pytest.mark.parametrize("name", sorted(DRIFTS))
def test_real_drift_reports_validate(errors, name):
    assert errors("drift", json.loads(json.dumps(DRIFTS[name]()))) == []


def test_the_core_documents_exercise_what_the_schemas_describe():
    """The schema tests above are only as good as their documents: the planner's plan must hold
    an import with and without consent, a blocked one and a create with values, and the drift
    reports both a failing and an unmanaged-only case."""
    plan = core_plan_doc()
    imports = [a for a in plan["actions"] if a["op"] == "import"]
    assert {a["adopt"] for a in imports} == {True, False}
    assert any("blocked" in a for a in imports) and all(isinstance(a["live"], dict) for a in imports)
    create = next(a for a in plan["actions"] if a["op"] == "create")
    assert {"path": "email", "old": None, "new": "alice@example.com", "sensitive": False,
            "forces_replace": False, "reason": "create"} in create["changes"]
    assert {"path": "password", "old": "(sensitive)", "new": "(sensitive)", "sensitive": True,
            "forces_replace": False, "reason": "create"} in create["changes"]
    save = next(a for a in plan["actions"] if a["op"] == "save")
    assert save["address"] == "job.etl" and save["changes"][0]["new_version"] is True
    assert next(a for a in plan["actions"] if a["address"] == "flow.nightly")["op"] == "no-op"
    assert plan["summary"]["import"] == len(imports) and plan["coverage"]["user"]["live"] > 0
    assert all("[" not in u["address"] and u["address"].startswith(u["kind"] + ".") for u in plan["unmanaged"])
    quiet = core_unmanaged_only_drift_doc()
    assert quiet["drifted"] is False and quiet["summary"]["unmanaged"] > 0 and quiet["secret_detection"] == ""
    assert quiet["ignored"] == 1
    assert core_unmanaged_only_drift_doc(fail_on=FAIL_ON_UNMANAGED)["drifted"] is True


@pytest.mark.parametrize("name", sorted(DRIFTS))
def test_drifted_means_a_finding_of_a_failing_cause(name):
    """What the schema and the prose say `drifted` means, checked on real reports."""
    doc = DRIFTS[name]()
    assert doc["drifted"] == any(f["cause"] in doc["fail_on"] for f in doc["findings"])
    assert doc["fail_on"] == sorted(doc["fail_on"])


def _mutate(doc: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


def _import(doc: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in doc["actions"] if a["op"] == "import")


PLAN_BREAKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "format v3": lambda d: d.update(format="platforge.plan/v3"),
    "unknown op": lambda d: d["actions"][0].update(op="adopt"),
    "missing summary key": lambda d: d["summary"].pop("no-op"),
    "missing import count": lambda d: d["summary"].pop("import"),
    "negative count": lambda d: d["summary"].update(create=-1),
    "bad digest": lambda d: d.update(live_digest="md5:abc"),
    "leaked secret": lambda d: d["actions"][1]["changes"][1].update(new="hunter2"),
    "leaked secret in a create": lambda d: d["actions"][0]["changes"][2].update(new="hunter2"),
    "missing destructive": lambda d: d["actions"][0].pop("destructive"),
    "serial is text": lambda d: d["state"].update(serial="4"),
    "orphan not a string": lambda d: d["orphans"].append(3),
    "import without adopt": lambda d: _import(d).pop("adopt"),
    "import without live": lambda d: _import(d).pop("live"),
    "adopt is text": lambda d: _import(d).update(adopt="yes"),
    "blocked is empty": lambda d: _import(d).update(blocked=""),
    "blocked is true": lambda d: _import(d).update(blocked=True),
    "unmanaged bracket address": lambda d: d["unmanaged"][0].update(address="user[zed]"),
    "unmanaged without address": lambda d: d["unmanaged"][0].pop("address"),
    "missing coverage": lambda d: d.pop("coverage"),
    "coverage without live": lambda d: d["coverage"]["user"].pop("live"),
    "coverage negative": lambda d: d["coverage"]["user"].update(managed=-1),
}

DRIFT_BREAKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "format v3": lambda d: d.update(format="platforge.drift/v3"),
    "unknown cause": lambda d: d["findings"][0].update(cause="ghost"),
    "unknown detection": lambda d: d["findings"][0].update(detection="psychic"),
    "drifted without findings": lambda d: d.update(findings=[]),
    "drifted without failing causes": lambda d: d.update(fail_on=[]),
    "leaked secret": lambda d: d["findings"][1]["changes"][0].update(old="hunter2"),
    "missing summary key": lambda d: d["summary"].pop("missing"),
    "missing secret_detection": lambda d: d.pop("secret_detection"),
    "unknown fail_on cause": lambda d: d["fail_on"].append("ghost"),
    "missing fail_on": lambda d: d.pop("fail_on"),
    "unmanaged bracket address": lambda d: d["findings"][4].update(address="user[zed]"),
    "missing coverage": lambda d: d.pop("coverage"),
    "coverage is a list": lambda d: d.update(coverage=[]),
    "coverage count is text": lambda d: d["coverage"]["user"].update(live="10"),
    "missing ignored": lambda d: d.pop("ignored"),
    "negative ignored": lambda d: d.update(ignored=-1),
}


@pytest.mark.parametrize("name", sorted(PLAN_BREAKS))
def test_broken_plans_are_rejected(errors, name):
    assert errors("plan", _mutate(plan_doc([*sample_actions(), *import_actions()]), PLAN_BREAKS[name]))


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


def _documented(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str,
                seen: dict[str, set[str]]) -> list[str]:
    """Problems with `value` against the schema's descriptions: a key the producer writes that
    the schema does not describe, or a required key it does not write. Records in `seen`, per
    schema location, the keys written, so that a described key no document has can be found."""
    schema = _object_schemas(schema, root)
    problems: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        undescribed = set(value) - set(schema["properties"])
        if undescribed:
            problems.append(f"{where}: not in the schema: {sorted(undescribed)}")
        if set(schema["required"]) - set(value):
            problems.append(f"{where}: required but not written: {sorted(set(schema['required']) - set(value))}")
        seen.setdefault(where, set()).update(value)
        for key, sub in value.items():
            if key in schema["properties"]:
                problems += _documented(sub, schema["properties"][key], root, f"{where}.{key}", seen)
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for sub in value.values():  # keyed by name (coverage by kind): one location for all
            problems += _documented(sub, schema["additionalProperties"], root, f"{where}.*", seen)
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            problems += _documented(item, schema["items"], root, f"{where}[]", seen)
    return problems


def _described(schema: dict[str, Any], root: dict[str, Any], where: str) -> dict[str, set[str]]:
    """Per location, every key the schema describes (the same locations `_documented` records)."""
    schema = _object_schemas(schema, root)
    out: dict[str, set[str]] = {}
    if "properties" in schema and schema.get("type") == "object":
        out[where] = set(schema["properties"])
        for key, sub in schema["properties"].items():
            out.update(_described(sub, root, f"{where}.{key}"))
    elif isinstance(schema.get("additionalProperties"), dict):
        out.update(_described(schema["additionalProperties"], root, f"{where}.*"))
    elif "items" in schema:
        out.update(_described(schema["items"], root, f"{where}[]"))
    return out


@pytest.mark.parametrize(("name", "makers"), [("plan", PLANS), ("drift", DRIFTS)])
def test_every_field_the_producer_writes_is_in_the_schema_and_back(name, makers):
    """A field added to the producer without documenting it fails here, and so does a field the
    schema describes that no real document carries (a stale or misspelt description)."""
    schema = load(name)
    seen: dict[str, set[str]] = {}
    for make in makers.values():
        assert _documented(json.loads(json.dumps(make())), schema, schema, name, seen) == []
    described = _described(schema, schema, name)
    never_written = {where: sorted(keys - seen.get(where, set())) for where, keys in described.items()}
    assert {where: keys for where, keys in never_written.items() if keys} == {}


def test_the_schema_check_notices_an_undocumented_field():
    schema = load("plan")
    doc = _mutate(core_plan_doc(), lambda d: _import(d).update(annotations={}))
    assert _documented(doc, schema, schema, "plan", {}) == ["plan.actions[]: not in the schema: ['annotations']"]


#: Objects keyed by data, not by field: coverage by kind name, an import's live fields by the
#: platform's field names. Their keys are not format fields; what is under a kind still is.
_KEYED_BY_DATA = {"coverage": "kinds", "live": "fields"}


def _all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        keys = set(value)
        for key, sub in value.items():
            if _KEYED_BY_DATA.get(key) == "kinds" and isinstance(sub, dict):
                keys |= {k for per_kind in sub.values() for k in _all_keys(per_kind)}
            elif _KEYED_BY_DATA.get(key) != "fields":
                keys |= _all_keys(sub)
        return keys
    if isinstance(value, list):
        return {k for v in value for k in _all_keys(v)}
    return set()


@pytest.mark.parametrize(("doc_name", "makers"), [("plan-format.md", PLANS), ("drift-format.md", DRIFTS)])
def test_every_field_is_described_in_the_prose_docs(doc_name, makers):
    prose = (DOCS / doc_name).read_text(encoding="utf-8")
    prose = prose[:prose.index("## Example")]
    keys = {k for make in makers.values() for k in _all_keys(make())}
    assert {"managed", "live"} <= keys  # coverage's own keys are checked, kind names are not
    missing = sorted(k for k in keys if not re.search(rf"`(?:[\w-]+\.)*{re.escape(k)}`", prose))
    assert missing == []
