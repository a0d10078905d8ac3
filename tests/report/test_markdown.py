from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platforge.core.drift import DriftFinding
from platforge.core.model import Action, Cause, FieldChange, Op
from platforge.report.markdown import GITHUB_COMMENT_LIMIT, MIN_CHARS, drift_markdown, marker, plan_markdown

from .factories import SECRET, drift_doc, empty_drift_doc, empty_plan_doc, leaky, plan_doc, roundtrip

#: Characters that mean something to Markdown, HTML or GitHub.
NASTY = list("|`<>&*_[]@#$\\\n\r\"'~!:-+ aZé😀")

PLAN_SUMMARY_HEADER = "| Create | Update | Replace | Destroy | Unchanged | Unmanaged | Orphaned |"


def details_count(md: str) -> int:
    return md.count("<details>")


def omitted_count(md: str, noun: str) -> int:
    match = re.search(rf"_(\d+) more {noun}s? omitted; see the JSON artifact\._", md)
    return int(match.group(1)) if match else 0


def table_rows(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("| ")]


# ---- plan ---------------------------------------------------------------------------------


def test_plan_starts_with_the_hidden_marker_then_the_summary_table():
    md = plan_markdown(plan_doc())
    assert md.splitlines()[0] == "<!-- platforge:plan:team-data -->"
    assert md.index(PLAN_SUMMARY_HEADER) < md.index("<details>")
    assert "| 1 | 1 | 1 | 3 | 1 | 1 | 0 |" in md
    assert "**Plan: 1 to create, 1 to update, 1 to replace, 3 to destroy.**" in md


def test_empty_plan_has_summary_and_no_details():
    md = plan_markdown(empty_plan_doc())
    assert "**No changes. The platform matches the stack.**" in md
    assert PLAN_SUMMARY_HEADER in md
    assert details_count(md) == 0 and "omitted" not in md


def test_one_details_block_per_changed_resource_with_a_field_table():
    md = plan_markdown(plan_doc())
    assert details_count(md) == 6  # 7 actions, one no-op
    assert "kv.quiet" not in md
    eng = md[md.index("group.eng"):]
    eng = eng[:eng.index("</details>")]
    assert "| Field | Old | New |" in eng
    assert "| <code>members</code> |" in eng


def test_destructive_deletes_are_called_out_before_the_details():
    md = plan_markdown(plan_doc())
    callout = md[md.index("> [!CAUTION]"):md.index("<details>")]
    assert "**This plan destroys 2 users or groups.**" in callout
    assert "<code>user.bob</code>" in callout and "<code>group.old&#95;admins</code>" in callout
    assert "kv.stale" not in callout


def test_no_callout_without_destructive_actions():
    md = plan_markdown(plan_doc([Action("kv.a", "kv", ("a",), Op.DELETE, "pruned")]))
    assert "CAUTION" not in md


def test_orphan_and_unmanaged_notes():
    md = plan_markdown(plan_doc([], orphans=["kv.left"], prune=False))
    assert "1 object is owned but no longer declared; run apply &#45;&#45;prune" not in md  # not over-escaped
    assert "1 object is owned but no longer declared; run apply --prune to delete it." in md
    assert "<code>kv.left</code>" in md
    assert "1 unmanaged object on the platform is not managed by this stack and will never be deleted." in md


def test_sensitive_values_never_appear():
    for md in (plan_markdown(plan_doc()), plan_markdown(leaky(plan_doc())), drift_markdown(leaky(drift_doc()))):
        assert SECRET not in md
        assert "| <code>password</code> | <em>(sensitive)</em> | <em>(sensitive)</em> |" in md


def test_values_are_escaped_and_cannot_break_the_table_or_inject_html():
    evil = 'a|b`c`<script>alert(1)</script> @org/team #12 *x* [l](http://e) $x$\nsecond line'
    actions = [Action("kv.x", "kv", ("x",), Op.UPDATE, "r", [FieldChange("value|\nnext", evil, evil + "!")])]
    md = plan_markdown(plan_doc(actions))
    assert "<script" not in md
    assert "@org" not in md and " #12 " not in md and "`c`" not in md and "*x*" not in md and "$x$" not in md
    assert "&#60;script&#62;" in md
    row = next(line for line in table_rows(md) if "<code>value" in line)
    assert row.count("|") == 4  # three cells: no pipe in a path or value splits the row
    assert "next" in row  # a newline in the path did not end the row


def test_marker_cannot_end_the_comment_and_keeps_stacks_apart():
    md = plan_markdown(plan_doc(stack="evil --> <b>x</b>"))
    first = md.splitlines()[0]
    assert first.startswith("<!-- platforge:plan:") and first.endswith(" -->")
    assert first.count("-->") == 1 and "<b>" not in first
    assert marker("plan", "a b") != marker("plan", "a_b") != marker("plan", "a%20b")
    assert marker("drift", "team-data") == "<!-- platforge:drift:team-data -->"


def test_long_values_are_truncated():
    actions = [Action("kv.big", "kv", ("big",), Op.UPDATE, "r", [FieldChange("value", "a", "x" * 100_000)])]
    md = plan_markdown(plan_doc(actions))
    assert len(md) < 5_000
    assert "more characters" in md


def test_many_fields_are_cut_per_resource():
    changes = [FieldChange(f"labels.k{i:03}", None, str(i)) for i in range(100)]
    md = plan_markdown(plan_doc([Action("kv.wide", "kv", ("w",), Op.UPDATE, "r", changes)]))
    assert len([r for r in table_rows(md) if "labels.k" in r]) == 40
    assert "... and 60 more fields; see the JSON artifact." in md


