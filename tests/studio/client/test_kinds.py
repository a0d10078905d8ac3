"""Every Studio kind through the core's Engine against the fake Studio: create, converge (a
second apply writes nothing), keep server ids, replace a member or a rule whose identity,
resource or principal changes, refuse a rule without exactly one principal before any request,
treat `pause_pipeline` as write-only desired state, resolve pipeline and user names through the
data sources with a plan error for a name that matches nothing, read live state with listings,
and never put the token in a plan, the state or a message."""

from __future__ import annotations

import json

import pytest
from platforge.provider.studio.kinds.common import cluster_named

from platforge.core.errors import StackError
from platforge.core.model import Cause, ObjectRef, Op

from .conftest import TEAM, TOKEN, FakeStudio, StackHarness

ALL_KINDS = """
[access_group.production-team]
description = "people who may write to production"

[access_group_member.prod-alice]
group = "production-team"
user = "Alice@Example.com"
role = "write"

[access_rule.prod-writes-dev]
resource_type = "namespace"
resource_id = "dev"
permission = "write"
group = "production-team"

[access_rule.bob-reads-dev]
resource_type = "namespace"
resource_id = "dev"
permission = "read"
user = "bob@example.com"

[pipeline_schedule.nightly]
pipeline = "rathe-kyat"
cron_expression = "0 0 * * *"
start_after = 2026-01-01T00:00:00Z
pause_pipeline = true
"""


@pytest.fixture
def seeded(studio: FakeStudio) -> FakeStudio:
    """Alice and Bob are known to Studio through an existing group (how Studio shows users)."""
    studio.add_pipeline("rathe-kyat")
    everyone = studio.add_group("everyone")
    for email in ("alice@example.com", "bob@example.com"):
        studio.add_member(everyone, studio.add_user(email))
    return studio


def one(store: dict, **match):
    (found,) = [v for v in store.values() if all(v.get(k) == w for k, w in match.items())]
    return found


