"""Vocabulary shared by every renderer, so the terminal, a PR comment and an HTML page agree
on symbols, wording and counts.

Renderers read the JSON documents (`platforge.plan/v1`, `platforge.drift/v1`) as plain dicts and
tolerate missing keys, so that a plan saved by an older or newer v1 producer still renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

Document = Mapping[str, Any]

SENSITIVE = "(sensitive)"

#: Ops in the order the summary reads them; `no-op` is counted but never listed.
PLAN_OPS: tuple[str, ...] = ("create", "update", "replace", "delete")
OP_SYMBOL: dict[str, str] = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "no-op": " "}
OP_VERB: dict[str, str] = {"create": "create", "update": "update", "replace": "replace", "delete": "destroy",
                           "no-op": "no change"}

#: Causes in the order a reader should act on them: surprises first, plans-in-waiting last.
DRIFT_CAUSES: tuple[str, ...] = ("out_of_band", "missing", "declared_change", "unmanaged")
CAUSE_TITLE: dict[str, str] = {
    "out_of_band": "Changed outside platforge",
    "missing": "Missing on the platform",
    "declared_change": "Declared but not applied",
    "unmanaged": "Unmanaged",
    "in_sync": "In sync",
}
CAUSE_MEANING: dict[str, str] = {
    "out_of_band": "a managed field was changed on the platform since the last apply",
    "missing": "owned by this stack but gone from the platform",
    "declared_change": "the stack says something the platform does not have yet",
    "unmanaged": "exists on the platform, never owned by this stack",
    "in_sync": "live matches both the stack and the last apply",
}


def plural(n: int, singular: str, many: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (many or singular + 's')}"


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def actions_of(plan: Document) -> list[Mapping[str, Any]]:
    return [a for a in plan.get("actions") or () if isinstance(a, Mapping)]


def changed_actions(plan: Document) -> list[Mapping[str, Any]]:
    return [a for a in actions_of(plan) if a.get("op") != "no-op"]


def destructive_actions(plan: Document) -> list[Mapping[str, Any]]:
    """Deletes (and replaces, which delete first) of kinds whose loss locks people out."""
    return [a for a in actions_of(plan) if a.get("destructive") and a.get("op") in ("delete", "replace")]


def plan_counts(plan: Document) -> dict[str, int]:
    """The document's summary when present (it is what CI scripts read), else counted."""
    counted = {op: 0 for op in (*PLAN_OPS, "no-op")}
    for action in actions_of(plan):
        op = action.get("op")
        if op in counted:
            counted[op] += 1
    counted["unmanaged"] = len(plan.get("unmanaged") or ())
    counted["orphaned"] = len(plan.get("orphans") or ())
    summary = plan.get("summary")
    if isinstance(summary, Mapping):
        counted.update({k: as_int(summary[k]) for k in counted if k in summary})
    return counted


def drift_counts(drift: Document) -> dict[str, int]:
    counted = {cause: 0 for cause in (*DRIFT_CAUSES, "in_sync")}
    for finding in findings_of(drift):
        cause = str(finding.get("cause"))
        counted[cause] = counted.get(cause, 0) + 1
    counted["in_sync"] = len(drift.get("in_sync") or ())
    summary = drift.get("summary")
    if isinstance(summary, Mapping):
        counted.update({k: as_int(summary[k]) for k in counted if k in summary})
    return counted


def findings_of(drift: Document) -> list[Mapping[str, Any]]:
    return [f for f in drift.get("findings") or () if isinstance(f, Mapping)]


def causes_in_order(drift: Document) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Findings grouped by cause; causes unknown to this version still render, last."""
    groups: dict[str, list[Mapping[str, Any]]] = {c: [] for c in DRIFT_CAUSES}
    for finding in findings_of(drift):
        groups.setdefault(str(finding.get("cause")), []).append(finding)
    return [(cause, items) for cause, items in groups.items() if items]


def is_drifted(drift: Document) -> bool:
    drifted = drift.get("drifted")
    return bool(drifted) if isinstance(drifted, bool) else bool(findings_of(drift))


def plan_line(counts: Mapping[str, int]) -> str:
    return (f"Plan: {counts.get('create', 0)} to create, {counts.get('update', 0)} to update, "
            f"{counts.get('replace', 0)} to replace, {counts.get('delete', 0)} to destroy.")


NO_CHANGES = "No changes. The platform matches the stack."
NO_DRIFT = "No drift. The platform matches the stack and its last apply."


def unmanaged_note(n: int) -> str:
    if n == 1:
        return "1 unmanaged object on the platform is not managed by this stack and will never be deleted."
    return f"{n} unmanaged objects on the platform are not managed by this stack and will never be deleted."


def orphans_note(n: int) -> str:
    if n == 1:
        return "1 object is owned but no longer declared; run apply --prune to delete it."
    return f"{n} objects are owned but no longer declared; run apply --prune to delete them."


def kind_breakdown(items: Sequence[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for item in items:
        kind = str(item.get("kind", "?"))
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(counts.items()))


def target_of(doc: Document) -> dict[str, str]:
    target = doc.get("target")
    target = target if isinstance(target, Mapping) else {}
    return {key: str(target.get(key) or "") for key in ("platform", "endpoint", "environment", "stack")}


def changes_of(item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in item.get("changes") or () if isinstance(c, Mapping)]


def format_value(value: Any) -> str:
    """JSON spelling, so that a string "1" and a number 1 read differently, as in Terraform."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str)


def change_values(change: Mapping[str, Any]) -> tuple[str, str]:
    """Old and new as display text. A sensitive change shows the marker whatever the document
    carries, so a producer that forgot to redact still cannot leak through a renderer."""
    if change.get("sensitive"):
        return SENSITIVE, SENSITIVE
    return format_value(change.get("old")), format_value(change.get("new"))


def change_symbol(change: Mapping[str, Any]) -> str:
    if change.get("sensitive"):
        return "~"
    if change.get("old") is None:
        return "+"
    if change.get("new") is None:
        return "-"
    return "~"


def identity_text(item: Mapping[str, Any]) -> str:
    identity = item.get("identity")
    if isinstance(identity, Sequence) and not isinstance(identity, str):
        return "/".join(str(part) for part in identity)
    return "" if identity is None else str(identity)


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"