def test_ten_thousand_actions_fit_the_github_limit_with_the_summary_kept():
    big = "v" * 5_000
    actions = [Action(f"kv.item{i}", "kv", ("p", f"item{i}"), Op.UPDATE, "differs from the declaration",
                      [FieldChange("value", big, big + "!")]) for i in range(10_000)]
    md = plan_markdown(plan_doc(actions))
    assert len(md) <= GITHUB_COMMENT_LIMIT
    assert PLAN_SUMMARY_HEADER in md and "**Plan: 0 to create, 10000 to update" in md
    shown = details_count(md)
    assert shown > 0
    assert shown + omitted_count(md, "resource") == 10_000
    assert md.rstrip().endswith("see the JSON artifact._")


def test_max_chars_below_the_minimum_is_refused():
    with pytest.raises(ValueError):
        plan_markdown(plan_doc(), max_chars=MIN_CHARS - 1)
    with pytest.raises(ValueError):
        drift_markdown(drift_doc(), max_chars=100)


def test_saved_plan_renders_like_a_fresh_one():
    fresh = plan_doc()
    assert plan_markdown(fresh) == plan_markdown(roundtrip(fresh))


names = st.text(alphabet=st.sampled_from(NASTY), max_size=300)


@st.composite
def huge_plans(draw):
    n = draw(st.integers(min_value=0, max_value=10_000))
    unit = draw(st.text(alphabet=st.sampled_from(NASTY), min_size=1, max_size=8))
    length = draw(st.integers(min_value=0, max_value=20_000))
    value = (unit * (length // len(unit) + 1))[:length]
    fields = draw(st.integers(min_value=1, max_value=60))
    destructive = draw(st.booleans())
    ops = [Op.CREATE, Op.UPDATE, Op.REPLACE, Op.DELETE, Op.NOOP]
    actions = [
        Action(f"{draw(names) if i == 0 else 'user'}.{unit}{i}", "user", (f"{unit}{i}",), ops[i % 5], value[:200],
               [FieldChange(f"f{j}{unit}", value, value + unit, sensitive=(j == 1)) for j in range(fields)]
               if ops[i % 5] in (Op.UPDATE, Op.REPLACE) else [],
               platform_id=i, destructive=destructive and ops[i % 5] in (Op.DELETE, Op.REPLACE))
        for i in range(n)
    ]
    orphans = [f"kv.{unit}{i}" for i in range(draw(st.integers(min_value=0, max_value=300)))]
    return plan_doc(actions, orphans=orphans, stack=draw(names)) | {
        "target": {"platform": draw(names), "endpoint": draw(names), "environment": draw(names),
                   "stack": draw(names)}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(document=huge_plans(), max_chars=st.integers(min_value=MIN_CHARS, max_value=100_000))
def test_plan_markdown_is_always_bounded_and_keeps_the_summary(document, max_chars):
    md = plan_markdown(document, max_chars=max_chars)
    assert len(md) <= max_chars
    assert md.startswith("<!-- platforge:plan:")
    assert PLAN_SUMMARY_HEADER in md
    assert "**Plan: " in md or "**No changes." in md
    changed = sum(1 for a in document["actions"] if a["op"] != "no-op")
    assert details_count(md) + omitted_count(md, "resource") == changed
    if any(a["destructive"] for a in document["actions"]):
        assert "[!CAUTION]" in md


# ---- drift --------------------------------------------------------------------------------


def test_drift_starts_with_marker_and_summary_then_sections_in_cause_order():
    md = drift_markdown(drift_doc())
    assert md.splitlines()[0] == "<!-- platforge:drift:team-data -->"
    assert "**Drift detected: 5 findings.**" in md
    assert "| 2 | 1 | 1 | 1 | 1 |" in md
    headings = re.findall(r"^#### (.+)$", md, flags=re.M)
    assert headings == ["Changed outside platforge (2)", "Missing on the platform (1)",
                        "Declared but not applied (1)", "Unmanaged (1)"]
    assert md.index("| Changed outside platforge |") < md.index("####")
    assert details_count(md) == 5


def test_empty_drift_is_short_and_says_so():
    md = drift_markdown(empty_drift_doc())
    assert "**No drift. The platform matches the stack and its last apply.**" in md
    assert "####" not in md and details_count(md) == 0


@st.composite
def huge_drifts(draw):
    n = draw(st.integers(min_value=0, max_value=10_000))
    unit = draw(st.text(alphabet=st.sampled_from(NASTY), min_size=1, max_size=8))
    value = unit * draw(st.integers(min_value=0, max_value=2_000))
    causes = list(Cause)
    findings = [DriftFinding(causes[i % 4], f"kv.{unit}{i}", "kv", (unit, i), value[:500],
                             [FieldChange(f"f{j}", value, unit) for j in range(3)] if i % 2 else [])
                for i in range(n)]
    return drift_doc(findings, stack=draw(names), secret_detection=value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(document=huge_drifts(), max_chars=st.integers(min_value=MIN_CHARS, max_value=100_000))
def test_drift_markdown_is_always_bounded_and_keeps_the_summary(document, max_chars):
    md = drift_markdown(document, max_chars=max_chars)
    assert len(md) <= max_chars
    assert md.startswith("<!-- platforge:drift:")
    assert "| Changed outside platforge | Missing on the platform |" in md
    assert details_count(md) + omitted_count(md, "finding") == len(document["findings"])
