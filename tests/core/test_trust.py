"""The promises a stack makes about what it touches (issue 7 and the apply half of issue 8), over
the in-memory platform: ownership bound to one target, explicit adoption, orphans that plan and
drift agree on, drift that a shared platform can pass, and no write sent twice."""

from __future__ import annotations

import json

import pytest

from platforge.core.apply import Applier
from platforge.core.errors import AdoptionError, ApplyError, StackError, TargetMismatch
from platforge.core.model import Action, Cause, Op

BASIC = """
[team.data]
members = ["alice", "bob"]

[item.db]
value = "postgres://h/db"
team = "data"
"""


def ops(plan) -> dict[str, str]:
    return {a.address: a.op.value for a in plan.actions}


def shadow_team(harness, name: str = "data", members=("alice", "bob")) -> None:
    harness.platform.store.teams[name] = {"id": 900, "members": set(members), "region": "eu"}


# ---- ownership is bound to its target -------------------------------------------------------


def test_state_of_another_endpoint_is_refused_naming_both_and_nothing_is_written(harness):
    harness.write(BASIC)
    harness.engine(endpoint="memory://a").apply()
    store = harness.platform.store
    writes = store.writes
    harness.write('[team.data]\nmembers = ["alice", "bob"]\n')  # item.db dropped: a prune would delete it

    for run in (lambda e: e.plan(prune=True), lambda e: e.apply(prune=True), lambda e: e.drift()):
        with pytest.raises(TargetMismatch) as info:
            run(harness.engine(endpoint="memory://b"))
        assert "memory://a" in str(info.value) and "memory://b" in str(info.value)
    assert store.writes == writes and "db" in store.items


def test_retarget_moves_the_state_explicitly(harness):
    harness.write(BASIC)
    harness.engine(endpoint="memory://a").apply()
    before, after = harness.engine(endpoint="memory://a2/", check_target=False).retarget()
    assert before["endpoint"] == "memory://a" and after["endpoint"] == "memory://a2/"
    assert not harness.engine(endpoint="memory://a2").plan().needs_attention  # a trailing slash is the same URL
    with pytest.raises(TargetMismatch):
        harness.engine(endpoint="memory://a")


def test_environment_is_part_of_the_target(harness):
    harness.write(BASIC)
    harness.engine().apply()
    text = harness.stack_dir.joinpath("main.toml").read_text()
    harness.stack_dir.joinpath("main.toml").write_text(text.replace('endpoint = "memory://fake"',
                                                                    'endpoint = "memory://fake"\nenvironment = "prod"'))
    with pytest.raises(TargetMismatch, match="environment dev.*environment prod"):
        harness.engine()


# ---- adoption is explicit -------------------------------------------------------------------


def test_an_existing_object_is_an_import_and_apply_refuses_it_without_consent(harness):
    shadow_team(harness, members=("alice",))
    harness.write(BASIC)
    plan = harness.engine().plan()
    assert ops(plan) == {"team.data": "import", "item.db": "create"}
    assert plan.summary()["import"] == 1
    imported = plan.actions[0]
    assert imported.live["members"] == ["alice"] and not imported.adopt
    assert [(c.path, c.old, c.new) for c in imported.changes] == [("members", ["alice"], ["alice", "bob"])]
    assert json.loads(json.dumps(plan.to_json()))["actions"][0]["op"] == "import"

    store = harness.platform.store
    with pytest.raises(AdoptionError) as info:
        harness.engine().apply()
    assert info.value.refusals[0][0] == "team.data" and "--adopt" in str(info.value)
    assert store.writes == 0 and "db" not in store.items, "refused before the first write"


@pytest.mark.parametrize("how", ["flag", "stack"])
def test_consent_by_flag_or_by_the_stack_adopts_and_converges(harness, how):
    shadow_team(harness, members=("alice",))
    harness.write(BASIC + ('\n[adopt]\nobjects = ["team.*"]\n' if how == "stack" else ""))
    adopt = ["team.data"] if how == "flag" else []
    plan = harness.engine().plan(adopt=adopt)
    assert plan.actions[0].op is Op.IMPORT and plan.actions[0].adopt
    _, result = harness.engine().apply(adopt=adopt)
    assert result.ok and harness.platform.store.teams["data"]["members"] == {"alice", "bob"}
    after = harness.engine().plan()
    assert not after.has_changes, "adopted: owned from now on, no consent needed again"
    writes = harness.platform.store.writes
    harness.engine().apply()
    assert harness.platform.store.writes == writes


def test_an_import_already_as_declared_writes_nothing_but_records_ownership(harness):
    shadow_team(harness)
    harness.write('[team.data]\nmembers = ["alice", "bob"]\n')
    harness.engine().apply(adopt=["*"])
    assert harness.platform.store.writes == 0
    harness.write("[team.other]\n")
    assert harness.engine().plan().orphans == ["team.data"], "adopted objects are owned, hence prunable"


def test_a_kind_can_block_an_import_even_with_consent(harness, monkeypatch):
    monkeypatch.setattr(type(harness.platform.kinds["team"]), "refuse_write",
                        lambda self, ctx, resource, live, changes, adopting: "not yours" if adopting else None)
    shadow_team(harness)
    harness.write('[team.data]\nmembers = ["alice", "bob"]\n')
    with pytest.raises(AdoptionError, match="team.data: not yours"):
        harness.engine().apply(adopt=["*"])


