"""Which declared fields are output references (`{ output = "kind.name.attribute" }`)."""

from __future__ import annotations

from types import MappingProxyType

from platforge.core.outputs import AFTER_APPLY, output_refs, resolve


def test_only_a_table_with_a_single_output_naming_an_attribute_is_a_reference():
    spec = {
        "version": {"output": "job.etl.revision"},
        "owner": MappingProxyType({"output": "group.ops.platform_id"}),  # any Mapping, not only dict
        "tags": {"output": "job.etl.revision", "other": 1},
        "name": "etl", "count": 3, "flag": True, "items": ["job.etl.revision"], "none": None,
        "odd": {"output": 7}, "attr": {"output": "job.etl.colour"}, "short": {"output": ".revision"},
    }
    assert output_refs(spec) == {"version": ("job.etl", "revision"), "owner": ("group.ops", "platform_id")}


def test_resolve_fills_known_values_and_marks_the_rest_after_apply():
    spec = {"version": {"output": "job.etl.revision"}, "owner": {"output": "group.ops.platform_id"}, "name": "x"}
    resolved, unknown = resolve(spec, {"job.etl": {"revision": 4}})
    assert resolved == {"version": 4, "owner": AFTER_APPLY, "name": "x"} and unknown == {"owner"}
