"""Terminal rendering of plans and drift reports, in the shape Terraform users already read.

Everything the documents carry is inserted as `rich.text.Text`, never as markup, so a value
like "[bold]" in a KV entry prints literally instead of restyling the output.
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
    NO_CHANGES,
    NO_DRIFT,
    OP_SYMBOL,
    OP_VERB,
    Document,
    causes_in_order,
    change_symbol,
    change_values,
    changed_actions,
    changes_of,
    destructive_actions,
    drift_counts,
    is_drifted,
    kind_breakdown,
    orphans_note,
    plan_counts,
    plan_line,
    plural,
    target_of,
    truncate,
    unmanaged_note,
)

__all__ = ["plan_renderable", "drift_renderable", "print_plan", "print_drift"]

OP_STYLE: dict[str, str] = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red"}
CAUSE_STYLE: dict[str, str] = {"out_of_band": "yellow", "missing": "red", "declared_change": "cyan",
                               "unmanaged": "blue"}
CAUSE_SYMBOL: dict[str, str] = {"out_of_band": "!", "missing": "-", "declared_change": "~", "unmanaged": "?"}
#: A terminal is not the place for a 1 MB KV value; the JSON document keeps it whole.
VALUE_LIMIT = 400
#: Orphans are actionable, so they are listed, but a plan with thousands points at the JSON.
LIST_LIMIT = 50


def print_plan(console: Console, plan: Document) -> None:
    console.print(plan_renderable(plan))


def print_drift(console: Console, drift: Document) -> None:
    console.print(drift_renderable(drift))


def plan_renderable(plan: Document) -> Group:
    counts = plan_counts(plan)
    parts: list[RenderableType] = [_header("Plan", plan)]
    changed = changed_actions(plan)
    if changed:
        parts.append(Text())
        parts.extend(_action_text(action) for action in changed)
        parts.append(Text())
        destructive = destructive_actions(plan)
        if destructive:
            parts.append(_destructive_panel(destructive))
        parts.append(Text(plan_line(counts), style="bold"))
    else:
        parts.append(Text(NO_CHANGES, style="bold green"))
    parts.extend(_plan_notes(plan, counts))
    return Group(*parts)


def drift_renderable(drift: Document) -> Group:
    counts = drift_counts(drift)
    parts: list[RenderableType] = [_header("Drift report", drift), _drift_table(counts)]
    if is_drifted(drift):
        found = sum(n for cause, n in counts.items() if cause != "in_sync")
        parts.append(Text(f"Drift detected: {plural(found, 'finding')}.", style="bold red"))
        for cause, findings in causes_in_order(drift):
            style = CAUSE_STYLE.get(cause, "white")
            parts.append(Text())
            parts.append(Text(f"{CAUSE_TITLE.get(cause, cause)} ({len(findings)})", style=f"bold {style}"))
            parts.extend(_finding_text(cause, f) for f in findings)
    else:
        parts.append(Text(NO_DRIFT, style="bold green"))
    detection = drift.get("secret_detection")
    if detection:
        parts.append(Text())
        parts.append(Text.assemble(("Secrets: ", "bold"), (str(detection), "dim")))
    return Group(*parts)


def _header(title: str, doc: Document) -> Text:
    target = target_of(doc)
    text = Text.assemble((f"{title} for stack ", "bold"), (target["stack"] or "?", "bold cyan"))
    where = " / ".join(p for p in (target["platform"], target["environment"], target["endpoint"]) if p)
    if where:
        text.append(f"  ({where})", style="dim")
    return text


def _action_text(action: Mapping[str, Any]) -> Text:
    op = str(action.get("op"))
    style = OP_STYLE.get(op, "white")
    text = Text.assemble(
        (f"  {OP_SYMBOL.get(op, '?'):>3} ", f"bold {style}"),
        (str(action.get("address", "?")), f"bold {style}"),
        (f"  will be {_participle(op)}", style),
    )
    if action.get("reason"):
        text.append(f" ({action['reason']})", style="dim")
    for change in changes_of(action):
        text.append("\n")
        text.append_text(_change_text(change))
    return text


def _participle(op: str) -> str:
    return {"create": "created", "update": "updated in place", "replace": "destroyed and re-created",
            "delete": "destroyed"}.get(op, op)


def _change_text(change: Mapping[str, Any], indent: str = "        ") -> Text:
    symbol = change_symbol(change)
    old, new = change_values(change)
    value_style = "italic dim" if change.get("sensitive") else ""
    text = Text(indent)
    text.append(f"{symbol} ", style={"+": "green", "-": "red"}.get(symbol, "yellow"))
    text.append(f"{change.get('path', '?')}: ")
    text.append(truncate(old, VALUE_LIMIT), style=value_style)
    text.append(" -> ", style="dim")
    text.append(truncate(new, VALUE_LIMIT), style=value_style)
    if change.get("forces_replace"):
        text.append("  # forces replacement", style="bold red")
    return text


def _destructive_panel(actions: Sequence[Mapping[str, Any]]) -> Panel:
    body = Text.assemble(
        (f"This plan destroys {plural(len(actions), 'user or group', 'users or groups')}", "bold red"),
        (f" ({kind_breakdown(actions)}). People lose the access these grant; "
         "a re-created object is a new object on the platform.", "red"),
    )
    for action in actions:
        op = str(action.get("op"))
        body.append(f"\n  {OP_SYMBOL.get(op, '?'):>3} ", style="bold red")
        body.append(str(action.get("address", "?")), style="bold")
        body.append(f"  ({OP_VERB.get(op, op)})", style="red")
    return Panel(body, title="[bold]WARNING: destructive changes[/bold]", border_style="bold red", expand=False)


def _plan_notes(plan: Document, counts: Mapping[str, int]) -> list[RenderableType]:
    notes: list[RenderableType] = []
    unmanaged = [u for u in plan.get("unmanaged") or () if isinstance(u, Mapping)]
    if counts.get("unmanaged"):
        note = Text(unmanaged_note(counts["unmanaged"]), style="dim")
        if unmanaged:
            note.append(f" ({kind_breakdown(unmanaged)})", style="dim")
        notes.append(note)
    orphans = [str(o) for o in plan.get("orphans") or ()]
    if counts.get("orphaned"):
        note = Text(orphans_note(counts["orphaned"]), style="yellow")
        for address in orphans[:LIST_LIMIT]:
            note.append(f"\n    {address}", style="yellow")
        if len(orphans) > LIST_LIMIT:
            note.append(f"\n    ... and {len(orphans) - LIST_LIMIT} more (see the JSON plan)", style="yellow")
        notes.append(note)
    return ([Text()] + notes) if notes else []


def _drift_table(counts: Mapping[str, int]) -> Table:
    table = Table(title=None, show_header=True, header_style="bold", box=None, padding=(0, 2))
    table.add_column("Cause")
    table.add_column("Count", justify="right")
    table.add_column("Meaning", style="dim")
    known = (*DRIFT_CAUSES, "in_sync")
    for cause in (*known, *(c for c in counts if c not in known)):
        n = counts.get(cause, 0)
        style = CAUSE_STYLE.get(cause, "green" if cause == "in_sync" else "white") if n else "dim"
        table.add_row(Text(CAUSE_TITLE.get(cause, cause), style=style), Text(str(n), style=style),
                      Text(CAUSE_MEANING.get(cause, "")))
    return table


def _finding_text(cause: str, finding: Mapping[str, Any]) -> Text:
    style = CAUSE_STYLE.get(cause, "white")
    text = Text.assemble(
        (f"  {CAUSE_SYMBOL.get(cause, '*')} ", f"bold {style}"),
        (str(finding.get("address", "?")), "bold"),
    )
    if finding.get("detail"):
        text.append(f"  {finding['detail']}", style="dim")
    if finding.get("detection") == "fingerprint":
        text.append("  [detected by fingerprint]", style="italic dim")
    for change in changes_of(finding):
        text.append("\n")
        text.append_text(_change_text(change, indent="      "))
    return text