# ---- plan and drift agree on orphans ----------------------------------------------------------


def test_plan_lists_orphans_and_says_prune_deletes_them(harness):
    harness.write(BASIC)
    harness.engine().apply()
    harness.write('[team.data]\nmembers = ["alice", "bob"]\n')
    plan = harness.engine().plan()
    assert not plan.has_changes and plan.orphans == ["item.db"] and plan.needs_attention
    assert plan.to_json()["summary"]["orphaned"] == 1
    drift = harness.engine().drift()
    assert [f.address for f in drift.findings if f.cause is Cause.DECLARED_CHANGE] == ["item.db"]


# ---- drift that a shared platform can pass --------------------------------------------------


def test_unmanaged_objects_are_reported_with_coverage_but_fail_only_when_asked(harness):
    harness.write(BASIC)
    harness.engine().apply()
    shadow_team(harness, "other-team")
    report = harness.engine().drift()
    assert [f.address for f in report.findings] == ["team.other-team"], "one address syntax: kind.name"
    assert not report.drifted
    assert report.coverage["team"] == {"managed": 1, "live": 2}
    assert harness.engine().drift(fail_on=[Cause.UNMANAGED]).drifted


def test_external_and_ignored_objects_are_never_findings(harness):
    shadow_team(harness, "finance")
    shadow_team(harness, "svc-billing")
    shadow_team(harness, "svc-search")
    shadow_team(harness, "rogue")
    harness.write(BASIC + '\n[external]\nteam = ["finance"]\n\n[unmanaged]\nignore = ["team:svc-*"]\n')
    harness.engine().apply()
    report = harness.engine().drift(fail_on=[Cause.UNMANAGED])
    assert [f.address for f in report.findings] == ["team.rogue"]
    assert report.ignored == 2
    assert [u.address for u in harness.engine().plan().unmanaged] == ["team.rogue"]


def test_a_missing_external_reference_fails_the_plan_before_any_write(harness):
    harness.write('[external]\nteam = ["finance"]\n\n' + '\n'.join(
        f'[item.i{n}]\nvalue = "{n}"\n' for n in range(9)) + '\n[item.last]\nteam = "finance"\n')
    with pytest.raises(StackError, match=r"item\.last.*refers to team 'finance', listed under \[external\] but not "
                                         "found on the platform"):
        harness.engine().apply()
    assert harness.platform.store.writes == 0


# ---- creates show their values ----------------------------------------------------------------


def test_a_create_carries_its_values_and_hides_secrets(harness, monkeypatch):
    monkeypatch.setenv("ITEM_TOKEN", "MARKER-token-5521")
    harness.write(BASIC + 'token = { from_env = "ITEM_TOKEN" }\n')
    plan = harness.engine().plan()
    item = next(a for a in plan.actions if a.address == "item.db")
    values = {c.path: c.new for c in item.changes}
    assert values["value"] == "postgres://h/db" and values["team"] == "data"
    token = next(c for c in item.changes if c.path == "token")
    assert token.sensitive and token.to_json()["new"] == "(sensitive)"
    assert "MARKER-token-5521" not in json.dumps(plan.to_json())


# ---- no write sent twice ----------------------------------------------------------------------


def test_a_failed_read_back_never_resends_the_create(harness):
    """Before: the read-back failed, the re-read failed too, and apply sent the create again
    (a false 'already exists', or a duplicate where names are not unique)."""
    harness.write('[team.data]\nmembers = ["alice"]\n')
    store = harness.platform.store
    store.reads_fail_after[("create", "data")] = 2  # the read-back, then the next read, time out
    _, result = harness.engine().apply()
    assert result.ok
    creates = store.writes
    assert creates == 1, "one create, however the reads fared"


def test_an_undecidable_write_ends_unknown_and_the_next_plan_decides_it(harness, monkeypatch):
    monkeypatch.setattr("platforge.core.apply.time.sleep", lambda seconds: None)
    harness.write('[team.data]\nmembers = ["alice"]\n')
    store = harness.platform.store
    store.ambiguous_after[("create", "data")] = 1  # created, then the call "times out"
    store.reads_fail_after[("create", "data")] = 100  # and no read can tell what happened
    with pytest.raises(ApplyError) as info:
        harness.engine().apply()
    assert "outcome unknown" in info.value.failures[0][1]
    assert store.writes == 1 and list(store.teams) == ["data"]
    state = json.loads((harness.stack_dir / ".platforge/state.json").read_text())
    assert [e["status"] for e in state["journal"] if e["address"] == "team.data"] == ["unknown"]

    store.failing_reads = 0
    plan = harness.engine().plan()
    assert ops(plan) == {"team.data": "no-op"}, "ours if it happened: no import, no second create"
    harness.engine().apply()
    assert store.writes == 1 and not harness.engine().plan().needs_attention


def test_an_unknown_operation_raises(harness):
    harness.write('[team.data]\n')
    engine = harness.engine()
    applier = Applier(engine.platform, engine.ctx, engine.backend)
    bogus = Action("team.data", "team", ("data",), Op.NOOP, "bogus")
    with pytest.raises(ValueError, match="does not know the operation 'no-op'"):
        applier._execute(engine.platform.kinds["team"], bogus, engine.stack.resources[0])
