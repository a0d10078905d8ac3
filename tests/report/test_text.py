from __future__ import annotations

import io
import re

from rich.console import Console

from platforge.core.drift import DriftFinding
from platforge.core.model import Action, Cause, FieldChange, Op
from platforge.core.plan import UnmanagedObject
from platforge.report import text

from .factories import (
    BLOCKED_ACL,
    SECRET,
    SECRET_DETECTION,
    core_drift_doc,
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


def render(fn, document, width: int = 1000, **console_options) -> str:
    """Rendered as the CLI does off a terminal: a wide console, so Rich does not wrap lines."""
    console = Console(file=io.StringIO(), width=width, color_system=None, **console_options)
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
    assert "Drift detected: 4 findings." in out  # the unmanaged one does not fail drift
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
    section = out[out.index("shadowed (1)"):]
    assert section.splitlines()[1] == "Findings of this cause do not fail drift (it is not in fail_on)."
    assert "Drift detected: 4 findings." in out  # not counted: fail_on does not list it
    document["fail_on"].append("shadowed")
    assert "Drift detected: 5 findings." in drift_text(document)


def test_drift_without_a_secrets_sentence_has_no_secrets_footer():
    for document in (drift_doc(secret_detection=""), drift_doc(secret_detection="   "),
                     {k: v for k, v in drift_doc().items() if k != "secret_detection"},
                     core_unmanaged_only_drift_doc()):
        out = drift_text(document)
        assert "Secrets:" not in out
        assert "Drift report for stack" in out  # rendered, just without the footer
    assert "Secrets: " + SECRET_DETECTION in drift_text(drift_doc())


# ---- imports, consent and blocked actions ------------------------------------------------


def block(out: str, address: str) -> str:
    """The lines of one action, from its header line to the next action's."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"\s+\S+ {re.escape(address)}  will be", line))
    end = next((i for i in range(start + 1, len(lines))
                if re.match(r"\s+\S+ \S+  will be", lines[i]) or not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


def test_imports_show_their_symbol_consent_and_live_fields():
    out = plan_text(plan_doc(import_actions()))
    consented = block(out, "group.analysts")
    assert re.match(r"\s+= group\.analysts  will be imported \(exists, not owned by this stack; adopting it", consented)
    assert "consent given: apply takes it over" in consented
    assert 'live now: members = ["carol"], name = "analysts"' in consented
    assert '~ members: ["carol"] -> ["alice", "carol"]' in consented
    unconsented = block(out, "user.svc-etl")
    assert ("needs consent: apply refuses this plan unless you pass --adopt user.svc-etl or add it to "
            "[adopt] objects") in unconsented
    assert "consent given" not in unconsented
    assert "Plan: 3 to import, 0 to create, 0 to update, 0 to replace, 0 to destroy." in out


def test_a_blocked_action_says_so_on_its_own_line_and_consent_does_not_unblock_it():
    out = plan_text(plan_doc(import_actions()))
    blocked = block(out, "secret.warehouse_url")
    line = next(line for line in blocked.splitlines() if "BLOCKED:" in line)
    assert line.strip() == f"BLOCKED: {BLOCKED_ACL}. Consent alone does not unblock it."
    assert "consent given" not in blocked and "needs consent" not in blocked
    assert "(sensitive) -> (sensitive)" in blocked and SECRET not in out


def test_apply_refusal_is_stated_in_a_panel_and_under_the_plan_line():
    out = plan_text(review_plan_doc())
    panel = out[out.index("APPLY WILL REFUSE THIS PLAN"):out.index("Plan:")]
    assert "secret.warehouse_url  blocked: a secret that exists on the platform" in panel
    assert "secret.db_password  blocked: its live ACL lets mallory in" in panel
    assert "user.svc-etl  import needs consent: pass --adopt user.svc-etl or add it to [adopt] objects" in panel
    assert "group.analysts" not in panel  # consented and not blocked: apply takes it over
    after = out[out.index("Plan:"):].splitlines()
    assert after[0] == "Plan: 3 to import, 1 to create, 1 to update, 0 to replace, 1 to destroy."
    assert after[1] == ("Apply will refuse this plan before its first write: 2 blocked actions and "
                        "1 import without consent.")


def test_no_refusal_when_every_import_has_consent_and_nothing_is_blocked():
    actions = [Action("group.analysts", "group", ("analysts",), Op.IMPORT, "exists, not owned by this stack",
                      adopt=True, live={"name": "analysts"})]
    out = plan_text(plan_doc(actions))
    assert "REFUSE" not in out and "refuse" not in out and "BLOCKED" not in out
    assert "Plan: 1 to import, 0 to create" in out


def test_a_blocked_no_op_is_not_a_refusal():
    """Apply ignores no-ops (`Plan.refusals` skips them), so the renderers do too."""
    out = plan_text(plan_doc([Action("kv.q", "kv", ("q",), Op.NOOP, "in sync", blocked="irrelevant")]))
    assert "REFUSE" not in out and "BLOCKED" not in out and "No changes." in out


def test_live_fields_are_compact_and_truncated():
    live = {f"f{i:02}": "y" * 300 for i in range(12)}
    out = plan_text(plan_doc([Action("kv.big", "kv", ("big",), Op.IMPORT, "r", live=live)]))
    line = next(line for line in out.splitlines() if "live now:" in line)
    assert line.count(" = ") == text.LIVE_FIELDS and "f07 = " in line and "f08" not in line
    assert line.endswith(", and 4 more fields")
    assert max(len(run) for run in re.findall(r"y+", line)) == text.LIVE_VALUE_LIMIT - 1  # the quote counts
    assert "more characters" in line


def test_a_destructive_import_is_in_the_warning_block():
    actions = [Action("user.svc", "user", ("svc",), Op.IMPORT, "adopting it replaces it (name cannot change in place)",
                      [FieldChange("name", "svc", "svc2", forces_replace=True)], adopt=True, destructive=True,
                      live={"name": "svc"})]
    out = plan_text(plan_doc(actions))
    banner = out[out.index("WARNING"):out.index("Plan:")]
    assert "user.svc  (import, which replaces it)" in banner


def test_the_planner_s_own_plan_reads_right():
    """A plan from make_plan, not hand-made: what the reviewer must see is there."""
    out = plan_text(core_plan_doc())
    assert "Plan: 4 to import, 1 to create, 1 to update, 1 new version to save, 0 to replace, 0 to destroy." in out
    assert "needs consent: apply refuses this plan unless you pass --adopt group.ops" in block(out, "group.ops")
    assert "BLOCKED: a secret that exists on the platform" in block(out, "secret.warehouse_url")
    assert '+ email = "alice@example.com"' in block(out, "user.alice")
    assert "+ password = (sensitive)" in block(out, "user.alice")
    assert "Apply will refuse this plan before its first write: 1 blocked action and 2 imports without consent." in out
    assert SECRET not in out


# ---- creates -----------------------------------------------------------------------------


def test_creates_show_the_values_they_set_and_hide_secrets():
    out = plan_text(plan_doc())
    alice = block(out, "user.alice")
    assert '        + email = "alice@example.com"' in alice.splitlines()
    assert '        + name = "alice"' in alice.splitlines()
    assert "        + password = (sensitive)" in alice.splitlines()
    assert "null" not in alice and "->" not in alice
    assert SECRET not in plan_text(leaky(plan_doc()))
    assert "+ password = (sensitive)" in plan_text(leaky(plan_doc()))


def test_create_values_are_truncated():
    actions = [Action("kv.big", "kv", ("big",), Op.CREATE, "does not exist", [FieldChange("value", None, "z" * 5000)])]
    line = next(line for line in plan_text(plan_doc(actions)).splitlines() if "+ value = " in line)
    assert max(len(run) for run in re.findall(r"z+", line)) == text.VALUE_LIMIT - 1  # the opening quote counts


# ---- coverage, unmanaged, orphans --------------------------------------------------------


def test_coverage_is_one_line_per_document():
    assert "Coverage: group 3 of 5 managed, user 4 of 10 managed" in plan_text(plan_doc()).splitlines()
    assert "Coverage: group 3 of 5 managed, user 4 of 10 managed" in drift_text(drift_doc()).splitlines()
    assert "Coverage" not in plan_text(empty_plan_doc())
    assert "Coverage" not in drift_text(drift_doc(coverage={}))


def test_unmanaged_objects_are_listed_and_capped_per_kind():
    unmanaged = [UnmanagedObject("user", (f"svc-{i:02}",)) for i in range(25)]
    unmanaged += [UnmanagedObject("group", (f"g{i}",)) for i in range(3)]
    unmanaged += [UnmanagedObject("kv", ("prod", "warehouse/url"))]
    out = plan_text(plan_doc([], unmanaged=unmanaged))
    assert "29 unmanaged objects on the platform" in out and "(group: 3, kv: 1, user: 25)" in out
    listed = [line.strip() for line in out.splitlines() if line.strip().startswith("? ")]
    assert listed == ["? group.g0", "? group.g1", "? group.g2", "? kv.prod/warehouse/url",
                      *(f"? user.svc-{i:02}" for i in range(10))]
    assert "... and 15 more user objects (see plan --json)" in out
    assert "[" not in "".join(listed)  # one address syntax: never kind[...]


def test_an_older_plan_without_unmanaged_addresses_still_names_them():
    document = plan_doc([], unmanaged=[UnmanagedObject("kv", ("prod", "x"))])
    del document["unmanaged"][0]["address"]
    assert "? kv.prod/x" in plan_text(document)


def test_orphans_alone_are_not_called_no_changes_and_point_at_prune():
    out = plan_text(plan_doc([], unmanaged=[], orphans=["kv.left", "user.gone"], prune=False))
    assert "No changes to apply, but this stack owns objects it no longer declares." in out
    assert "No changes. The platform matches the stack." not in out
    assert "2 objects are owned but no longer declared; run apply --prune to delete them." in out


def test_long_orphan_lists_are_capped():
    orphans = [f"kv.o{i:03}" for i in range(75)]
    out = plan_text(plan_doc([], unmanaged=[], orphans=orphans, prune=False))
    assert "kv.o049" in out and "kv.o050" not in out
    assert "... and 25 more (see plan --json)" in out


# ---- drift: unmanaged objects do not fail it by default ------------------------------------


def test_unmanaged_only_drift_is_not_headlined_as_drift():
    out = drift_text(core_unmanaged_only_drift_doc())
    assert "Drift detected" not in out
    assert "No drift. The platform matches the stack and its last apply." in out
    assert "Unmanaged (17)" in out.splitlines()
    assert ("17 unmanaged objects exist on the platform that this stack does not manage. Unmanaged objects do not "
            "fail drift unless you pass --fail-on unmanaged; hide them with [unmanaged] ignore patterns "
            '(e.g. ignore = ["user.svc-*"]) or [external].') in out
    assert "1 more unmanaged object is hidden by [unmanaged] ignore patterns." in out
    row = next(line for line in out.splitlines() if line.strip().startswith("Unmanaged") and "17" in line
               and "exists on the platform" in line)
    assert row.rstrip().endswith("(does not fail drift)")


def test_unmanaged_findings_fail_drift_when_asked_to():
    out = drift_text(core_unmanaged_only_drift_doc(fail_on=frozenset(Cause)))
    assert "Drift detected: 17 findings." in out
    assert "17 unmanaged objects exist on the platform and fail drift (--fail-on unmanaged)." in out
    assert "do not fail drift" not in out
    assert "(does not fail drift)" not in out


def test_drift_counts_only_failing_findings_in_its_headline():
    out = drift_text(core_drift_doc())
    assert "Drift detected: 8 findings." in out  # 16 unmanaged ones are listed, not counted here
    assert "Unmanaged (16)" in out.splitlines()
    assert "Secrets: Secret values are read back" in out  # this stack has a secret


def test_drift_lists_unmanaged_objects_capped_per_kind():
    findings = unmanaged_findings({"user": 23, "group": 2})
    out = drift_text(drift_doc(findings, in_sync=[]))
    listed = [line.strip() for line in out.splitlines() if line.strip().startswith("? ")]
    assert listed == ["? group.svc-000", "? group.svc-001", *(f"? user.svc-{i:03}" for i in range(10))]
    assert "    ... and 13 more user objects (see --format json)" in out.splitlines()
    assert "Unmanaged (25)" in out.splitlines()


def test_drift_caps_findings_per_cause():
    findings = [DriftFinding(Cause.MISSING, f"kv.m{i:03}", "kv", ("p", f"m{i:03}"), "gone") for i in range(130)]
    out = drift_text(drift_doc(findings, in_sync=[]))
    assert "kv.m099" in out and "kv.m100" not in out
    assert "  ... and 30 more (see --format json)" in out.splitlines()
    assert "Missing on the platform (130)" in out.splitlines()


def test_an_older_drift_report_still_renders():
    """No fail_on, coverage or ignored, and the old `kind[...]` address: rendered as written,
    with the default failing causes."""
    document = drift_doc()
    for key in ("fail_on", "coverage", "ignored"):
        del document[key]
    document["findings"][4]["address"] = "user[zed]"
    out = drift_text(document)
    assert "Drift detected: 4 findings." in out and "? user[zed]" in out and "do not fail drift" in out


# ---- literal text, never markup -----------------------------------------------------------


def test_bracketed_text_from_documents_is_never_taken_as_markup():
    evil = "[platform] [bold]x[/bold] [red on white]y[/]"
    actions = [
        Action(f"kv.{evil}", "kv", (evil,), Op.IMPORT, evil, [FieldChange(f"acl.{evil}", evil, evil + "!")],
               adopt=False, live={evil: evil}),
        Action("kv.b", "kv", ("b",), Op.UPDATE, "r", [FieldChange("v", 1, 2)], blocked=evil),
        Action(f"user.{evil}", "user", (evil,), Op.CREATE, "does not exist", [FieldChange("email", None, evil)]),
    ]
    document = plan_doc(actions, unmanaged=[UnmanagedObject("user", (evil,))], orphans=[f"kv.{evil}"], stack=evil,
                        coverage={evil: {"managed": 1, "live": 2}})
    console = Console(file=io.StringIO(), width=1000, color_system="truecolor", force_terminal=True)
    segments = list(console.render(text.plan_renderable(document)))
    lines = [line.strip() for line in "".join(s.text for s in segments).splitlines()]
    quoted = f'"{evil}"'
    assert f"Plan for stack {evil}  (datatailr / prod / https://dt.example.com)" in lines
    assert f"= kv.{evil}  will be imported ({evil})" in lines
    assert f'live now: {evil} = {quoted}' in lines
    assert f'~ acl.{evil}: {quoted} -> "{evil}!"' in lines
    assert f"BLOCKED: {evil}." in lines
    assert f"+ user.{evil}  will be created (does not exist)" in lines
    assert f"+ email = {quoted}" in lines
    assert any(f"kv.b  blocked: {evil}" in line for line in lines)  # in the refusal panel
    assert any(f"kv.{evil}  import needs consent: pass --adopt kv.{evil} or add it to [adopt] objects" in line
               for line in lines)
    assert f"? user.{evil}" in lines and f"kv.{evil}" in lines
    assert f"Coverage: {evil} 1 of 2 managed" in lines
    styled = [s for s in segments if s.style is not None and s.style.bgcolor is not None]
    assert styled == []  # no "on white" background leaked from a value
    drift = drift_doc([DriftFinding(Cause.UNMANAGED, f"user.{evil}", "user", (evil,), evil),
                       DriftFinding(Cause.MISSING, f"kv.{evil}", "kv", (evil,), evil)],
                      secret_detection=evil, stack=evil)
    lines = [line.strip() for line in drift_text(drift).splitlines()]
    assert f"? user.{evil}" in lines and f"- kv.{evil}  {evil}" in lines and f"Secrets: {evil}" in lines


def test_text_is_not_hard_wrapped_on_a_wide_console_and_still_reads_on_a_narrow_one():
    """The CLI renders with a wide console when not on a terminal: a long reason stays one line.
    On an 80-column terminal Rich wraps it, and no word is lost."""
    wide = render(text.print_plan, review_plan_doc())
    assert f"        BLOCKED: {BLOCKED_ACL}. Consent alone does not unblock it." in wide.splitlines()
    narrow = render(text.print_plan, review_plan_doc(), width=80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert " ".join(narrow.split()).count(" ".join(BLOCKED_ACL.split())) == 1  # the action line, not the panel's
    assert "user.svc-etl" in narrow and "Apply will refuse this plan" in " ".join(narrow.split())
