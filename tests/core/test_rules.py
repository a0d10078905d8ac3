"""Field rules as data (platforge.core.rules), as the diff applies them: sets, keyed lists, nested
documents with server defaults (deepdiff only for documents that differ), remote changes that do
not count, and the reason code every change carries."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from platforge.core import diff as diff_module
from platforge.core.diff import diff_resource
from platforge.core.kind import Kind
from platforge.core.model import LiveObject, ObjectRef, Resource
from platforge.core.rules import ANY, Collection, FieldRule


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    tags: list[str] | None = None
    tasks: list[dict[str, Any]] | None = None
    owner: str | None = None
    image: str | None = None


class JobKind(Kind):
    name = "job"
    spec_model = JobSpec
    identity_fields = ("name",)
    field_rules = {
        "tags": FieldRule(collection=Collection.SET),
        "tasks": FieldRule(collection=Collection.KEYED, key="name", document=True,
                           server_defaults={"*.timeout": 0, "*.run_id": ANY}),
        "owner": FieldRule(ignore_remote_changes=True),
        "image": FieldRule(new_version=True),
    }

    def list(self, ctx, scope):
        return []

    def create(self, ctx, resource):
        return None

    def update(self, ctx, resource, live, changed):
        return None

    def delete(self, ctx, ref: ObjectRef, live):
        return None


KIND = JobKind()


def changes(spec: dict[str, Any], live: dict[str, Any], applied: dict[str, Any] | None = None):
    resource = Resource("job", "etl", {"name": "etl", **spec}, ("etl",))
    return diff_resource(KIND, resource, LiveObject("job", ("etl",), {"name": "etl", **live}), {}, {}, applied)


def test_the_rules_are_data_and_the_per_rule_sets_follow():
    assert KIND.new_version_fields == {"image"} and KIND.rule("tags").collection is Collection.SET
    assert KIND.rule("name") == FieldRule()


def test_a_set_ignores_order_and_repeats():
    assert changes({"tags": ["b", "a", "b"]}, {"tags": ["a", "b"]}) == []
    assert [c.path for c in changes({"tags": ["a", "c"]}, {"tags": ["a", "b"]})] == ["tags"]


def test_a_keyed_document_compares_item_by_item_and_server_defaults_are_no_difference(monkeypatch):
    declared = [{"name": "load", "cmd": "load.py"}, {"name": "extract", "cmd": "x.py"}]
    live = [{"name": "extract", "cmd": "x.py", "timeout": 0, "run_id": 77}, {"name": "load", "cmd": "load.py",
                                                                              "timeout": 0, "run_id": 78}]
    before = diff_module.DOCUMENT_DIFFS["count"]
    assert changes({"tasks": declared}, {"tasks": live}) == [], "order of a keyed list and defaults: no change"
    assert diff_module.DOCUMENT_DIFFS["count"] == before, "an unchanged document never reaches deepdiff"

    live[1] = {"name": "load", "cmd": "load_v2.py", "timeout": 30, "run_id": 78}
    found = changes({"tasks": declared}, {"tasks": live})
    assert diff_module.DOCUMENT_DIFFS["count"] == before + 1
    assert sorted((c.path, c.old, c.new) for c in found) == [
        ("tasks.load.cmd", "load_v2.py", "load.py"), ("tasks.load.timeout", 30, None)]


def test_remote_changes_to_an_ignored_field_do_not_count_but_declared_ones_do():
    assert changes({"owner": "team-a"}, {"owner": "someone-else"}, applied={"owner": "team-a"}) == []
    found = changes({"owner": "team-b"}, {"owner": "someone-else"}, applied={"owner": "team-a"})
    assert [(c.path, c.reason) for c in found] == [("owner", "declared")]


@pytest.mark.parametrize("spec, live, applied, reason", [
    ({"image": "v2"}, {"image": "v1"}, {"image": "v1"}, "declared"),
    ({"image": "v1"}, {"image": "v9"}, {"image": "v1"}, "remote"),
    ({"image": "v2"}, {"image": "v9"}, {"image": "v1"}, "both"),
    ({"image": "v2"}, {"image": "v1"}, None, "no_history"),
])
def test_every_change_carries_a_reason_code(spec, live, applied, reason):
    (change,) = changes(spec, live, applied)
    assert change.reason == reason and change.new_version and change.to_json()["new_version"] is True
