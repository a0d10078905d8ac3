from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platforge.core.drift import DEFAULT_FAIL_ON, DriftFinding
from platforge.core.model import Action, Cause, FieldChange, Op
from platforge.core.plan import UnmanagedObject
from platforge.report.markdown import (
    GITHUB_COMMENT_LIMIT,
    MIN_CHARS,
    UNMANAGED_PER_KIND,
    drift_markdown,
    marker,
    plan_markdown,
)

from .factories import (
    SECRET,
    core_plan_doc,
    core_unmanaged_only_drift_doc,
    drift_doc,
    empty_drift_doc,
    empty_plan_doc,
    import_actions,
    leaky,
    plan_doc,
    review_plan_doc,
    roundtrip,
    unmanaged_findings,
)

#: Characters that mean something to Markdown, HTML or GitHub.
NASTY = list("|`<>&*_[]@#$\\\n\r\"'~!:-+ aZé😀")

PLAN_SUMMARY_HEADER = "| Import | Create | Update | Save | Replace | Destroy | Unchanged | Unmanaged | Orphaned |"


def details_count(md: str) -> int:
    """Per-resource (or per-finding) blocks; the unmanaged section is a block of its own kind."""
    return len(re.findall(r"<details><summary>(?:⚠️ )?<code>", md))


def unmanaged_accounted(md: str) -> int:
    """Unmanaged objects a drift comment accounts for: named, plus "and N more" per kind."""
    lines = [line for line in md.splitlines() if re.match(r"- \*\*.*\*\* \(\d+\): ", line)]
    return sum(int(re.match(r"- \*\*.*?\*\* \((\d+)\): ", line).group(1)) for line in lines)


def omitted_count(md: str, noun: str) -> int:
    if noun == "finding":  # drift: `… and 1,234 more findings not shown`
        match = re.search(r"_… and ([\d,]+) more findings? not shown; see the JSON artifact\._", md)
        return int(match.group(1).replace(",", "")) if match else 0
    match = re.search(rf"_(\d+) more {noun}s? omitted; see the JSON artifact\._", md)
    return int(match.group(1)) if match else 0


def table_rows(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("| ")]


# ---- plan ---------------------------------------------------------------------------------


