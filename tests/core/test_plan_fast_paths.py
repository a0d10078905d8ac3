"""The plan's shortcuts for what most of a large no-change plan is (fields without a rule that are
equal as given, live objects a declaration claims) must report exactly what the long way reports:
each is checked here against the long way, written out as it was before the shortcut."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from platforge.core import diff
from platforge.core.model import LiveObject, Resource
from platforge.core.plan import LiveView, UnmanagedObject, find_unmanaged
from platforge.core.policy import Policy
from platforge.core.rules import FieldRule

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([0.0, 1.0, float("inf")]),
                    st.sampled_from(["", "a", "b"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from("ab"), inner, max_size=2)),
                      max_leaves=6)
specs = st.dictionaries(st.sampled_from(["f", "g", "h"]), values, max_size=3)


def changes(kind: object, spec: dict, live: dict, applied: dict | None) -> list[tuple]:
    resource = Resource(kind="k", name="n", spec=spec, identity=("n",))
    found = diff.diff_resource(kind, resource, LiveObject(kind="k", identity=("n",), fields=live), {}, {}, applied)  # type: ignore[arg-type]
    return [(c.path, c.old, c.new, c.reason) for c in found]


@settings(max_examples=300, deadline=None)
@given(spec=specs, live=specs, applied=st.one_of(st.none(), specs))
def test_a_field_without_a_rule_diffs_as_one_with_the_empty_rule(spec, live, applied):
    no_rules = SimpleNamespace(field_rules={})
    explicit = SimpleNamespace(field_rules={name: FieldRule() for name in ["f", "g", "h"]})  # the long way
    assert changes(no_rules, spec, live, applied) == changes(explicit, spec, live, applied)


def long_way(live: LiveView, claimed: set[int], policy: Policy) -> tuple[list[UnmanagedObject], dict]:
    """find_unmanaged before it sorted only what nobody claimed (no externals, nothing internal)."""
    objects: list[UnmanagedObject] = []
    coverage: dict[str, dict[str, int]] = {}
    for obj in sorted(live.all(), key=lambda o: (o.kind, [str(x) for x in o.identity], str(o.platform_id))):
        if obj.builtin or obj.placeholder:
            continue
        counts = coverage.setdefault(obj.kind, {"managed": 0, "live": 0})
        counts["live"] += 1
        if id(obj) in claimed:
            counts["managed"] += 1
            continue
        item = UnmanagedObject(kind=obj.kind, identity=tuple(obj.identity), platform_id=obj.platform_id)
        if not policy.ignores(item.address):
            objects.append(item)
    return objects, coverage


live_objects = st.lists(st.tuples(st.sampled_from(["user", "group", "kv"]), st.sampled_from(["a", "b", "c", "d"]),
                                  st.integers(0, 3), st.booleans(), st.booleans(), st.booleans()), max_size=25)


@settings(max_examples=200, deadline=None)
@given(items=live_objects, ignore=st.sampled_from([(), ("user.*",), ("kv.b",)]))
def test_unmanaged_objects_and_coverage_are_what_the_long_way_finds(items, ignore):
    live = LiveView()
    claimed: set[int] = set()
    for kind, name, platform_id, is_claimed, builtin, placeholder in items:
        obj = LiveObject(kind=kind, identity=(name,), fields={}, platform_id=platform_id, builtin=builtin and not is_claimed,
                         placeholder=placeholder and builtin)
        live.add(obj)
        if is_claimed:
            claimed.add(id(obj))
    policy = Policy.build(ignore=ignore)
    found = find_unmanaged(SimpleNamespace(kinds={}), live, claimed, policy)  # type: ignore[arg-type]
    objects, coverage = long_way(live, claimed, policy)
    assert found.objects == objects
    assert found.coverage == coverage and list(found.coverage) == list(coverage)
