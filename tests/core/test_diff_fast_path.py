"""The field diff decides "unchanged" before normalising (a fast path that keeps no-change plans
cheap, bench/diff_vs_deepdiff.py). It must never hide a change the full comparison would
report, nor confuse values the full comparison tells apart (True and 1)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from platforge.core import diff
from platforge.core.rules import Collection, FieldRule

_MISSING = diff._MISSING

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.5]),
                    st.sampled_from(["", "a", "b"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
                      max_leaves=8)
keyed_items = st.lists(st.fixed_dictionaries({"name": st.sampled_from("xyz"), "v": scalars}), max_size=3)

set_items = st.lists(st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", "c"])), max_size=4)

# Each rule with the values it meets in practice (a set holds names or numbers, not None or
# nested documents, whose hashed forms tell None and [] apart where the field diff does not).
CASES = [(FieldRule(), st.one_of(values, keyed_items)),
         (FieldRule(collection=Collection.SET), set_items),
         (FieldRule(collection=Collection.KEYED, key="name"), st.one_of(values, keyed_items)),
         (FieldRule(server_defaults={"a": 1}), values)]


def full_comparison(old, new, rule):
    """The comparison without the fast path: normalise, strip defaults, walk."""
    old, new = diff._normalise(old, rule), diff._normalise(new, rule)
    if rule.server_defaults and isinstance(old, (dict, list)) and isinstance(new, (dict, list)):
        old = diff._without_defaults(old, new, rule.server_defaults)
    return diff._walk("f", old, new)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), case=st.sampled_from(CASES))
def test_the_fast_path_reports_exactly_what_the_full_comparison_reports(data, case):
    rule, strategy = case
    old, new = data.draw(strategy), data.draw(strategy)
    fast = [(c.path, c.old, c.new) for c in diff._field_changes("f", old, new, rule, _MISSING)]
    if diff._same(old, new):
        assert full_comparison(old, new, rule) == [] and fast == []
    else:
        assert fast == full_comparison(old, new, rule)


@given(data=st.data(), case=st.sampled_from(CASES))
def test_a_value_equals_itself_and_its_copy(data, case):
    import copy

    rule, strategy = case
    value = data.draw(strategy)
    assert diff._field_changes("f", value, copy.deepcopy(value), rule, _MISSING) == []


def test_bool_and_int_stay_different_on_the_fast_path():
    for old, new in ((True, 1), ([True], [1]), ({"a": False}, {"a": 0})):
        assert diff._field_changes("f", old, new, FieldRule(), _MISSING), (old, new)
    assert diff._field_changes("f", 1, 1.0, FieldRule(), _MISSING) == []  # Pulumi's floats
    assert diff._field_changes("f", None, [], FieldRule(), _MISSING) == []