def test_plan_starts_with_the_hidden_marker_then_the_summary_table():
    md = plan_markdown(plan_doc())
    assert md.splitlines()[0] == "<!-- platforge:plan:team-data -->"
    assert md.index(PLAN_SUMMARY_HEADER) < md.index("<details>")
    assert "| 0 | 1 | 1 | 0 | 1 | 3 | 1 | 1 | 0 |" in table_rows(md)
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
    ops = [Op.CREATE, Op.UPDATE, Op.REPLACE, Op.DELETE, Op.NOOP, Op.IMPORT]
    blocked = draw(st.sampled_from([None, value[:500] or "x"]))
    consent = draw(st.booleans())
    actions = [
        Action(f"{draw(names) if i == 0 else 'user'}.{unit}{i}", "user", (f"{unit}{i}",), ops[i % 6], value[:200],
               [FieldChange(f"f{j}{unit}", None if ops[i % 6] is Op.CREATE else value, value + unit,
                            sensitive=(j == 1)) for j in range(fields)]
               if ops[i % 6] in (Op.UPDATE, Op.REPLACE, Op.CREATE, Op.IMPORT) else [],
               platform_id=i, destructive=destructive and ops[i % 6] in (Op.DELETE, Op.REPLACE),
               adopt=consent, live={f"l{j}": value for j in range(fields)} if ops[i % 6] is Op.IMPORT else None,
               blocked=blocked if i % 7 == 3 else None)
        for i in range(n)
    ]
    orphans = [f"kv.{unit}{i}" for i in range(draw(st.integers(min_value=0, max_value=300)))]
    unmanaged = [UnmanagedObject(draw(st.sampled_from(["user", "group", unit])), (f"{unit}{i}", value[:50]), i)
                 for i in range(draw(st.integers(min_value=0, max_value=500)))]
    return plan_doc(actions, orphans=orphans, unmanaged=unmanaged, stack=draw(names),
                    coverage={unit * 20: {"managed": 1, "live": 2}}) | {
        "target": {"platform": draw(names), "endpoint": draw(names), "environment": draw(names),
                   "stack": draw(names)}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(document=huge_plans(), max_chars=st.integers(min_value=MIN_CHARS, max_value=100_000))
def test_plan_markdown_is_always_bounded_and_keeps_the_summary(document, max_chars):
    md = plan_markdown(document, max_chars=max_chars)
    assert len(md) <= max_chars
    assert md.startswith("<!-- platforge:plan:")
    assert PLAN_SUMMARY_HEADER in md
    assert "**Plan: " in md or "**No changes." in md or "**No changes to apply" in md
    changed = sum(1 for a in document["actions"] if a["op"] != "no-op")
    assert details_count(md) + omitted_count(md, "resource") == changed
    if any(a["destructive"] for a in document["actions"]):
        assert "[!CAUTION]" in md
    refused = [a for a in document["actions"] if a.get("blocked") or (a["op"] == "import" and not a["adopt"])]
    assert ("[!WARNING]" in md) == bool(refused)


# ---- drift --------------------------------------------------------------------------------


def test_drift_starts_with_marker_and_summary_then_sections_in_cause_order():
    md = drift_markdown(drift_doc())
    assert md.splitlines()[0] == "<!-- platforge:drift:team-data -->"
    assert "**Drift detected: 4 findings.**" in md  # the unmanaged finding does not fail drift
    assert "| 2 | 1 | 1 | 1 | 0 | 1 |" in md
    headings = re.findall(r"^#### (.+)$", md, flags=re.M)
    assert headings == ["Changed outside platforge (2)", "Missing on the platform (1)",
                        "Declared but not applied (1)", "Unmanaged (1)"]
    assert md.index("| Changed outside platforge |") < md.index("####")
    assert details_count(md) == 4
    assert "- **user** (1): <code>user.zed</code>" in md.splitlines()


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
    kinds = ["kv", "user", unit]
    findings = [DriftFinding(causes[i % 4], f"{kinds[i % 3]}.{unit}{i}", kinds[i % 3], (unit, i), value[:500],
                             [FieldChange(f"f{j}", value, unit) for j in range(3)] if i % 2 else [])
                for i in range(n)]
    fail_on = frozenset(Cause) if draw(st.booleans()) else DEFAULT_FAIL_ON
    return drift_doc(findings, stack=draw(names), secret_detection=value, fail_on=fail_on,
                     coverage={kind * 10: {"managed": i, "live": 2 * i} for i, kind in enumerate(kinds)},
                     ignored=draw(st.integers(min_value=0, max_value=10**9)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(document=huge_drifts(), max_chars=st.integers(min_value=MIN_CHARS, max_value=100_000))
def test_drift_markdown_is_always_bounded_and_keeps_the_summary(document, max_chars):
    md = drift_markdown(document, max_chars=max_chars)
    assert len(md) <= max_chars
    assert md.startswith("<!-- platforge:drift:")
    assert "| Changed outside platforge | Missing on the platform |" in md
    assert details_count(md) + unmanaged_accounted(md) + omitted_count(md, "finding") == len(document["findings"])
    assert ("Drift detected" in md) == document["drifted"]


# ---- imports, consent, blocked actions, creates ----------------------------------------------


def action_block(md: str, address: str) -> str:
    """The details block whose summary names `address` (escaped as in the comment)."""
    match = re.search(rf"<details><summary>(?:⚠️ )?<code>\S+ {re.escape(address)}</code>", md)
    assert match, address
    return md[match.start():md.index("</details>", match.start())]


def test_apply_refusal_is_a_callout_above_the_details_listing_every_reason():
    md = plan_markdown(review_plan_doc())
    callout = md[md.index("> [!WARNING]"):md.index("<details>")]
    assert ("> **Apply will refuse this plan before its first write: 2 blocked actions and 1 import without "
            "consent.**") in callout
    assert ("> - <code>secret.warehouse&#95;url</code> <b>blocked</b>: a secret that exists on the platform, "
            "with an ACL this stack does not declare (read: carol); declare &#91;secret.warehouse&#95;url.acl&#93;"
            ) in callout
    assert "> - <code>secret.db&#95;password</code> <b>blocked</b>: its live ACL lets mallory in" in callout
    assert ("> - <code>user.svc-etl</code> <b>needs consent</b>: pass <code>--adopt user.svc-etl</code> or add it "
            "to <code>&#91;adopt&#93; objects</code>") in callout
    assert "group.analysts" not in callout
    assert md.index("[!WARNING]") < md.index("[!CAUTION]")


def test_no_refusal_callout_when_apply_would_go_ahead():
    md = plan_markdown(plan_doc())
    assert "[!WARNING]" not in md and "refuse" not in md
    consented = [Action("group.a", "group", ("a",), Op.IMPORT, "r", adopt=True, live={"name": "a"})]
    assert "[!WARNING]" not in plan_markdown(plan_doc(consented))


def test_import_blocks_carry_their_status_live_fields_and_changes():
    md = plan_markdown(plan_doc(import_actions()))
    assert "| 3 | 0 | 0 | 0 | 0 | 0 | 0 | 1 | 0 |" in table_rows(md)
    assert "**Plan: 3 to import, 0 to create, 0 to update, 0 to replace, 0 to destroy.**" in md
    consented = action_block(md, "group.analysts")
    assert "<summary><code>= group.analysts</code> import · consent given</summary>" in consented
    assert "Live now: <code>members</code> = <code>&#91;&#34;carol&#34;&#93;</code>, <code>name</code> = " in consented
    assert "| <code>members</code> | <code>&#91;&#34;carol&#34;&#93;</code> |" in consented
    unconsented = action_block(md, "user.svc-etl")
    assert "import · ✋ <b>needs consent</b></summary>" in unconsented
    assert "**Needs consent: apply refuses this plan unless you pass --adopt user.svc-etl" in unconsented
    blocked = action_block(md, "secret.warehouse&#95;url")
    assert "import · ⛔ <b>blocked</b></summary>" in blocked and "consent given" not in blocked
    assert "**Blocked:** a secret that exists on the platform" in blocked
    assert "Consent alone does not unblock it." in blocked
    assert SECRET not in md


def test_a_blocked_update_is_marked_in_its_summary():
    block = action_block(plan_markdown(review_plan_doc()), "secret.db&#95;password")
    assert "<summary><code>&#126; secret.db&#95;password</code> update · ⛔ <b>blocked</b></summary>" in block
    assert "**Blocked:** its live ACL lets mallory in" in block


def test_live_fields_are_compact_and_truncated():
    live = {f"f{i:02}": "y" * 500 for i in range(12)}
    md = plan_markdown(plan_doc([Action("kv.big", "kv", ("big",), Op.IMPORT, "r", live=live)], unmanaged=[]))
    line = next(line for line in md.splitlines() if line.startswith("Live now: "))
    assert line.count("<code>f") == 8 and line.endswith("and 4 more fields")
    assert max(len(run) for run in re.findall(r"y+", line)) < 100 and "more characters" in line


def test_creates_list_their_values_in_a_field_value_table():
    block = action_block(plan_markdown(plan_doc()), "user.alice")
    assert "| Field | Value |" in block and "| Field | Old | New |" not in block
    assert "| <code>email</code> | <code>&#34;alice&#64;example.com&#34;</code> |" in block
    assert "| <code>password</code> | <em>(sensitive)</em> |" in block
    assert "null" not in block
    leaked = plan_markdown(leaky(plan_doc()))
    assert SECRET not in leaked and "| <code>password</code> | <em>(sensitive)</em> |" in leaked


def test_coverage_and_unmanaged_objects_capped_per_kind():
    unmanaged = [UnmanagedObject("user", (f"svc-{i:02}",)) for i in range(25)]
    unmanaged += [UnmanagedObject("kv", ("prod", "warehouse/url"))]
    md = plan_markdown(plan_doc(unmanaged=unmanaged))
    assert "<sub>Coverage: group 3 of 5 managed, user 4 of 10 managed</sub>" in md
    assert "<details><summary>Unmanaged objects (26)</summary>" in md
    assert "- **kv** (1): <code>kv.prod/warehouse/url</code>" in md.splitlines()
    user = next(line for line in md.splitlines() if line.startswith("- **user** (25): "))
    assert user.count("<code>") == UNMANAGED_PER_KIND == 10
    assert "<code>user.svc-09</code>" in user and "svc-10" not in user
    assert user.endswith(", and 15 more; see the JSON artifact")
    assert md.index("</details>") < md.index("Unmanaged objects (26)")  # after the resources


def test_orphans_only_plan_is_not_called_no_changes():
    md = plan_markdown(plan_doc([], unmanaged=[], orphans=["kv.left"], prune=False))
    assert "**No changes to apply, but this stack owns objects it no longer declares.**" in md
    assert "run apply --prune to delete it." in md


def test_blocked_reasons_are_escaped():
    evil = "<script>x</script> @org/team #12 [l](http://e)"
    md = plan_markdown(plan_doc([Action("kv.x", "kv", ("x",), Op.UPDATE, "r", [FieldChange("v", 1, 2)], blocked=evil),
                                 Action("kv.y", "kv", ("y",), Op.IMPORT, "r", live={evil: evil})]))
    assert "<script" not in md and "@org" not in md and " #12 " not in md and "](http" not in md
    assert md.count("&#60;script&#62;x&#60;/script&#62;") >= 3  # callout, block, live field


def test_ten_thousand_imports_without_consent_keep_the_refusal_and_the_bound():
    actions = [Action(f"user.u{i}", "user", (f"u{i}",), Op.IMPORT, "exists, not owned by this stack",
                      [FieldChange("email", "a" * 300, "b" * 300)], adopt=False, live={"email": "a" * 300},
                      blocked="b" * 400 if i % 2 else None) for i in range(10_000)]
    for max_chars in (MIN_CHARS, GITHUB_COMMENT_LIMIT):
        md = plan_markdown(plan_doc(actions), max_chars=max_chars)
        assert len(md) <= max_chars
        assert ("> **Apply will refuse this plan before its first write: 5000 blocked actions and 5000 imports "
                "without consent.**") in md
        assert details_count(md) + omitted_count(md, "resource") == 10_000


def test_the_planner_s_own_plan_in_markdown():
    md = plan_markdown(core_plan_doc())
    assert "| 4 | 1 | 1 | 1 | 0 | 0 | 1 | 16 | 1 |" in table_rows(md)  # a save of job.etl; flow.nightly as applied
    assert "1 blocked action and 2 imports without consent" in md
    assert "| <code>email</code> | <code>&#34;alice&#64;example.com&#34;</code> |" in md
    assert "- **user** (15): " in md and ", and 5 more; see the JSON artifact" in md
    assert SECRET not in md


# ---- drift: unmanaged objects ---------------------------------------------------------------


def test_unmanaged_only_drift_is_informational_and_has_no_secrets_footer():
    md = drift_markdown(core_unmanaged_only_drift_doc())
    assert "**No drift. The platform matches the stack and its last apply.**" in md
    assert "Drift detected" not in md and "Secrets:" not in md
    assert re.findall(r"^#### (.+)$", md, flags=re.M) == ["Unmanaged (17)"]
    assert "Unmanaged objects do not fail drift unless you pass --fail-on unmanaged" in md
    assert "1 more unmanaged object is hidden by &#91;unmanaged&#93; ignore patterns." in md
    assert "<sub>Coverage: group 2 of 3 managed, user 3 of 20 managed</sub>" in md
    assert unmanaged_accounted(md) == 17 and details_count(md) == 0


def test_unmanaged_drift_fails_when_asked_to():
    md = drift_markdown(core_unmanaged_only_drift_doc(fail_on=frozenset(Cause)))
    assert "**Drift detected: 17 findings.**" in md
    assert "fail drift (--fail-on unmanaged)" in md and "do not fail drift" not in md


def test_drift_secrets_footer_only_when_there_is_one():
    assert "<sub>Secrets: " in drift_markdown(drift_doc())
    assert "Secrets" not in drift_markdown(drift_doc(secret_detection=""))


def test_ten_thousand_unmanaged_objects_fit_and_are_counted():
    findings = unmanaged_findings({"user": 9_000, "group": 1_000})
    md = drift_markdown(drift_doc(findings, in_sync=[]))
    assert len(md) < 10_000  # ten names per kind, not ten thousand
    assert "- **group** (1000): " in md and ", and 990 more; see the JSON artifact" in md
    assert "- **user** (9000): " in md and ", and 8990 more; see the JSON artifact" in md
    assert unmanaged_accounted(md) == 10_000 and "not shown" not in md


def test_a_cause_this_version_does_not_know_renders_as_informational_unless_failing():
    document = drift_doc()
    document["findings"].append({"cause": "shadowed", "address": "user.x", "kind": "user", "identity": ["x"],
                                 "detail": "new in a later v1", "detection": "fields", "changes": []})
    md = drift_markdown(document)
    assert "#### shadowed (1)\n\n_Findings of this cause do not fail drift (it is not in fail&#95;on)._" in md
    assert details_count(md) == 5 and "**Drift detected: 4 findings.**" in md
