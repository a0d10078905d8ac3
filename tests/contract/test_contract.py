"""The kind contract v2, platform-blind, over tests/contract/platform.py. Each test is one of the
cases the issue found the core could not express: duplicate names, documents shared by many
declared keys, deploy-only kinds, versions, and readiness with errors the kind classifies."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from platforge.core.engine import Engine, make_backend
from platforge.core.errors import ApplyError, StackError
from platforge.core.model import Cause, Op
from platforge.core.stack import load_stack

from .platform import ContractPlatform


class Harness:
    def __init__(self, root: Path) -> None:
        self.platform = ContractPlatform()
        self.store = self.platform.store
        self.dir = root / "stack"
        self.dir.mkdir()

    def write(self, body: str, parallelism: int = 4) -> None:
        header = f'[platform]\ntype = "contract"\nendpoint = "memory://contract"\nparallelism = {parallelism}\n\n'
        (self.dir / "main.toml").write_text(header + textwrap.dedent(body), encoding="utf-8")

    def engine(self) -> Engine:
        stack, platform = load_stack(self.dir, lambda name: self.platform)
        client = platform.connect(stack.platform_config)
        return Engine(stack, platform, client, make_backend(stack, platform, client))

    def ops(self, **kwargs) -> dict[str, str]:
        return {a.address: a.op.value for a in self.engine().plan(**kwargs).actions}

    def state(self) -> dict:
        return json.loads((self.dir / ".platforge" / "state.json").read_text())


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


# ---- server ids and names that are not unique ---------------------------------------------------


def test_two_live_objects_with_one_name_are_an_error_naming_both_ids(h):
    h.store.datasets = {"d7": {"name": "raw", "size": 1}, "d9": {"name": "raw", "size": 5}}
    h.write("[dataset.raw]\nsize = 5\n")
    with pytest.raises(StackError) as info:
        h.engine().plan(adopt=["*"])
    assert "d7" in str(info.value) and "d9" in str(info.value), "not silently the last one listed"
    assert h.store.writes == []


def test_adoption_by_id_picks_one_and_the_other_stays_unmanaged(h):
    h.store.datasets = {"d7": {"name": "raw", "size": 1}, "d9": {"name": "raw", "size": 5}}
    h.write("[dataset.raw]\nsize = 5\n")
    plan = h.engine().plan(adopt=["dataset.raw=d9"])
    assert [(a.op, a.platform_id) for a in plan.actions] == [(Op.IMPORT, "d9")]
    assert [(u.address, u.platform_id) for u in plan.unmanaged] == [("dataset.raw", "d7")], "never vanishes"
    h.engine().apply(adopt=["dataset.raw=d9"])
    assert h.state()["resources"]["dataset.raw"]["platform_id"] == "d9"
    assert h.ops() == {"dataset.raw": "no-op"}, "owned objects are found again by id"


def test_a_rename_is_an_update_found_by_id_not_a_create_and_an_orphan(h):
    h.write("[dataset.sales]\nname = \"sales\"\n")
    h.engine().apply()
    h.write("[dataset.sales]\nname = \"sales_v2\"\n")
    plan = h.engine().plan()
    assert [(a.op, [c.path for c in a.changes]) for a in plan.actions] == [(Op.UPDATE, ["name"])]
    assert plan.orphans == [] and plan.unmanaged == []
    h.engine().apply()
    assert [d["name"] for d in h.store.datasets.values()] == ["sales_v2"]
    assert h.ops() == {"dataset.sales": "no-op"}


# ---- documents: many declared keys in one platform document -------------------------------------


def test_four_keys_of_one_document_all_land_under_parallelism_4_and_unmanaged_fields_survive(h):
    untouched = '{"owner": "ops-team", "variables": {"legacy": "keep me"}, "zeta": [1, 2, {"x": null}]}'
    h.store.settings["p1"] = untouched
    h.store.write_delay = 0.05  # long enough for unserialised read-modify-writes to lose keys
    h.write("".join(f'[variable.v{n}]\nproject = "p1"\nvalue = "{n}"\n' for n in range(4)), parallelism=4)
    _, result = h.engine().apply()
    assert len(result.applied) == 4
    document = json.loads(h.store.settings["p1"])
    assert document["variables"] == {"legacy": "keep me", "v0": "0", "v1": "1", "v2": "2", "v3": "3"}
    before = json.loads(untouched)
    assert {k: v for k, v in document.items() if k != "variables"} == {k: v for k, v in before.items() if k != "variables"}
    assert json.dumps(document["zeta"]) == json.dumps(before["zeta"]), "byte for byte"
    assert h.ops() == {f"variable.v{n}": "no-op" for n in range(4)}


def test_a_protected_object_is_never_pruned_until_its_stack_applies_the_protection_off(h):
    from platforge.core.errors import AdoptionError

    h.write('[vault.v]\n[dataset.keep]\n')
    h.engine().apply()
    h.write('[dataset.keep]\n')
    plan = h.engine().plan(prune=True)
    (delete,) = [a for a in plan.actions if a.address == "vault.v"]
    assert delete.op is Op.DELETE and "protected" in delete.blocked
    before = list(h.store.writes)
    with pytest.raises(AdoptionError, match="protected from deletion"):
        h.engine().apply(prune=True)
    assert h.store.writes == before and "v" in h.store.vaults, "refused before the first write"

    # The stack turns the protection off: an update of platforge's own setting, with no write.
    h.write('[vault.v]\ndeletion_protection = false\n[dataset.keep]\n')
    assert h.ops() == {"vault.v": "update", "dataset.keep": "no-op"}
    h.engine().apply()
    assert h.store.writes == before
    assert set(h.ops().values()) == {"no-op"}
    assert h.state()["resources"]["vault.v"]["applied"]["deletion_protection"] is False
    h.write('[dataset.keep]\n')
    with pytest.raises(AdoptionError, match="confirm-delete vault.v"):
        h.engine().apply(prune=True)  # still data: the delete needs its own confirmation
    engine = h.engine()
    engine.policy = engine.policy.with_confirmed_deletes(["vault.v"])
    engine.apply(prune=True)
    assert "v" not in h.store.vaults and h.store.writes[-1] == ("delete", "v")


def test_a_replace_forced_by_a_field_rule_needs_what_a_delete_needs(h):
    from platforge.core.errors import AdoptionError

    h.write('[vault.v]\ntier = "hot"\ndeletion_protection = false\n')
    h.engine().apply()
    h.write('[vault.v]\ntier = "cold"\ndeletion_protection = false\n')
    plan = h.engine().plan()
    (replace,) = plan.changes
    assert replace.op is Op.REPLACE and replace.confirm and not replace.confirmed
    before = list(h.store.writes)
    with pytest.raises(AdoptionError, match="confirm-delete vault.v"):
        h.engine().apply()
    assert h.store.writes == before
    engine = h.engine()
    engine.policy = engine.policy.with_confirmed_deletes(["vault.v"])
    engine.apply()
    assert h.store.vaults == {"v": "cold"}

    # Protected, a replace is refused whatever is confirmed.
    h.write('[vault.v]\ntier = "hot"\n')
    engine = h.engine()
    engine.policy = engine.policy.with_confirmed_deletes(["vault.v"])
    with pytest.raises(AdoptionError, match="protected from deletion"):
        engine.apply()
    assert h.store.vaults == {"v": "cold"}


def _settings_writes(h, project: str) -> int:
    return sum(1 for what, name in h.store.writes if (what, name) == ("settings", project))


def test_keys_written_together_cost_one_write_per_document_and_never_lose_a_key_of_another_kind(h):
    """Merged writes of one kind and single writes of another kind hit one document: the lock is
    the document's, whichever kind holds it, so no read-modify-write loses the other's key."""
    h.store.settings["p1"] = '{"owner": "ops-team"}'
    h.store.write_delay = 0.05  # long enough for unserialised read-modify-writes to lose keys
    body = "".join(f'[merged_variable.m{n}]\nproject = "p1"\nvalue = "{n}"\n' for n in range(4))
    body += "".join(f'[merged_variable.q{n}]\nproject = "p2"\nvalue = "{n}"\n' for n in range(2))
    body += "".join(f'[variable.v{n}]\nproject = "p1"\nvalue = "{n}"\n' for n in range(2))
    h.write(body, parallelism=4)
    _, result = h.engine().apply()
    assert len(result.applied) == 8 and not result.failed
    document = json.loads(h.store.settings["p1"])
    assert document == {"owner": "ops-team", "merged": {f"m{n}": str(n) for n in range(4)},
                        "variables": {"v0": "0", "v1": "1"}}
    assert json.loads(h.store.settings["p2"]) == {"merged": {"q0": "0", "q1": "1"}}
    assert _settings_writes(h, "p1") == 1 + 2 and _settings_writes(h, "p2") == 1
    assert set(h.ops().values()) == {"no-op"}
    before = len(h.store.writes)
    h.engine().apply()
    assert len(h.store.writes) == before, "a second apply writes nothing"


def test_updates_and_deletes_of_one_document_go_out_in_one_write_per_level(h):
    h.write("".join(f'[merged_variable.m{n}]\nproject = "p1"\nvalue = "{n}"\n' for n in range(4)))
    h.engine().apply()
    before = len(h.store.writes)
    h.write('[merged_variable.m0]\nproject = "p1"\nvalue = "changed"\n'
            '[merged_variable.m1]\nproject = "p1"\nvalue = "1"\n')
    plan, result = h.engine().apply(prune=True)
    assert sorted(a.op.value for a in plan.changes) == ["delete", "delete", "update"]
    assert not result.failed
    assert json.loads(h.store.settings["p1"])["merged"] == {"m0": "changed", "m1": "1"}
    # Deletes come last, in a level of their own: one write for the update, one for both deletes.
    assert len({a.level for a in plan.changes}) == 2
    assert h.store.writes[before:] == [("settings", "p1")] * 2
    assert set(h.ops(prune=True).values()) == {"no-op"}


def test_a_merged_write_whose_answer_is_lost_is_decided_from_live_state_and_never_sent_again(h):
    h.store.lose_merged_answers = 1
    h.write("".join(f'[merged_variable.m{n}]\nproject = "p1"\nvalue = "{n}"\n' for n in range(3)))
    _, result = h.engine().apply()
    assert len(result.applied) == 3 and not result.failed
    assert h.store.writes == [("settings", "p1")], "each object read live, found written, and left alone"
    assert set(h.state()["resources"]) == {f"merged_variable.m{n}" for n in range(3)}
    assert set(h.ops().values()) == {"no-op"}


def test_a_refused_merged_write_falls_back_to_one_write_each_so_one_bad_key_holds_back_no_other(h):
    h.store.refused_key = "m1"
    h.write("".join(f'[merged_variable.m{n}]\nproject = "p1"\nvalue = "{n}"\n' for n in range(3)))
    with pytest.raises(ApplyError) as caught:
        h.engine().apply()
    assert [address for address, _ in caught.value.failures] == ["merged_variable.m1"]
    assert json.loads(h.store.settings["p1"])["merged"] == {"m0": "0", "m2": "2"}
    assert h.store.writes == [("settings", "p1")] * 2
    assert set(h.state()["resources"]) == {"merged_variable.m0", "merged_variable.m2"}


# ---- deploy-only kinds ------------------------------------------------------------------------------


def test_a_deploy_only_kind_is_planned_from_state_and_a_second_apply_writes_nothing(h):
    h.write('[flow.nightly]\nsteps = ["extract", "load"]\n')
    assert h.ops() == {"flow.nightly": "create"}
    h.engine().apply()
    assert h.store.writes == [("deploy", "nightly")]
    assert h.state()["resources"]["flow.nightly"]["platform_id"] == "flow-nightly", "ownership is recorded"
    assert h.ops() == {"flow.nightly": "no-op"}
    h.engine().apply()
    assert h.store.writes == [("deploy", "nightly")], "a second apply makes zero writes"

    report = h.engine().drift()
    assert [(f.cause, f.address) for f in report.findings] == [(Cause.NOT_OBSERVABLE, "flow.nightly")]
    assert "cannot" in report.findings[0].detail and report.in_sync == [], "never 'in sync'"
    assert not report.drifted and h.engine().drift(fail_on=[Cause.NOT_OBSERVABLE]).drifted

    h.write('[flow.nightly]\nsteps = ["extract", "transform", "load"]\n')
    plan = h.engine().plan()
    assert [(a.op, a.changes[0].reason) for a in plan.actions] == [(Op.UPDATE, "declared")]
    h.engine().apply()
    assert h.store.flows["nightly"]["steps"] == ["extract", "transform", "load"]
    h.write("")
    h.engine().apply(prune=True)
    assert h.store.flows == {} and h.store.writes[-1] == ("undeploy", "nightly")


# ---- versions -----------------------------------------------------------------------------------------


def test_a_save_only_when_a_version_field_changes_and_its_version_feeds_a_later_action(h):
    h.write('[job.etl]\nimage = "etl:1"\nschedule = "daily"\n\n'
            '[promotion.etl]\nversion = { output = "job.etl.revision" }\n')
    plan = h.engine().plan()
    promotion = next(a for a in plan.actions if a.address == "promotion.etl")
    assert promotion.op is Op.CREATE and promotion.level > 0
    h.engine().apply()
    assert h.store.promotions == {"etl": 1} and h.state()["resources"]["job.etl"]["revision"] == 1

    h.write('[job.etl]\nimage = "etl:1"\nschedule = "hourly"\n\n'
            '[promotion.etl]\nversion = { output = "job.etl.revision" }\n')
    assert h.ops() == {"job.etl": "update", "promotion.etl": "no-op"}, "an in-place field is no new version"
    h.engine().apply()
    assert h.store.writes[-1] == ("modify", "etl") and len(h.store.jobs["etl"]["versions"]) == 1

    h.write('[job.etl]\nimage = "etl:2"\nschedule = "hourly"\n\n'
            '[promotion.etl]\nversion = { output = "job.etl.revision" }\n')
    plan = h.engine().plan()
    job = next(a for a in plan.actions if a.address == "job.etl")
    promotion = next(a for a in plan.actions if a.address == "promotion.etl")
    assert job.op is Op.SAVE and job.changes[0].new_version
    assert promotion.op is Op.UPDATE and promotion.changes[0].reason == "after_apply"
    assert plan.to_json()["summary"]["save"] == 1
    h.engine().apply()
    assert h.store.jobs["etl"]["versions"] == ["etl:1", "etl:2"]
    assert h.store.promotions == {"etl": 2}, "the promotion used the version the save produced"
    assert h.state()["resources"]["job.etl"]["revision"] == 2
    assert h.state()["resources"]["promotion.etl"]["applied"]["version"] == 2
    writes = len(h.store.writes)
    assert h.ops() == {"job.etl": "no-op", "promotion.etl": "no-op"}
    h.engine().apply()
    assert len(h.store.writes) == writes


# ---- readiness, and errors the kind classifies ----------------------------------------------------


def test_a_kind_that_becomes_ready_asynchronously_is_waited_for(h):
    h.store.build_seconds = 0.5
    h.write('[build.app]\nsource = "main"\n')
    _, result = h.engine().apply()
    assert result.ok and "app" in h.store.builds


def test_a_readiness_failure_is_permanent_and_not_retried(h):
    h.store.build_fails.add("app")
    h.write('[build.app]\nsource = "main"\n')
    with pytest.raises(ApplyError) as info:
        h.engine().apply()
    assert "compilation error" in info.value.failures[0][1]
    assert h.store.writes.count(("build", "app")) == 1


def test_errors_the_kind_calls_permanent_or_temporary(h, monkeypatch):
    monkeypatch.setattr("platforge.core.apply.time.sleep", lambda seconds: None)
    h.write('[build.app]\nsource = "rejected"\n')
    with pytest.raises(ApplyError) as info:
        h.engine().apply()
    assert "rejected" in info.value.failures[0][1] and "outcome unknown" not in info.value.failures[0][1]
    assert h.store.writes == [], "permanent: no second attempt"

    h.write('[build.app]\nsource = "busy"\n')
    _, result = h.engine().apply()
    assert result.ok and h.store.writes.count(("build", "app")) == 2, "temporary: decided again, then written"