def test_all_four_kinds_apply_converge_and_a_second_apply_writes_nothing(harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    plan, result = harness.engine().apply()
    assert result.ok, result.failed
    assert {a.op for a in plan.changes} == {Op.CREATE} and len(plan.changes) == 5
    group = one(seeded.groups, name="production-team")
    assert group["description"] == "people who may write to production" and group["team"] == TEAM
    alice = one(seeded.users, email="alice@example.com")["user_id"]
    assert seeded.members[group["id"]] [alice]["role"] == "write"
    by_principal = {(r["group_id"], r["user_id"]): r for r in seeded.rules.values()}
    assert by_principal[(group["id"], None)]["permission"] == "write"
    bob = one(seeded.users, email="bob@example.com")["user_id"]
    assert by_principal[(None, bob)]["permission"] == "read"
    schedule = one(seeded.schedules, schedule_name="nightly")
    assert schedule["cron_expression"] == "0 0 * * *" and schedule["start_after"] == "2026-01-01T00:00:00Z"
    assert seeded.paused == {schedule["id"]: True}

    state = harness.state()["resources"]
    assert state["access_group.production-team"]["platform_id"] == group["id"]
    assert state["pipeline_schedule.nightly"]["platform_id"] == schedule["id"]
    assert state["access_group_member.prod-alice"]["identity"] == ["production-team", "alice@example.com"]

    mark = seeded.mark()
    again, second = harness.engine().apply()
    assert not again.has_changes and second.applied == []
    assert seeded.writes(mark) == []
    drift = harness.engine().drift()
    assert [(f.cause, f.address) for f in drift.findings] == [(Cause.UNMANAGED, "access_group.everyone")]


def test_live_state_is_read_with_listings_never_one_get_per_object(harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    assert harness.engine().apply()[1].ok
    mark = seeded.mark()
    harness.engine().plan()
    paths = [r.url.path.removeprefix("/api/datachain") for r in seeded.requests[mark:]]
    assert all(r.method == "GET" for r in seeded.requests[mark:])
    assert paths.count("/rbac/access-groups/") == 1 and paths.count("/rbac/access-rules/") == 1
    assert paths.count("/pipeline/schedules") == 1 and paths.count("/pipeline/list") == 1
    # Members: the declared group's listing; the users' ids are known from it and from the rules,
    # so the other groups' members are not read.
    gid = one(seeded.groups, name="production-team")["id"]
    assert [p for p in paths if p.endswith("/members/")] == [f"/rbac/access-groups/{gid}/members/"]
    assert len(paths) == 5  # one listing per kind (members: per declared group), nothing per object
    # The seed's schedule items carry no pipeline: the pipeline listing names it (no read per schedule).
    assert "/pipeline/schedule" not in paths


def test_an_apply_spends_its_requests_on_writes_not_on_a_listing_per_object(harness: StackHarness,
                                                                             seeded: FakeStudio):
    """Issue 11: under a rate limit every read costs a write. Members and rules of a group made
    earlier in the run find its id in the run's group listing (not one listing each), and a
    schedule's read-back names its pipeline from what the create sent (not one GET each)."""
    extra = "".join(f'\n[access_group_member.m{i}]\ngroup = "production-team"\nuser = "{u}"\nrole = "read"\n'
                    f'\n[access_rule.r{i}]\nresource_type = "namespace"\nresource_id = "ns{i}"\npermission = "read"\n'
                    f'group = "production-team"\n'
                    for i, u in enumerate(["bob@example.com"]))
    pipelines = [f"p-{i}" for i in range(4)]
    for name in pipelines:
        seeded.add_pipeline(name)
    schedules = "".join(f'\n[pipeline_schedule.s{i}]\npipeline = "{name}"\ncron_expression = "0 {i} * * *"\n'
                        for i, name in enumerate(pipelines))
    harness.write(ALL_KINDS + extra + schedules)
    mark = seeded.mark()
    assert harness.engine().apply()[1].ok
    paths = [r.url.path.removeprefix("/api/datachain") for r in seeded.requests[mark:] if r.method == "GET"]
    # Once to plan, once more after the group is created (the listing before it lacks it).
    assert paths.count("/rbac/access-groups/") == 2, paths
    assert "/pipeline/schedule" not in paths, paths
    assert not harness.engine().plan().has_changes


def test_only_a_schedule_no_definition_names_is_read_on_its_own(harness: StackHarness, seeded: FakeStudio):
    """Two schedules of one pipeline: the definition names the newest; the older is read alone."""
    harness.write(ALL_KINDS + '\n[pipeline_schedule.weekly]\npipeline = "rathe-kyat"\ncron_expression = "0 0 * * 0"\n')
    assert harness.engine().apply()[1].ok
    mark = seeded.mark()
    assert not harness.engine().plan().has_changes
    reads = [dict(r.url.params) for r in seeded.requests[mark:] if r.url.path.endswith("/pipeline/schedule")]
    assert reads == [{"schedule_id": str(one(seeded.schedules, schedule_name="nightly")["id"]), "team_name": TEAM}]


def test_pause_pipeline_is_write_only_desired_state(harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    assert harness.engine().apply()[1].ok
    (sid,) = seeded.schedules
    assert seeded.paused == {sid: True}
    # Studio resumes the pipeline on its own: nobody can see it, so nothing is planned or reported.
    seeded.paused[sid] = False
    assert not harness.engine().plan().has_changes
    assert [f for f in harness.engine().drift().findings if f.address == "pipeline_schedule.nightly"] == []

    harness.write(ALL_KINDS.replace("pause_pipeline = true", "pause_pipeline = false"))
    plan = harness.engine().plan()
    (action,) = plan.changes
    assert (action.address, action.op) == ("pipeline_schedule.nightly", Op.UPDATE)
    (change,) = action.changes
    assert (change.path, change.old, change.new, change.reason) == ("pause_pipeline", True, False, "declared")
    drift = harness.engine().drift()
    assert [(f.cause, f.address) for f in drift.findings if f.address.startswith("pipeline")] == [
        (Cause.DECLARED_CHANGE, "pipeline_schedule.nightly")]
    mark = seeded.mark()
    _, result = harness.engine().apply()
    assert result.ok, result.failed
    assert seeded.write_lines(mark) == ["POST /datachain/pipeline/update-schedule"]
    assert json.loads(seeded.writes(mark)[0].content) == {
        "schedule_name": "nightly", "start_after": "2026-01-01T00:00:00Z", "cron_expression": "0 0 * * *",
        "pause_pipeline": False, "schedule_id": sid, "team_name": TEAM}
    mark = seeded.mark()
    assert not harness.engine().apply()[0].has_changes
    assert seeded.writes(mark) == []


def test_a_cron_change_resends_nothing_about_pausing_and_reads_back(harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    assert harness.engine().apply()[1].ok
    harness.write(ALL_KINDS.replace('cron_expression = "0 0 * * *"', 'cron_expression = "  30 2 * * 1 "'))
    mark = seeded.mark()
    plan, result = harness.engine().apply()
    assert result.ok, result.failed
    (action,) = plan.changes
    assert [(c.path, c.new) for c in action.changes] == [("cron_expression", "30 2 * * 1")]
    (write,) = seeded.writes(mark)
    assert "pause_pipeline" not in json.loads(write.content)
    assert one(seeded.schedules, schedule_name="nightly")["cron_expression"] == "30 2 * * 1"


def test_adopting_a_schedule_sends_pause_pipeline_once_since_it_cannot_be_read(harness: StackHarness,
                                                                                seeded: FakeStudio):
    pid = seeded.pipelines[0]["pipeline_id"]
    seeded.schedules[1] = {"id": 1, "team": TEAM, "pipeline_id": pid, "schedule_name": "nightly",
                           "start_after": "2026-01-01T00:00:00.000000Z", "cron_expression": "0 0 * * *",
                           "created_at": "x", "updated_at": "x", "next_run": "x", "created_by": {}}
    harness.write(ALL_KINDS.split("[pipeline_schedule.nightly]")[0].split("[access_group.")[0] + """
[pipeline_schedule.nightly]
pipeline = "rathe-kyat"
cron_expression = "0 0 * * *"
start_after = "2026-01-01T01:00:00+01:00"
pause_pipeline = true
""")
    plan = harness.engine().plan(adopt=["pipeline_schedule.nightly"])
    (action,) = plan.changes
    assert action.op is Op.IMPORT and [(c.path, c.reason) for c in action.changes] == [("pause_pipeline", "no_history")]
    mark = seeded.mark()
    assert harness.engine().apply(adopt=["pipeline_schedule.nightly"])[1].ok
    assert seeded.write_lines(mark) == ["POST /datachain/pipeline/update-schedule"]
    assert seeded.paused == {1: True}
    assert not harness.engine().plan().has_changes


def test_a_member_whose_user_or_group_changes_is_replaced(harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    assert harness.engine().apply()[1].ok
    group = one(seeded.groups, name="production-team")["id"]
    alice = one(seeded.users, email="alice@example.com")["user_id"]
    bob = one(seeded.users, email="bob@example.com")["user_id"]
    harness.write(ALL_KINDS.replace('user = "Alice@Example.com"', 'user = "bob@example.com"'))
    plan = harness.engine().plan()
    (action,) = plan.changes
    assert (action.address, action.op) == ("access_group_member.prod-alice", Op.REPLACE)
    assert {c.path for c in action.changes if c.forces_replace} == {"user"}
    mark = seeded.mark()
    assert harness.engine().apply()[1].ok
    assert seeded.write_lines(mark) == [f"DELETE /datachain/rbac/access-groups/{group}/members/{alice}/",
                                        f"POST /datachain/rbac/access-groups/{group}/members/"]
    assert set(seeded.members[group]) == {bob}

    # Into another group: the identity's other half.
    body = ALL_KINDS.replace('user = "Alice@Example.com"', 'user = "bob@example.com"') + \
        '\n[access_group.ops]\n'
    harness.write(body.replace('group = "production-team"\nuser', 'group = "ops"\nuser'))
    plan = harness.engine().plan()
    assert {(a.address, a.op) for a in plan.changes} == {("access_group.ops", Op.CREATE),
                                                          ("access_group_member.prod-alice", Op.REPLACE)}
    assert harness.engine().apply()[1].ok
    ops = one(seeded.groups, name="ops")["id"]
    assert set(seeded.members[group]) == set() and set(seeded.members[ops]) == {bob}
    assert not harness.engine().plan().has_changes


def test_a_role_change_is_an_update_in_place(harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    assert harness.engine().apply()[1].ok
    group = one(seeded.groups, name="production-team")["id"]
    alice = one(seeded.users, email="alice@example.com")["user_id"]
    seeded.members[group][alice]["role"] = "admin"  # out of band
    plan = harness.engine().plan()
    (action,) = plan.changes
    assert action.op is Op.UPDATE and [(c.path, c.old, c.new, c.reason) for c in action.changes] == [
        ("role", "admin", "write", "remote")]
    (finding,) = [f for f in harness.engine().drift().findings if f.cause is Cause.OUT_OF_BAND]
    assert finding.address == "access_group_member.prod-alice"
    mark = seeded.mark()
    assert harness.engine().apply()[1].ok
    assert seeded.write_lines(mark) == [f"PATCH /datachain/rbac/access-groups/{group}/members/{alice}/"]


def test_a_rule_whose_principal_or_resource_changes_is_replaced_and_its_permission_updated(
        harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    assert harness.engine().apply()[1].ok
    old = harness.state()["resources"]["access_rule.prod-writes-dev"]["platform_id"]

    harness.write(ALL_KINDS.replace('permission = "write"\ngroup', 'permission = "admin"\ngroup'))
    (action,) = harness.engine().plan().changes
    assert action.op is Op.UPDATE and [c.path for c in action.changes] == ["permission"]
    mark = seeded.mark()
    assert harness.engine().apply()[1].ok
    assert seeded.write_lines(mark) == [f"PATCH /datachain/rbac/access-rules/{old}/"]

    principal = ALL_KINDS.replace('permission = "write"\ngroup = "production-team"',
                                  'permission = "write"\nuser = "alice@example.com"')
    harness.write(principal)
    (action,) = harness.engine().plan().changes
    assert (action.address, action.op) == ("access_rule.prod-writes-dev", Op.REPLACE)
    assert {"user", "principal"} <= {c.path for c in action.changes if c.forces_replace}
    mark = seeded.mark()
    assert harness.engine().apply()[1].ok
    assert seeded.write_lines(mark) == [f"DELETE /datachain/rbac/access-rules/{old}/", "POST /datachain/rbac/access-rules/"]
    new = harness.state()["resources"]["access_rule.prod-writes-dev"]["platform_id"]
    alice = one(seeded.users, email="alice@example.com")["user_id"]
    assert seeded.rules[new]["user_id"] == alice and seeded.rules[new]["group_id"] is None

    harness.write(principal.replace('resource_id = "dev"\npermission = "write"', 'resource_id = "prod"\npermission = "write"'))
    (action,) = harness.engine().plan().changes
    assert action.op is Op.REPLACE and {c.path for c in action.changes if c.forces_replace} >= {"resource_id"}
    assert harness.engine().apply()[1].ok
    newest = harness.state()["resources"]["access_rule.prod-writes-dev"]["platform_id"]
    assert new not in seeded.rules and seeded.rules[newest]["resource"]["name"] == "prod"
    assert not harness.engine().plan().has_changes


def test_a_rules_resource_may_be_named_by_id_uuid_or_name(harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    assert harness.engine().apply()[1].ok
    rule = next(r for r in seeded.rules.values() if r["group_id"])
    for alias in (str(rule["resource"]["id"]), rule["resource"]["uuid"]):
        harness.write(ALL_KINDS.replace('resource_id = "dev"\npermission = "write"',
                                        f'resource_id = "{alias}"\npermission = "write"'))
        assert not harness.engine().plan().has_changes, alias


@pytest.mark.parametrize("principal, found", [
    ('user = "alice@example.com"\ngroup = "production-team"', "not both"),
    ("", "set `user` (an e-mail) or `group`"),
])
def test_a_rule_without_exactly_one_principal_fails_naming_file_line_and_fields_before_any_request(
        harness: StackHarness, seeded: FakeStudio, principal: str, found: str):
    path = harness.write(f"""
[access_group.production-team]

[access_rule.bad]
resource_type = "namespace"
resource_id = "dev"
permission = "write"
{principal}
""")
    mark = seeded.mark()
    with pytest.raises(StackError) as caught:
        harness.engine()
    (problem,) = caught.value.problems
    line = path.read_text().splitlines().index("[access_rule.bad]") + 1
    assert problem.file == str(path) and problem.line == line and problem.path == "access_rule.bad"
    assert found in problem.message and "`user`" in problem.message
    assert seeded.requests[mark:] == []


def test_an_unknown_pipeline_is_a_plan_error_at_its_declaration(harness: StackHarness, seeded: FakeStudio):
    path = harness.write(ALL_KINDS.replace('pipeline = "rathe-kyat"', 'pipeline = "no-such-pipe"'))
    engine = harness.engine()
    mark = seeded.mark()
    with pytest.raises(StackError) as caught:
        engine.plan()
    (problem,) = caught.value.problems
    assert (problem.file, problem.path) == (str(path), "pipeline_schedule.nightly")
    assert problem.line == path.read_text().splitlines().index("[pipeline_schedule.nightly]") + 1
    assert "no pipeline named 'no-such-pipe'" in problem.message and "rathe-kyat" in problem.message
    assert seeded.writes(mark) == []


def test_pipelines_sharing_a_name_are_refused_naming_their_ids(harness: StackHarness, seeded: FakeStudio):
    first = seeded.pipelines[0]["pipeline_id"]
    second = seeded.add_pipeline("rathe-kyat")
    seeded.add_pipeline("rathe-kyat", definition=False)  # a run of that name never competes with definitions
    harness.write(ALL_KINDS)
    with pytest.raises(StackError) as caught:
        harness.engine().plan()
    assert first in str(caught.value) and second in str(caught.value)


def test_an_unknown_email_is_a_plan_error_and_nothing_is_written(harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS.replace('user = "bob@example.com"', 'user = "carol@example.com"'))
    mark = seeded.mark()
    with pytest.raises(StackError) as caught:
        harness.engine().apply()
    (problem,) = caught.value.problems
    assert problem.path == "access_rule.bob-reads-dev" and "carol@example.com" in problem.message
    assert seeded.writes(mark) == []


def test_a_group_rename_is_an_update_of_the_same_id_and_its_members_and_rules_follow(
        harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    assert harness.engine().apply()[1].ok
    gid = one(seeded.groups, name="production-team")["id"]
    harness.write(ALL_KINDS.replace('[access_group.production-team]\n',
                                    '[access_group.production-team]\nname = "prod-writers"\n'))
    (action,) = harness.engine().plan().changes
    assert action.op is Op.UPDATE and [(c.path, c.new) for c in action.changes] == [("name", "prod-writers")]
    mark = seeded.mark()
    assert harness.engine().apply()[1].ok
    assert seeded.write_lines(mark) == [f"PATCH /datachain/rbac/access-groups/{gid}/"]
    assert seeded.groups[gid]["name"] == "prod-writers"
    assert not harness.engine().plan().has_changes


def test_an_existing_group_is_adopted_only_with_consent_and_a_null_description_is_empty(
        harness: StackHarness, seeded: FakeStudio):
    seeded.add_group("production-team", description=None)
    harness.write('[access_group.production-team]\ndescription = ""\n')
    plan = harness.engine().plan()
    (action,) = plan.changes
    assert action.op is Op.IMPORT and action.changes == [] and not action.adopt
    assert harness.engine().apply(adopt=["access_group.production-team"])[1].ok
    assert "access_group.production-team" in harness.state()["resources"]


def test_unmanaged_objects_are_reported_and_not_touched(harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    assert harness.engine().apply()[1].ok
    group = one(seeded.groups, name="production-team")["id"]
    carol = seeded.add_user("carol@example.com")
    seeded.add_member(group, carol, "read")
    found = {(f.cause, f.address) for f in harness.engine().drift().findings}
    assert (Cause.UNMANAGED, "access_group_member.production-team/carol@example.com") in found
    assert (Cause.UNMANAGED, "access_group.everyone") in found
    mark = seeded.mark()
    assert harness.engine().apply()[1].ok
    assert seeded.writes(mark) == [] and carol in seeded.members[group]


def test_deleting_what_is_gone_is_not_an_error_and_prune_deletes_what_is_owned(harness: StackHarness,
                                                                            seeded: FakeStudio):
    harness.write(ALL_KINDS)
    assert harness.engine().apply()[1].ok
    sid = one(seeded.schedules, schedule_name="nightly")["id"]
    harness.write(ALL_KINDS.split("[pipeline_schedule.nightly]")[0])
    mark = seeded.mark()
    plan, result = harness.engine().apply(prune=True)
    assert result.ok and [(a.address, a.op) for a in plan.changes] == [("pipeline_schedule.nightly", Op.DELETE)]
    assert seeded.write_lines(mark) == ["POST /datachain/pipeline/delete-schedule"] and sid not in seeded.schedules
    engine = harness.engine()
    kind = engine.platform.kinds["pipeline_schedule"]
    kind.delete(engine.ctx, ObjectRef(("nightly",), sid), None)  # already gone: no error


def test_the_token_is_never_in_a_plan_the_state_or_a_report(harness: StackHarness, seeded: FakeStudio):
    harness.write(ALL_KINDS)
    plan, result = harness.engine().apply()
    assert result.ok
    texts = [json.dumps(plan.to_json()), harness.state_text(), json.dumps(harness.engine().drift().to_json()),
             repr(harness.engine().client)]
    for text in texts:
        assert TOKEN not in text


def test_the_cluster_data_source_finds_a_cluster_by_name_or_says_which_exist(harness: StackHarness,
                                                                            seeded: FakeStudio):
    seeded.clusters = [{"id": "1", "name": "default", "team": TEAM}, {"id": "2", "name": "gpu", "team": TEAM},
                       {"id": "3", "name": "theirs", "team": "other"}]
    harness.write(ALL_KINDS)
    engine = harness.engine()
    resource = next(r for r in engine.stack.resources if r.kind == "pipeline_schedule")
    assert cluster_named(engine.ctx, resource, "gpu")["id"] == "2"
    with pytest.raises(StackError) as caught:
        cluster_named(engine.ctx, resource, "theirs")
    (problem,) = caught.value.problems
    assert problem.path == "pipeline_schedule.nightly" and problem.line is not None
    assert "no compute cluster named 'theirs'" in problem.message and "(clusters: default, gpu)" in problem.message
    assert [r.url.path for r in seeded.requests].count("/api/datachain/clusters/") == 1


@pytest.mark.parametrize("cron, start, message", [
    ('"0 0 *"', '"2026-01-01T00:00:00Z"', "a cron expression has 5 fields"),
    ('"@daily"', '"2026-01-01T00:00:00"', "needs its time zone"),
    ('"@daily"', "1767225600", "a date-time with its time zone"),
])
def test_a_schedule_with_a_bad_cron_or_a_zoneless_start_fails_before_any_request(
        harness: StackHarness, seeded: FakeStudio, cron: str, start: str, message: str):
    harness.write(f'[pipeline_schedule.nightly]\npipeline = "rathe-kyat"\ncron_expression = {cron}\n'
                  f"start_after = {start}\n")
    with pytest.raises(StackError) as caught:
        harness.engine()
    assert message in str(caught.value) and "pipeline_schedule.nightly" in str(caught.value)
    assert seeded.requests == []


def test_refreshing_a_schedule_on_its_own_reads_it_by_id_not_the_teams_listing(harness: StackHarness,
                                                                                seeded: FakeStudio):
    """`--refresh per-object` (and an import or a read-back) reads one schedule with `GET
    pipeline/schedule?schedule_id=` (S4), as a per-resource engine would: re-reading the whole
    schedule listing per schedule made the 10,000-object baseline quadratic."""
    harness.write(ALL_KINDS + '\n[pipeline_schedule.weekly]\npipeline = "rathe-kyat"\ncron_expression = "0 0 * * 0"\n')
    assert harness.engine().apply()[1].ok
    engine = harness.engine()
    engine.refresh = "per-object"
    mark = seeded.mark()
    assert not engine.plan().has_changes
    paths = [(r.url.path.removeprefix("/api/datachain"), dict(r.url.params)) for r in seeded.requests[mark:]]
    assert not [p for p, _ in paths if p == "/pipeline/schedules"], paths
    read = sorted(q["schedule_id"] for p, q in paths if p == "/pipeline/schedule")
    assert read == sorted(str(s["id"]) for s in seeded.schedules.values())
    seeded.schedules.clear()
    engine = harness.engine()
    engine.refresh = "per-object"
    assert {a.address for a in engine.plan().actions if a.op is Op.CREATE} == {"pipeline_schedule.nightly",
                                                                               "pipeline_schedule.weekly"}


def test_a_plan_looks_users_up_in_one_index_not_by_walking_every_listing(harness: StackHarness, seeded: FakeStudio,
                                                                          monkeypatch):
    """Issue 11: each member and user rule names a user by e-mail. The look-up walked every
    rule and every group's member listing per declaration (quadratic: 37.9 s of CPU for a
    10,000-object plan); the run now keeps one e-mail index that grows as listings are read.
    Counted structurally: the run's cache is peeked a bounded number of times per declaration."""
    from platforge.core.kind import Context

    users = [f"u{n:02d}@example.com" for n in range(12)]
    everyone = next(g["id"] for g in seeded.groups.values() if g["name"] == "everyone")
    for email in users:
        seeded.add_member(everyone, seeded.add_user(email))
    stack = "".join(f'[access_group.g{g}]\n' for g in range(6))
    stack += "".join(f'[access_group_member.m{n}]\ngroup = "g{n % 6}"\nuser = "{u}"\nrole = "read"\n'
                     for n, u in enumerate(users))
    stack += "".join(f'[access_rule.r{n}]\nresource_type = "namespace"\nresource_id = "ns{n}"\npermission = "read"\n'
                     f'user = "{u}"\n' for n, u in enumerate(users))
    harness.write(stack)
    assert harness.engine().apply()[1].ok
    peeks = [0]
    original = Context.peek

    def counting(self, key):
        peeks[0] += 1
        return original(self, key)

    monkeypatch.setattr(Context, "peek", counting)
    assert not harness.engine().plan().has_changes
    declarations = 6 + 2 * len(users)
    assert peeks[0] <= 2 * declarations, peeks[0]  # walking the listings: declarations x groups


def test_a_plan_finds_each_schedules_pipeline_in_one_index_not_by_scanning_the_listing(
        harness: StackHarness, seeded: FakeStudio, monkeypatch):
    """Issue 11: a schedule's listing item does not name its pipeline, so its definition is
    found by the definition's `schedule_name`. That was a scan of the pipeline listing per
    schedule (quadratic: 2,500 x 2,500 rows, about 2 s of a 10,000-object plan's CPU); it is
    now one index per listing. Counted structurally: how often the listing is walked."""
    from platforge.provider.studio.kinds import common, pipeline_schedule

    names = [f"pipe-{n}" for n in range(10)]
    for name in names:
        seeded.add_pipeline(name)
    harness.write("".join(f'[pipeline_schedule.s{n}]\npipeline = "{name}"\ncron_expression = "0 {n} * * *"\n'
                          for n, name in enumerate(names)))
    assert harness.engine().apply()[1].ok
    walks = count_walks(monkeypatch, "pipelines", common, pipeline_schedule)
    engine = harness.engine()  # a new run: its read-back records are gone, as in the next CI job
    plan = engine.plan()
    assert not plan.has_changes
    assert walks[0] <= 3, walks[0]  # one walk per index, not one per schedule


def test_a_plan_finds_groups_by_name_and_id_in_indexes_not_by_scanning_the_listing(
        harness: StackHarness, seeded: FakeStudio, monkeypatch):
    """Issue 11: each member listing and each rule looked its group up by scanning the group
    listing (by name, by id, then the stack's group names): 500 groups x 2,000 look-ups in a
    10,000-object plan. Now indexes per listing; counted structurally, as walks of the listing."""
    from platforge.provider.studio.kinds import access_group_member, access_rule, common

    stack = "".join(f'[access_group.g{g}]\n' for g in range(8))
    users = [f"w{n}@example.com" for n in range(8)]
    everyone = next(g["id"] for g in seeded.groups.values() if g["name"] == "everyone")
    for email in users:
        seeded.add_member(everyone, seeded.add_user(email))
    stack += "".join(f'[access_group_member.m{n}]\ngroup = "g{n}"\nuser = "{u}"\nrole = "read"\n'
                     for n, u in enumerate(users))
    stack += "".join(f'[access_rule.r{n}]\nresource_type = "namespace"\nresource_id = "ns{n}"\npermission = "read"\n'
                     f'group = "g{n}"\n' for n in range(8))
    harness.write(stack)
    assert harness.engine().apply()[1].ok
    walks = count_walks(monkeypatch, "groups", common, access_group_member, access_rule)
    assert not harness.engine().plan().has_changes
    assert walks[0] <= 6, walks[0]  # a walk per index, not one per member listing and per rule


def count_walks(monkeypatch, listing: str, common, *importers) -> list[int]:
    """Count how often the run's `listing` (a function of `common` returning one cached list)
    is iterated, wherever it is imported: a structural measure of scans per declaration."""
    walks = [0]

    class Walked(list):
        def __iter__(self):
            walks[0] += 1
            return super().__iter__()

    original = getattr(common, listing)
    held: dict[int, Walked] = {}

    def counted(ctx):
        listed = original(ctx)
        return held.setdefault(id(listed), Walked(listed))

    for module in (common, *importers):
        monkeypatch.setattr(module, listing, counted, raising=False)  # a module's own import of it too
    return walks
