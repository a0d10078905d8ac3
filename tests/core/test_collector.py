"""The cyclic collector is paused where a run builds its large, long-lived graphs (loading the
state, planning), and resumes as it was."""

from __future__ import annotations

import gc
import json

import pytest

from platforge.core.collector import collector_paused
from platforge.core.state import ResourceState, State


def big_state(n: int = 5000) -> bytes:
    state = State(stack="s", resources={
        f"kv.k{i}": ResourceState(kind="kv", identity=[f"k{i}"], platform_id=i, applied={"value": f"v{i}", "acl": ["a", "b"]},
                                  fingerprints={"secret": f"hmac-sha256:{i:064x}"})
        for i in range(n)})
    return state.to_bytes()


def test_the_collector_resumes_as_it_was_even_on_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            pass
        assert not gc.isenabled(), "a nested pause keeps the outer one"
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled(), "a collector paused by the caller stays paused"
    finally:
        gc.enable()


def test_loading_a_large_state_runs_no_collection():
    data = big_state()
    collections: list[str] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(seen)
    try:
        state = State.from_bytes(data, "test")
    finally:
        gc.callbacks.remove(seen)
    # At most the one young-generation pass when the collector resumes (it had run ~70 times,
    # older generations walking the whole state again).
    assert len(collections) <= 1, collections
    assert len(state.resources) == 5000 and state.resources["kv.k7"].platform_id == 7
    assert gc.isenabled()


def test_the_one_pass_load_reads_what_the_two_pass_load_read():
    data = big_state(300)
    assert State.from_bytes(data, "test") == State.model_validate(json.loads(data))


@pytest.mark.parametrize(("data", "message"), [
    (b"{not json", "state is not valid JSON"),
    (b'{"format": "platforge.state/v0"}', "unsupported state format 'platforge.state/v0'"),
])
def test_a_state_the_one_pass_load_refuses_still_says_why(data, message):
    with pytest.raises(ValueError, match=message):
        State.from_bytes(data, "where")


def test_a_state_with_a_wrong_field_is_refused():
    raw = json.loads(big_state(3))
    raw["resources"]["kv.k1"]["unexpected"] = 1
    with pytest.raises(ValueError, match="unexpected"):
        State.from_bytes(json.dumps(raw).encode(), "where")
