"""Terminal rendering of plans and drift reports, in the shape Terraform users already read.

Everything the documents carry is inserted as `rich.text.Text`, never as markup, so a value
like "[bold]" in a KV entry prints literally instead of restyling the output. Rich wraps long
lines to the console's width; nothing here wraps by itself, so a wide console (or a file)
gets one line per entry.

Long lists (unmanaged objects, orphans, findings of one cause) are capped with a count of what
was left out; every object stays in the JSON document. Changes a plan makes are never capped:
`apply` prints this view before asking for confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ._common import (
    CAUSE_MEANING,
    CAUSE_TITLE,
    DRIFT_CAUSES,
    INFORMATIONAL,
    INFORMATIONAL_CAUSE,
    NO_CHANGES,
    OP_PARTICIPLE,
    OP_SYMBOL,
    OP_VERB,
    ORPHANS_ONLY,
    Document,
    address_text,
    blocked_detail,
    blocked_reason,
    by_kind,
    causes_in_order,
    change_symbol,
    change_values,
    changed_actions,
    changes_of,
    compact_fields,
    consent_hint,
    consent_status,
    coverage_line,
    create_value,
    delete_as_line,
    destructive_actions,
    drift_counts,
    drift_headline,
    fail_on,
    ignored_note,
    is_create,
    is_drifted,
    kind_breakdown,
    live_fields,
    more_line,
    orphans_note,
    plan_counts,
    plan_line,
    plural,
    refusal_line,
    refusals,
    run_line,
    run_status_line,
    secret_detection,
    target_of,
    text_of,
    truncate,
    unmanaged_drift_note,
    unmanaged_note,
    unmanaged_of,
)

__all__ = ["plan_renderable", "drift_renderable", "print_plan", "print_drift"]

OP_STYLE: dict[str, str] = {"create": "green", "import": "cyan", "update": "yellow", "replace": "magenta",
                            "delete": "red"}
CAUSE_STYLE: dict[str, str] = {"out_of_band": "yellow", "missing": "red", "declared_change": "cyan",
                               "unmanaged": "blue"}
CAUSE_SYMBOL: dict[str, str] = {"out_of_band": "!", "missing": "-", "declared_change": "~", "unmanaged": "?"}
#: A terminal is not the place for a 1 MB KV value; the JSON document keeps it whole.
VALUE_LIMIT = 400
#: An import's live fields are context, not the change: a few, short.
LIVE_VALUE_LIMIT = 80
LIVE_FIELDS = 8
#: Orphans and refusals are actionable, so they are listed, but thousands point at the JSON.
LIST_LIMIT = 50
#: Unmanaged objects per kind: enough to recognise them, the JSON has every one.
UNMANAGED_PER_KIND = 10
#: Findings per cause.
FINDINGS_PER_CAUSE = 100
PLAN_JSON_HINT = "see plan --json"
DRIFT_JSON_HINT = "see --format json"


def print_plan(console: Console, plan: Document) -> None:
    console.print(plan_renderable(plan))


def print_drift(console: Console, drift: Document) -> None:
    console.print(drift_renderable(drift))


def plan_renderable(plan: Document) -> Group:
    counts = plan_counts(plan)
    parts: list[RenderableType] = [_header("Plan", plan)]
    changed = changed_actions(plan)
    blocked, unconsented = refusals(plan)
    if changed:
        parts.append(Text())
        parts.extend(_action_text(action) for action in changed)
        parts.append(Text())
    if blocked or unconsented:
        parts.append(_refusal_panel(blocked, unconsented))
    destructive = destructive_actions(plan)
    if destructive:
        parts.append(_destructive_panel(destructive))
    if changed:
        parts.append(Text(plan_line(counts), style="bold"))
    elif counts.get("orphaned"):
        parts.append(Text(ORPHANS_ONLY, style="bold yellow"))
    else:
        parts.append(Text(NO_CHANGES, style="bold green"))
    if blocked or unconsented:
        parts.append(Text(refusal_line(len(blocked), len(unconsented)), style="bold red"))
    parts.extend(_plan_notes(plan, counts))
    return Group(*parts)


def drift_renderable(drift: Document) -> Group:
    counts = drift_counts(drift)
    failing = fail_on(drift)
    parts: list[RenderableType] = [_header("Drift report", drift), _drift_table(counts, failing)]
    drifted = is_drifted(drift)
    parts.append(Text(drift_headline(drift), style="bold red" if drifted else "bold green"))
    notes = [line for line in (coverage_line(drift), _ignored(drift), run_line(drift)) if line]
    parts.extend(Text(line, style="dim") for line in notes)
    for cause, findings in causes_in_order(drift):
        style = CAUSE_STYLE.get(cause, "white")
        informational = cause not in failing
        parts.append(Text())
        heading = Text(f"{CAUSE_TITLE.get(cause, cause)} ({len(findings)})", style=f"bold {style}")
        parts.append(heading)
        if cause == "unmanaged":
            parts.append(Text(unmanaged_drift_note(len(findings), not informational), style="dim"))
            parts.extend(_unmanaged_lines(findings, DRIFT_JSON_HINT, symbol=CAUSE_SYMBOL["unmanaged"], style=style))
            continue
        if informational:
            parts.append(Text(INFORMATIONAL_CAUSE, style="dim"))
        parts.extend(_finding_text(cause, f) for f in findings[:FINDINGS_PER_CAUSE])
        if len(findings) > FINDINGS_PER_CAUSE:
            parts.append(Text(f"  {more_line(len(findings) - FINDINGS_PER_CAUSE, '', DRIFT_JSON_HINT)}",
                              style="dim"))
    detection = secret_detection(drift)
    if detection:
        parts.append(Text())
        parts.append(Text.assemble(("Secrets: ", "bold"), (detection, "dim")))
    return Group(*parts)


def _header(title: str, doc: Document) -> Text:
    target = target_of(doc)
    text = Text.assemble((f"{title} for stack ", "bold"), (target["stack"] or "?", "bold cyan"))
    where = " / ".join(p for p in (target["platform"], target["environment"], target["endpoint"]) if p)
    if where:
        text.append(f"  ({where})", style="dim")
    return text


def _action_text(action: Mapping[str, Any]) -> Text:
    op = text_of(action.get("op"))
    style = OP_STYLE.get(op, "white")
    text = Text.assemble(
        (f"  {OP_SYMBOL.get(op, '?'):>3} ", f"bold {style}"),
        (text_of(action.get("address", "?")), f"bold {style}"),
        (f"  will be {OP_PARTICIPLE.get(op, op)}", style),
    )
    if action.get("reason"):
        text.append(f" ({text_of(action['reason'])})", style="dim")
    blocked = blocked_detail(action)
    if blocked:
        text.append("\n        ")
        text.append("BLOCKED: ", style="bold red")
        text.append(blocked, style="red")
    soft = delete_as_line(action)
    if soft:
        text.append("\n        ")
        text.append("NOTE: ", style="bold yellow")
        text.append(soft, style="yellow")
    consent = consent_status(action)
    if consent:
        text.append("\n        ")
        text.append(consent, style="green" if action.get("adopt") is True else "bold yellow")
    fields = live_fields(action)
    if fields:
        text.append("\n        ")
        text.append_text(_live_text(fields))
    for change in changes_of(action):
        text.append("\n")
        text.append_text(_create_text(change) if is_create(action) else _change_text(change))
    return text


def _live_text(fields: Sequence[tuple[str, Any]]) -> Text:
    shown, more = compact_fields(fields, LIVE_VALUE_LIMIT, LIVE_FIELDS)
    text = Text("live now: ", style="dim")
    for i, (name, value) in enumerate(shown):
        if i:
            text.append(", ", style="dim")
        text.append(f"{name} = ", style="dim")
        text.append(value)
    if more:
        text.append(f", and {plural(more, 'more field')}", style="dim")
    return text


def _create_text(change: Mapping[str, Any], indent: str = "        ") -> Text:
    """A field a create sets: `+ email = "alice@example.com"`, secrets as `(sensitive)`."""
    text = Text(indent)
    text.append("+ ", style="green")
    text.append(f"{text_of(change.get('path', '?'))} = ")
    text.append(truncate(create_value(change), VALUE_LIMIT), style="italic dim" if change.get("sensitive") else "")
    return text


def _change_text(change: Mapping[str, Any], indent: str = "        ") -> Text:
    symbol = change_symbol(change)
    old, new = change_values(change)
    value_style = "italic dim" if change.get("sensitive") else ""
    text = Text(indent)
    text.append(f"{symbol} ", style={"+": "green", "-": "red"}.get(symbol, "yellow"))
    text.append(f"{text_of(change.get('path', '?'))}: ")
    text.append(truncate(old, VALUE_LIMIT), style=value_style)
    text.append(" -> ", style="dim")
    text.append(truncate(new, VALUE_LIMIT), style=value_style)
    if change.get("forces_replace"):
        text.append("  # forces replacement", style="bold red")
    return text


def _refusal_panel(blocked: Sequence[Mapping[str, Any]], unconsented: Sequence[Mapping[str, Any]]) -> Panel:
    body = Text("apply checks these before its first write and refuses the whole plan:", style="bold red")
    entries: list[Text] = []
    for action in blocked:
        entries.append(Text.assemble((text_of(action.get("address", "?")), "bold"), ("  blocked: ", "bold red"),
                                     (blocked_reason(action), "red")))
    for action in unconsented:
        address = text_of(action.get("address", "?"))
        entries.append(Text.assemble((address, "bold"), ("  import needs consent: ", "bold yellow"),
                                     (consent_hint(address), "yellow")))
    for entry in entries[:LIST_LIMIT]:
        body.append("\n  ")
        body.append_text(entry)
    if len(entries) > LIST_LIMIT:
        body.append(f"\n  {more_line(len(entries) - LIST_LIMIT, '', PLAN_JSON_HINT)}", style="red")
    return Panel(body, title=Text("APPLY WILL REFUSE THIS PLAN", style="bold"), border_style="bold red",
                 expand=False)


def _destructive_panel(actions: Sequence[Mapping[str, Any]]) -> Panel:
    body = Text.assemble(
        (f"This plan destroys {plural(len(actions), 'user or group', 'users or groups')}", "bold red"),
        (f" ({kind_breakdown(actions)}). People lose the access these grant; "
         "a re-created object is a new object on the platform.", "red"),
    )
    for action in actions:
        op = text_of(action.get("op"))
        body.append(f"\n  {OP_SYMBOL.get(op, '?'):>3} ", style="bold red")
        body.append(text_of(action.get("address", "?")), style="bold")
        verb = "import, which replaces it" if op == "import" else OP_VERB.get(op, op)
        body.append(f"  ({verb})", style="red")
    return Panel(body, title=Text("WARNING: destructive changes", style="bold"), border_style="bold red",
                 expand=False)


def _plan_notes(plan: Document, counts: Mapping[str, int]) -> list[RenderableType]:
    notes: list[RenderableType] = []
    coverage = coverage_line(plan)
    if coverage:
        notes.append(Text(coverage, style="dim"))
    unmanaged = unmanaged_of(plan)
    if counts.get("unmanaged"):
        note = Text(unmanaged_note(counts["unmanaged"]), style="dim")
        if unmanaged:
            note.append(f" ({kind_breakdown(unmanaged)})", style="dim")
        notes.append(note)
        notes.extend(_unmanaged_lines(unmanaged, PLAN_JSON_HINT, symbol="?", style="dim"))
    orphans = [text_of(o) for o in plan.get("orphans") or ()]
    if counts.get("orphaned"):
        note = Text(orphans_note(counts["orphaned"]), style="yellow")
        for address in orphans[:LIST_LIMIT]:
            note.append(f"\n    {address}", style="yellow")
        if len(orphans) > LIST_LIMIT:
            note.append(f"\n    {more_line(len(orphans) - LIST_LIMIT, '', PLAN_JSON_HINT)}", style="yellow")
        notes.append(note)
    return ([Text()] + notes) if notes else []


def _unmanaged_lines(items: Sequence[Mapping[str, Any]], hint: str, symbol: str, style: str) -> list[Text]:
    """Unmanaged objects by kind, at most UNMANAGED_PER_KIND of each."""
    lines: list[Text] = []
    for kind, group in by_kind(items):
        for item in group[:UNMANAGED_PER_KIND]:
            lines.append(Text.assemble((f"  {symbol} ", f"bold {style}"), (address_text(item), "bold")))
        if len(group) > UNMANAGED_PER_KIND:
            lines.append(Text(f"    {more_line(len(group) - UNMANAGED_PER_KIND, f'{kind} objects', hint)}",
                              style="dim"))
    return lines


def _ignored(drift: Document) -> str:
    ignored = drift.get("ignored")
    return ignored_note(ignored) if isinstance(ignored, int) and not isinstance(ignored, bool) and ignored > 0 else ""


def _drift_table(counts: Mapping[str, int], failing: frozenset[str]) -> Table:
    table = Table(title=None, show_header=True, header_style="bold", box=None, padding=(0, 2))
    table.add_column("Cause")
    table.add_column("Count", justify="right")
    table.add_column("Meaning", style="dim")
    known = (*DRIFT_CAUSES, "in_sync")
    for cause in (*known, *(c for c in counts if c not in known)):
        n = counts.get(cause, 0)
        style = CAUSE_STYLE.get(cause, "green" if cause == "in_sync" else "white") if n else "dim"
        meaning = CAUSE_MEANING.get(cause, "")
        if cause != "in_sync" and cause not in failing:
            meaning = f"{meaning} ({INFORMATIONAL})" if meaning else INFORMATIONAL
        table.add_row(Text(CAUSE_TITLE.get(cause, cause), style=style), Text(str(n), style=style), Text(meaning))
    return table


def _finding_text(cause: str, finding: Mapping[str, Any]) -> Text:
    style = CAUSE_STYLE.get(cause, "white")
    text = Text.assemble(
        (f"  {CAUSE_SYMBOL.get(cause, '*')} ", f"bold {style}"),
        (address_text(finding) or "?", "bold"),
    )
    if finding.get("detail"):
        text.append(f"  {text_of(finding['detail'])}", style="dim")
    if finding.get("detection") == "fingerprint":
        text.append("  [detected by fingerprint]", style="italic dim")
    run = run_status_line(finding)
    if run:
        text.append(f"\n      {run}", style="cyan")
    for change in changes_of(finding):
        text.append("\n")
        text.append_text(_change_text(change, indent="      "))
    return text
