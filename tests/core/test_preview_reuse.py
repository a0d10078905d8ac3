"""An apply plans under its lock again only when the preview it was shown may be stale: the
preview is the plan when this engine made it moments ago from the state under the lock (no
other apply wrote since); otherwise live state is read afresh. Reads are counted on the fake
platform (`store.lists`: one per listing)."""

from __future__ import annotations

import pytest

import platforge.core.engine as engine_module
from platforge.core.errors import AdoptionError

from .conftest import Harness


def teams(n: int, members: str = "") -> str:
    return "".join(f'[team.t{i}]\n{members}' for i in range(n))


def _apply_after_preview(harness) -> tuple[bool, int, int]:
    """(the preview was the plan, listings of the preview, listings of the apply after it)."""
    harness.write(teams(3))
    harness.engine().apply()
    harness.write(teams(3, 'members = ["x"]\n'))
    store = harness.platform.store
    engine = harness.engine()
    before = store.lists
    preview = engine.plan()
    planned = store.lists - before
    plan, result = engine.apply(preview=preview)
    assert result.ok and all(t["members"] == {"x"} for t in store.teams.values())
    return plan is preview, planned, store.lists - before - planned


def test_a_fresh_preview_on_the_same_state_is_the_plan_and_live_state_is_read_once(harness, tmp_path, monkeypatch):
    reused, planned, applying = _apply_after_preview(harness)
    assert reused and planned > 0
    monkeypatch.setattr(engine_module, "PREVIEW_REUSE_SECONDS", -1.0)
    (tmp_path / "b").mkdir()
    again, _, applying_again = _apply_after_preview(Harness(tmp_path / "b"))
    assert not again
    assert applying_again - applying == planned, "exactly one plan's reads saved"


def test_the_first_apply_of_a_stack_reuses_its_preview_too(harness):
    harness.write(teams(2))
    engine = harness.engine()
    preview = engine.plan()
    plan, result = engine.apply(preview=preview)
    assert plan is preview and result.ok and len(harness.platform.store.teams) == 2


def test_an_apply_that_wrote_in_between_makes_the_preview_stale(harness):
    harness.write(teams(2))
    engine = harness.engine()
    preview = engine.plan()
    harness.engine().apply()  # another apply of the stack, between the preview and the lock
    store = harness.platform.store
    writes = store.writes
    plan, result = engine.apply(preview=preview)
    assert plan is not preview and not plan.has_changes, "planned again: the other apply's work is seen"
    assert store.writes == writes


def test_an_old_preview_is_planned_again(harness, monkeypatch):
    harness.write(teams(2))
    engine = harness.engine()
    preview = engine.plan()
    monkeypatch.setattr(engine_module, "PREVIEW_REUSE_SECONDS", -1.0)
    reads = harness.platform.store.lists
    plan, result = engine.apply(preview=preview)
    assert plan is not preview and result.ok
    assert harness.platform.store.lists - reads >= 2  # the plan under the lock read live state again


def test_other_consent_is_planned_again(harness):
    harness.write(teams(1))
    harness.platform.store.teams["t1"] = {"id": "id-t1", "name": "t1", "members": set(), "region": "eu"}
    harness.write(teams(2))
    engine = harness.engine()
    preview = engine.plan()
    with pytest.raises(AdoptionError):
        engine.apply(preview=preview)  # t1 exists and is not ours: no consent
    plan, result = engine.apply(preview=preview, adopt=["team.t1"])
    assert plan is not preview and result.ok
