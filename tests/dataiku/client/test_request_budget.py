"""Where the request budget goes: an apply spends it on writes, and a refresh of one object
costs one request. Each test counts the requests the fake DSS saw, so a kind that starts
listing a whole kind per object, or asking a project that does not exist yet for its
documents, fails here rather than in a benchmark."""

from __future__ import annotations

import pytest

from platforge.core.kind import Context
from platforge.core.model import ObjectRef

from .conftest import StackHarness
from .test_kinds import ALL_KINDS, apply

PROJECT_DOCUMENTS = ("/permissions", "/variables/", "/scenarios/")


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch):
    monkeypatch.setenv("JDOE_PASSWORD", "jdoe-PASSWORD-7f3a")
    monkeypatch.setenv("PG_PASSWORD", "pg-PASSWORD-91bc")


def paths(harness: StackHarness, since: int, method: str | None = None) -> list[str]:
    return [r.url.path.removeprefix("/public/api") for r in harness.dss.requests[since:]
            if method is None or r.method == method]


def test_a_plan_does_not_ask_projects_it_will_create_for_their_documents(harness: StackHarness):
    harness.write(ALL_KINDS)
    mark = harness.dss.mark()
    plan = harness.engine().plan()
    assert plan.has_changes
    asked = paths(harness, mark)
    assert "/projects/" in asked
    assert not [p for p in asked if p.startswith("/projects/MYPROJ")], asked


def test_refresh_per_object_reads_each_object_once_and_lists_nothing(harness: StackHarness):
    harness.write(ALL_KINDS)
    apply(harness)
    engine = harness.engine()
    engine.refresh = "per-object"
    mark = harness.dss.mark()
    assert not engine.plan().has_changes
    asked = paths(harness, mark)
    for one in ("/admin/users/jdoe", "/admin/groups/data_team", "/projects/MYPROJ", "/admin/connections/pg_main"):
        assert asked.count(one) == 1, (one, asked)
    for listing in ("/admin/users/", "/admin/groups/", "/admin/connections/"):
        assert listing not in asked, (listing, asked)


def test_declaring_both_parts_of_a_projects_variables_writes_them_without_a_read(harness: StackHarness):
    harness.write('[project.P]\n[project_variables.P]\nstandard = { a = 1 }\nlocal = { b = true }\n')
    mark = harness.dss.mark()
    _, result = apply(harness)
    assert result.ok
    assert harness.dss.projects["P"]["variables"] == {"standard": {"a": 1}, "local": {"b": True}}
    assert paths(harness, mark, "PUT").count("/projects/P/variables/") == 1
    # The plans skip the new project; one read verifies the write, none read-modify-writes it.
    assert paths(harness, mark, "GET").count("/projects/P/variables/") == 1


def test_only_one_part_declared_keeps_the_other_as_it_was(harness: StackHarness):
    harness.write('[project.P]\n')
    apply(harness)
    harness.dss.projects["P"]["variables"]["local"] = {"kept": "by hand"}
    harness.write('[project.P]\n[project_variables.P]\nstandard = { a = 1 }\n')
    _, result = apply(harness, adopt=["project_variables.P"])
    assert result.ok
    assert harness.dss.projects["P"]["variables"] == {"standard": {"a": 1}, "local": {"kept": "by hand"}}


def test_a_scenario_is_created_with_its_triggers_in_one_request(harness: StackHarness):
    harness.write('[project.P]\n')
    apply(harness)
    harness.write('[project.P]\n[scenario.s]\nproject = "P"\nname = "Build"\nactive = true\n'
                  '[[scenario.s.triggers]]\nfrequency = "Daily"\nhour = 3\n')
    mark = harness.dss.mark()
    _, result = apply(harness)
    assert result.ok
    writes = [(r.method, r.url.path.removeprefix("/public/api")) for r in harness.dss.writes(mark)]
    assert writes == [("POST", "/projects/P/scenarios/")]
    scenario = harness.dss.projects["P"]["scenarios"]["BUILD"]
    assert scenario["active"] is True and scenario["triggers"][0]["params"]["hour"] == 3
    assert not harness.engine().plan().has_changes


def test_a_read_back_asks_the_project_even_when_a_cached_listing_predates_it(harness: StackHarness):
    """The plan skips projects its listing does not show; a read-back must not, or an object
    written into a project created after the listing was cached would never be found."""
    harness.write('[project.P]\n[project_group_grant.g]\nproject = "P"\ngroup = "administrators"\nadmin = true\n')
    engine = harness.engine()
    ctx: Context = engine.ctx
    kind = engine.platform.kinds["project_group_grant"]
    assert kind.list(ctx, "P") == []  # caches a listing without P
    apply(harness)  # a second engine creates P and the grant
    assert kind.list(ctx, "P") == []  # the stale cache still says P is absent...
    live = kind.read(ctx, ObjectRef(("P", "administrators")))
    assert live is not None and live.fields["admin"] is True  # ...the read asks P itself
