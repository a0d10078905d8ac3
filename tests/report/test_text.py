from __future__ import annotations

import io
import re

from rich.console import Console

from platforge.core.model import Action, FieldChange, Op
from platforge.core.plan import UnmanagedObject
from platforge.report import text

from .factories import SECRET, SECRET_DETECTION, drift_doc, empty_drift_doc, empty_plan_doc, leaky, plan_doc, roundtrip


def render(fn, document, **console_options) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None, **console_options)
    fn(console, document)
    return console.file.getvalue()


def plan_text(document) -> str:
    return render(text.print_plan, document)


def drift_text(document) -> str:
    return render(text.print_drift, document)


# ---- plan ---------------------------------------------------------------------------------


def test_empty_plan_says_no_changes_and_no_plan_line():
    out = plan_text(empty_plan_doc())
    assert "No changes. The platform matches the stack." in out
    assert "Plan:" not in out
    assert "WARNING" not in out


def test_plan_lists_each_change_with_terraform_symbols_and_hides_no_ops():
    out = plan_text(plan_doc())
    lines = out.splitlines()
    assert any(re.fullmatch(r"\s+\+ user\.alice\s+will be created.*", line) for line in lines)
    assert any(re.fullmatch(r"\s+~ group\.eng\s+will be updated in place.*", line) for line in lines)
    assert any(re.fullmatch(r"\s*-/\+ kv\.cfg\s+will be destroyed and re-created.*", line) for line in lines)
    assert any(re.fullmatch(r"\s+- kv\.stale\s+will be destroyed.*", line) for line in lines)
    assert "kv.quiet" not in out  # no-op


def test_plan_shows_field_changes_old_to_new_and_forced_replacement():
    out = plan_text(plan_doc())
    assert '~ members: ["a"] -> ["a", "b"]' in out
    region = next(line for line in out.splitlines() if "region:" in line)
    assert '"eu" -> "us"' in region and "forces replacement" in region


def test_plan_summary_line_counts_every_op():
    out = plan_text(plan_doc())
    assert "Plan: 1 to create, 1 to update, 1 to replace, 3 to destroy." in out


def test_plan_summary_is_counted_from_actions_when_the_document_has_none():
    document = plan_doc()
    del document["summary"]
    assert "Plan: 1 to create, 1 to update, 1 to replace, 3 to destroy." in plan_text(document)


def test_sensitive_values_never_printed_even_if_the_document_leaks_them():
    for document in (plan_doc(), leaky(plan_doc())):
        out = plan_text(document)
        assert SECRET not in out
        assert "password: (sensitive) -> (sensitive)" in out
    out = drift_text(leaky(drift_doc()))
    assert SECRET not in out
    assert "password: (sensitive) -> (sensitive)" in out


def test_destructive_deletes_get_a_warning_block_listing_only_them_before_the_summary():
    out = plan_text(plan_doc())
    assert "WARNING: destructive changes" in out
    banner = out[out.index("WARNING"):out.index("Plan:")]
    assert "user.bob" in banner and "group.old_admins" in banner
    assert "kv.stale" not in banner  # a delete, but not of a user or group
    assert "destroys 2 users or groups" in banner


def test_destructive_addresses_are_styled_bold_red():
    console = Console(width=160, color_system="truecolor", force_terminal=True)
    segments = list(console.render(text.plan_renderable(plan_doc())))
    styles = [s.style for s in segments if "user.bob" in s.text and s.style is not None]
    assert any(st.bold and st.color is not None and st.color.name == "red" for st in styles), styles


def test_no_warning_block_without_destructive_actions():
    actions = [Action("kv.stale", "kv", ("p", "stale"), Op.DELETE, "pruned", platform_id=1)]
    out = plan_text(plan_doc(actions))
    assert "WARNING" not in out
    assert "Plan: 0 to create, 0 to update, 0 to replace, 1 to destroy." in out


def test_unmanaged_and_orphan_notes():
    out = plan_text(plan_doc(unmanaged=[UnmanagedObject("user", ("z",)), UnmanagedObject("group", ("g",))],
                             orphans=["kv.left", "user.gone"], prune=False))
    assert "2 unmanaged objects on the platform are not managed by this stack and will never be deleted." in out
    assert "2 objects are owned but no longer declared; run apply --prune to delete them." in out
    assert "kv.left" in out and "user.gone" in out
    single = plan_text(plan_doc([], unmanaged=[UnmanagedObject("user", ("z",))]))
    assert "1 unmanaged object on the platform is not managed by this stack and will never be deleted." in single
    assert "No changes." in single


def test_values_are_printed_literally_not_as_rich_markup():
    actions = [Action("kv.x", "kv", ("x",), Op.UPDATE, "[blink]r[/blink]",
                      [FieldChange("value", "[bold red]old[/]", "[link=https://evil]new[/link]")], platform_id=1)]
    out = plan_text(plan_doc(actions))
    assert '"[bold red]old[/]" -> "[link=https://evil]new[/link]"' in out
    assert "[blink]r[/blink]" in out


def test_long_values_are_truncated_in_the_terminal():
    actions = [Action("kv.big", "kv", ("big",), Op.UPDATE, "r", [FieldChange("value", "a", "x" * 50_000)])]
    out = plan_text(plan_doc(actions))
    longest = max(len(run) for run in re.findall(r"x+", out.replace("\n", "")))
    assert 390 <= longest <= 400
    assert "more characters" in out


def test_saved_plan_renders_like_a_fresh_one():
    fresh = plan_doc()
    assert plan_text(fresh) == plan_text(roundtrip(fresh))


# ---- drift --------------------------------------------------------------------------------


def test_empty_drift_says_in_sync_with_a_summary_table():
    out = drift_text(empty_drift_doc())
    assert "No drift. The platform matches the stack and its last apply." in out
    in_sync = next(line for line in out.splitlines() if line.strip().startswith("In sync"))
    assert re.search(r"\b2\b", in_sync)


def test_drift_groups_findings_by_cause_in_order_with_counts():
    out = drift_text(drift_doc())
    assert "Drift detected: 5 findings." in out
    headings = [line for line in out.splitlines() if re.fullmatch(r"[A-Z][\w ]+ \(\d+\)", line)]
    assert headings == ["Changed outside platforge (2)", "Missing on the platform (1)",
                        "Declared but not applied (1)", "Unmanaged (1)"]
    table_row = next(line for line in out.splitlines() if line.strip().startswith("Changed outside platforge")
                     and "(" not in line)
    assert re.search(r"\s2\s", table_row)
    oob = out[out.index("Changed outside platforge (2)"):out.index("Missing on the platform (1)")]
    assert "user.alice" in oob and "group.eng" in oob and "kv.cfg" not in oob
    assert "[detected by fingerprint]" in oob
    assert '~ members: ["a", "mallory"] -> ["a"]' in oob


def test_drift_states_how_secrets_are_detected():
    assert SECRET_DETECTION in drift_text(drift_doc())
    assert SECRET_DETECTION in drift_text(empty_drift_doc())


def test_drift_renders_causes_it_does_not_know_yet():
    document = drift_doc()
    document["findings"].append({"cause": "shadowed", "address": "user.x", "kind": "user", "identity": ["x"],
                                 "detail": "new in a later v1", "detection": "fields", "changes": []})
    out = drift_text(document)
    assert "shadowed (1)" in out and "user.x" in out
