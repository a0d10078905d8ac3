"""Property-based checks (hypothesis) of the two parsers hostile input reaches first: D10's
pickle loader and the configuration rules. Whatever the input, the only failure is a 400
(`BadRequest`); a pickle never names a global, and whatever loads is bounded plain data."""

from __future__ import annotations

import base64
import pickle
import secrets
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_never_escape_as_anything_but_a_400(raw: bytes) -> None:
    from platforge.provider.tailer.sandbox.errors import BadRequest
    from platforge.provider.tailer.sandbox.unpickle import jsonable, load_b64

    try:
        value = load_b64(base64.b64encode(raw).decode(), "resource")
    except BadRequest:
        return
    jsonable(value)


@settings(max_examples=200, deadline=None)
@given(plain, st.integers(min_value=3, max_value=5))  # below 3, bytes pickle through a global
def test_plain_data_round_trips(value: Any, protocol: int) -> None:
    from platforge.provider.tailer.sandbox.unpickle import jsonable, load_b64

    loaded = load_b64(base64.b64encode(pickle.dumps(value, protocol=protocol)).decode(), "resource")
    assert jsonable(loaded) == jsonable(value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.booleans())
def test_any_json_is_checked_or_refused_cleanly(doc: Any, deploy: bool) -> None:
    from platforge.provider.tailer.sandbox.crypto import Keys
    from platforge.provider.tailer.sandbox.errors import BadRequest
    from platforge.provider.tailer.sandbox.rules import check_configuration

    keys = _keys()
    try:
        check_configuration(doc, keys, deploy=deploy)
    except BadRequest as exc:
        assert exc.status == 400 and exc.message
    assert isinstance(keys, Keys)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["storage-to-storage", "workflow", "context", "table-to-storage"]),
       st.lists(st.tuples(st.sampled_from(["drop", "set"]), st.integers(min_value=0, max_value=50), json_values), max_size=3))
def test_bent_configurations_are_checked_or_refused_cleanly(kind: str, edits: list[tuple[str, int, Any]]) -> None:
    from platforge.provider.tailer.sandbox.errors import BadRequest
    from platforge.provider.tailer.sandbox.rules import check_configuration

    from tests.tailer.sandbox.docs import configuration, seal

    keys = _keys()
    doc = configuration(kind, seal(secrets.token_urlsafe(16), keys.public_pem.encode()))
    for action, index, value in edits:
        key = sorted(doc)[index % len(doc)]
        if action == "drop":
            doc.pop(key)
        else:
            doc[key] = value
    try:
        check_configuration(doc, keys, deploy=True)
    except BadRequest as exc:
        assert exc.status == 400 and exc.message


_KEYS: list[Any] = []


def _keys() -> Any:
    from platforge.provider.tailer.sandbox.crypto import Keys

    if not _KEYS:
        _KEYS.append(Keys(Keys.generate()))
    return _KEYS[0]


def test_deeply_bent_configurations_never_escape_as_anything_but_a_400() -> None:
    """The route fuzzer's nested mutations, in process and many more of them (a bench run of the
    route fuzzer once found an unhashable `source.type` that escaped as a TypeError)."""
    import os
    import random

    from platforge.provider.tailer.sandbox.errors import BadRequest
    from platforge.provider.tailer.sandbox.rules import check_configuration

    from tests.tailer.fuzz.test_fuzz_routes import TYPES, _mutate
    from tests.tailer.sandbox.docs import configuration, seal

    keys = _keys()
    sealed = seal(secrets.token_urlsafe(16), keys.public_pem.encode())
    rng = random.Random(int(os.environ.get("PLATFORGE_TAILER_FUZZ_SEED", "20261130")))
    outcomes = {"valid": 0, "refused": 0}
    for _ in range(int(os.environ.get("PLATFORGE_TAILER_FUZZ_REQUESTS", "2000")) * 5):
        doc = _mutate(rng, configuration(rng.choice(TYPES), sealed), rng.choice([1, 2, 3, 4]))
        try:
            check_configuration(doc, keys, deploy=rng.random() < 0.5)
            outcomes["valid"] += 1
        except BadRequest as exc:
            assert exc.status == 400 and exc.message
            outcomes["refused"] += 1
    assert outcomes["valid"] > 0 and outcomes["refused"] > 0
