"""One object, one request: refreshing an object (`--refresh per-object`), reading it back, or
importing it by its id alone never lists its whole project."""

from __future__ import annotations

import json

import pytest

from platforge.core.model import ObjectRef

from .conftest import PREFIX, StackHarness
from .test_kinds import ALL_KINDS, OPTIONS, apply

BY_ID = {"dataset": "/datasets/", "service": "/services/", "trigger": "/triggers/", "pipeline": "/pipelines/",
         "project": "/projects/", "integration": "/integrations/"}


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch):
    monkeypatch.setenv("OPENAI_INTEGRATION", OPTIONS)


def test_refresh_per_object_reads_each_object_by_its_id(harness: StackHarness):
    harness.write(ALL_KINDS)
    apply(harness)
    engine = harness.engine()
    engine.refresh = "per-object"
    engine.client.me()
    mark = harness.gate.mark()
    assert not engine.plan().has_changes
    gets = [r.url.path.removeprefix(PREFIX) for r in harness.gate.requests[mark:] if r.method == "GET"]
    resources = harness.state()["resources"]
    for address, entry in resources.items():
        kind = address.split(".", 1)[0]
        if kind in BY_ID:
            path = next(p for p in gets if p.endswith("/" + entry["platform_id"]))
            assert BY_ID[kind] in path, (address, path)
    assert gets.count("/projects") <= 1, "the organisation's projects are not listed again per object"
    listed = [json.loads(r.content).get("resource") for r in harness.gate.requests[mark:] if r.method == "POST"]
    # A trigger names its service: one services listing per project turns the id into the name.
    assert listed == ["services"], "no other project listing for a per-object refresh"


def test_an_import_by_id_alone_finds_the_objects_project(harness: StackHarness):
    harness.write(ALL_KINDS)
    apply(harness)
    resources = harness.state()["resources"]
    engine = harness.engine()
    for kind_name in ("dataset", "service", "trigger", "pipeline"):
        address, entry = next((a, e) for a, e in resources.items() if a.startswith(kind_name + "."))
        kind = engine.platform.kinds[kind_name]
        live = kind.read(engine.ctx, ObjectRef((None, None), entry["platform_id"]))
        assert live is not None, address
        assert live.platform_id == entry["platform_id"] and tuple(live.identity) == tuple(entry["identity"])
    assert engine.platform.kinds["dataset"].read(engine.ctx, ObjectRef((None, None), "0" * 24)) is None


def test_reading_members_one_by_one_lists_the_projects_once(harness: StackHarness):
    harness.write('[project.vision]\n' + "".join(
        f'[project_member.m{i}]\nproject = "vision"\nemail = "m{i}@acme.test"\nrole = "annotator"\n' for i in range(4)))
    apply(harness)
    engine = harness.engine()
    engine.refresh = "per-object"
    engine.client.me()
    mark = harness.gate.mark()
    assert not engine.plan().has_changes
    gets = [r.url.path.removeprefix(PREFIX) for r in harness.gate.requests[mark:] if r.method == "GET"]
    assert gets.count("/projects") == 1, gets
