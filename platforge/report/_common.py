"""Vocabulary shared by every renderer, so the terminal, a PR comment and an HTML page agree
on symbols, wording and counts.

Renderers read the JSON documents (`platforge.plan/v2`, `platforge.drift/v2`) as plain dicts and
tolerate missing keys, so that a document of an older producer (v1) still renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

Document = Mapping[str, Any]

SENSITIVE = "(sensitive)"

#: Ops in the order the summary reads them (Terraform puts imports first); `no-op` is counted
#: but never listed.
PLAN_OPS: tuple[str, ...] = ("import", "create", "update", "save", "replace", "delete")
#: `=` for an import is Pulumi's symbol: the object stays what it is, only its owner changes;
#: `^` for a save: a new version goes on top of the old ones, which stay.
OP_SYMBOL: dict[str, str] = {"create": "+", "import": "=", "update": "~", "save": "^", "replace": "-/+", "delete": "-",
                             "no-op": " "}
OP_VERB: dict[str, str] = {"create": "create", "import": "import", "update": "update", "save": "save a new version of",
                           "replace": "replace", "delete": "destroy", "no-op": "no change"}
OP_PARTICIPLE: dict[str, str] = {"create": "created", "import": "imported", "update": "updated in place",
                                 "save": "saved as a new version", "replace": "destroyed and re-created",
                                 "delete": "destroyed"}

#: Causes in the order a reader should act on them: surprises first, plans-in-waiting last.
DRIFT_CAUSES: tuple[str, ...] = ("out_of_band", "missing", "declared_change", "unmanaged", "not_observable")
#: What fails drift when a document does not say (`fail_on` is missing from v1 reports).
DEFAULT_FAIL_ON: tuple[str, ...] = ("declared_change", "missing", "out_of_band")
CAUSE_TITLE: dict[str, str] = {
    "out_of_band": "Changed outside platforge",
    "missing": "Missing on the platform",
    "declared_change": "Declared but not applied",
    "unmanaged": "Unmanaged",
    "not_observable": "Not observable",
    "in_sync": "In sync",
}
CAUSE_MEANING: dict[str, str] = {
    "out_of_band": "a managed field was changed on the platform since the last apply",
    "missing": "owned by this stack but gone from the platform",
    "declared_change": "the stack says something the platform does not have yet",
    "unmanaged": "exists on the platform, never owned by this stack",
    "not_observable": "applied as declared, but the platform cannot show this kind, so it cannot be checked",
    "in_sync": "live matches both the stack and the last apply",
}
#: Said next to a cause that does not fail drift (unmanaged, by default).
INFORMATIONAL = "does not fail drift"
#: Said under the heading of such a cause.
INFORMATIONAL_CAUSE = "Findings of this cause do not fail drift (it is not in fail_on)."


def plural(n: int, singular: str, many: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (many or singular + 's')}"


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def text_of(value: Any) -> str:
    """A document string as text; anything else (a number, a list from a buggy producer) as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else format_value(value)


def more_line(n: int, what: str, hint: str) -> str:
    """The line that ends a capped list: `... and 12 more user objects (see --format json)`."""
    return f"... and {n} more{' ' + what if what else ''} ({hint})"


# ---- plans -------------------------------------------------------------------------------


def actions_of(plan: Document) -> list[Mapping[str, Any]]:
    return [a for a in plan.get("actions") or () if isinstance(a, Mapping)]


def changed_actions(plan: Document) -> list[Mapping[str, Any]]:
    return [a for a in actions_of(plan) if a.get("op") != "no-op"]


def destructive_actions(plan: Document) -> list[Mapping[str, Any]]:
    """Deletes (and replaces, which delete first, and imports that replace what they adopt) of
    kinds whose loss locks people out."""
    return [a for a in actions_of(plan)
            if a.get("destructive") and a.get("op") in ("delete", "replace", "import")]


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


def plan_line(counts: Mapping[str, int]) -> str:
    imports, saves = counts.get("import", 0), counts.get("save", 0)
    return ("Plan: " + (f"{imports} to import, " if imports else "")
            + f"{counts.get('create', 0)} to create, {counts.get('update', 0)} to update, "
            + (f"{saves} new version{'s' if saves != 1 else ''} to save, " if saves else "")
            + f"{counts.get('replace', 0)} to replace, {counts.get('delete', 0)} to destroy.")


NO_CHANGES = "No changes. The platform matches the stack."
ORPHANS_ONLY = "No changes to apply, but this stack owns objects it no longer declares."
NO_DRIFT = "No drift. The platform matches the stack and its last apply."


def blocked_reason(action: Mapping[str, Any]) -> str:
    """Why apply refuses this action whatever the consent; "" when it does not. Any truthy
    `blocked` counts, as it does for apply, even one with no words in it."""
    blocked = action.get("blocked")
    if action.get("op") == "no-op":
        return ""
    if not blocked and action.get("confirm") and action.get("confirmed") is not True:
        return (f"{text_of(action['confirm'])}; confirm this delete with --confirm-delete "
                f"{text_of(action.get('address', '?'))}")
    if not blocked:
        return ""
    return text_of(blocked).strip() or "(no reason given)"


def needs_consent(action: Mapping[str, Any]) -> bool:
    """An import apply refuses until the stack consents; a missing `adopt` counts as no consent,
    as apply would treat it. A blocked import is reported as blocked instead: consent alone would
    not unblock it."""
    return action.get("op") == "import" and action.get("adopt") is not True and not blocked_reason(action)


def consent_hint(address: str) -> str:
    return f"pass --adopt {address} or add it to [adopt] objects"


def refusals(plan: Document) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(blocked actions, imports without consent): what makes apply refuse the whole plan
    before its first write, in the producer's order (the same rule as `Plan.refusals`)."""
    actions = actions_of(plan)
    return [a for a in actions if blocked_reason(a)], [a for a in actions if needs_consent(a)]


def refusal_line(blocked: int, consent: int) -> str:
    parts = ([plural(blocked, "blocked action")] if blocked else []) + \
            ([plural(consent, "import without consent", "imports without consent")] if consent else [])
    return f"Apply will refuse this plan before its first write: {' and '.join(parts)}."


def consent_status(action: Mapping[str, Any]) -> str:
    """One line on an import's consent, or "" for other actions and for blocked ones."""
    if action.get("op") != "import" or blocked_reason(action):
        return ""
    if action.get("adopt") is True:
        return "consent given: apply takes it over"
    return f"needs consent: apply refuses this plan unless you {consent_hint(str(action.get('address', '?')))}"


def blocked_detail(action: Mapping[str, Any]) -> str:
    """The blocked reason as a sentence, for after a "BLOCKED" label; "" when not blocked."""
    reason = blocked_reason(action)
    if not reason:
        return ""
    sentence = reason if reason.endswith(".") else reason + "."
    return sentence + (" Consent alone does not unblock it." if action.get("op") == "import" else "")


def live_fields(action: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """An import's live fields (non-sensitive, as the producer wrote them), sorted by name."""
    live = action.get("live")
    if not isinstance(live, Mapping):
        return []
    return sorted(((str(k), v) for k, v in live.items()), key=lambda kv: kv[0])


def is_create(action: Mapping[str, Any]) -> bool:
    return action.get("op") == "create"


def create_value(change: Mapping[str, Any]) -> str:
    """What a create sets a field to; secrets as the marker whatever the document holds."""
    if change.get("sensitive"):
        return SENSITIVE
    return format_value(change.get("new"))


def unmanaged_of(plan: Document) -> list[Mapping[str, Any]]:
    return [u for u in plan.get("unmanaged") or () if isinstance(u, Mapping)]


def address_text(item: Mapping[str, Any]) -> str:
    """The item's address; for an unmanaged object of an older document, which had none, the
    same `kind.identity/parts` form the producer now writes."""
    address = item.get("address")
    if address is not None:
        return text_of(address)
    return f"{text_of(item.get('kind')) or '?'}.{identity_text(item)}"


def by_kind(items: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Items grouped by kind, kinds sorted, items in document order."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for item in items:
        groups.setdefault(text_of(item.get("kind")) or "?", []).append(item)
    return sorted(groups.items())


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
        kind = text_of(item.get("kind", "?"))
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(counts.items()))


# ---- coverage ----------------------------------------------------------------------------


def coverage_of(doc: Document) -> list[tuple[str, int, int]]:
    """(kind, managed, live) per kind the stack looked at, sorted by kind."""
    coverage = doc.get("coverage")
    if not isinstance(coverage, Mapping):
        return []
    out = []
    for kind, counts in coverage.items():
        if isinstance(counts, Mapping):
            out.append((str(kind), as_int(counts.get("managed")), as_int(counts.get("live"))))
    return sorted(out)


#: Kinds named on the coverage line before "and N more kinds"; a platform has a handful.
COVERAGE_KINDS = 20


def coverage_line(doc: Document, kind_limit: int = 60) -> str:
    """`Coverage: group 3 of 5 managed, user 4 of 10 managed`, or "" when the document has none."""
    rows = coverage_of(doc)
    if not rows:
        return ""
    shown = [f"{truncate(kind, kind_limit)} {managed} of {live} managed" for kind, managed, live in rows[:COVERAGE_KINDS]]
    if len(rows) > COVERAGE_KINDS:
        shown.append(f"and {plural(len(rows) - COVERAGE_KINDS, 'more kind')}")
    return "Coverage: " + ", ".join(shown)


# ---- drift -------------------------------------------------------------------------------


def drift_counts(drift: Document) -> dict[str, int]:
    counted = {cause: 0 for cause in (*DRIFT_CAUSES, "in_sync")}
    for finding in findings_of(drift):
        cause = text_of(finding.get("cause"))
        counted[cause] = counted.get(cause, 0) + 1
    counted["in_sync"] = len(drift.get("in_sync") or ())
    summary = drift.get("summary")
    if isinstance(summary, Mapping):
        counted.update({k: as_int(summary[k]) for k in counted if k in summary})
    return counted


def findings_of(drift: Document) -> list[Mapping[str, Any]]:
    return [f for f in drift.get("findings") or () if isinstance(f, Mapping)]


def fail_on(drift: Document) -> frozenset[str]:
    """The causes that fail drift for this report (the producer's `fail_on`, else the default)."""
    causes = drift.get("fail_on")
    if isinstance(causes, Sequence) and not isinstance(causes, str):
        return frozenset(str(c) for c in causes)
    return frozenset(DEFAULT_FAIL_ON)


def causes_in_order(drift: Document) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Findings grouped by cause; causes unknown to this version still render, after the known
    ones. Failing causes come before informational ones."""
    groups: dict[str, list[Mapping[str, Any]]] = {c: [] for c in DRIFT_CAUSES}
    for finding in findings_of(drift):
        groups.setdefault(text_of(finding.get("cause")), []).append(finding)
    failing = fail_on(drift)
    ordered = [(cause, items) for cause, items in groups.items() if items]
    return sorted(ordered, key=lambda group: group[0] not in failing)  # stable: keeps cause order


def is_drifted(drift: Document) -> bool:
    drifted = drift.get("drifted")
    if isinstance(drifted, bool):
        return drifted
    failing = fail_on(drift)
    return any(text_of(f.get("cause")) in failing for f in findings_of(drift))


def failing_count(drift: Document) -> int:
    failing = fail_on(drift)
    return sum(1 for f in findings_of(drift) if text_of(f.get("cause")) in failing)


def drift_headline(drift: Document) -> str:
    if not is_drifted(drift):
        unchecked = sum(1 for f in findings_of(drift) if text_of(f.get("cause")) == "not_observable")
        if unchecked:  # never "matches" for what could not be looked at
            return (f"No drift found in what can be checked; {plural(unchecked, 'object')} cannot be checked "
                    "on the platform (not observable).")
        return NO_DRIFT
    return f"Drift detected: {plural(failing_count(drift) or len(findings_of(drift)), 'finding')}."


def unmanaged_drift_note(n: int, failing: bool) -> str:
    """What unmanaged findings mean for the exit code, and how to change that."""
    objects = plural(n, "unmanaged object")
    verb = "exists" if n == 1 else "exist"
    hide = 'hide them with [unmanaged] ignore patterns (e.g. ignore = ["user.svc-*"]) or [external]'
    if failing:
        return f"{objects} {verb} on the platform and fail drift (--fail-on unmanaged). Declare and adopt them, or {hide}."
    return (f"{objects} {verb} on the platform that this stack does not manage. Unmanaged objects do not fail "
            f"drift unless you pass --fail-on unmanaged; {hide}.")


def ignored_note(n: int) -> str:
    if n == 1:
        return "1 more unmanaged object is hidden by [unmanaged] ignore patterns."
    return f"{n} more unmanaged objects are hidden by [unmanaged] ignore patterns."


def run_line(doc: Document) -> str:
    """`Requests made: 9 in 0.41 s.` from a report's `requests` and `duration_seconds`, or ""
    when it has neither (reports made before they existed, or built without the CLI)."""
    requests, duration = doc.get("requests"), doc.get("duration_seconds")
    has_requests = isinstance(requests, int) and not isinstance(requests, bool)
    has_duration = isinstance(duration, (int, float)) and not isinstance(duration, bool)
    if not has_requests and not has_duration:
        return ""
    parts = [f"Requests made: {requests}" if has_requests else "Requests made: not counted"]
    if has_duration:
        parts.append(f"in {duration:.2f} s")
    return " ".join(parts) + "."


def secret_detection(drift: Document) -> str:
    """The secrets footer, or "" when the stack manages no secrets (the producer writes "")."""
    return text_of(drift.get("secret_detection")).strip()


# ---- values ------------------------------------------------------------------------------


def target_of(doc: Document) -> dict[str, str]:
    target = doc.get("target")
    target = target if isinstance(target, Mapping) else {}
    return {key: text_of(target.get(key)) for key in ("platform", "endpoint", "environment", "stack")}


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


def compact_fields(fields: Sequence[tuple[str, Any]], value_limit: int, max_fields: int) -> tuple[list[tuple[str, str]], int]:
    """The first `max_fields` (name, value text) pairs, values truncated, and how many were left out."""
    shown = [(name, truncate(format_value(value), value_limit)) for name, value in fields[:max_fields]]
    return shown, max(len(fields) - max_fields, 0)


#: How a finding's alive probe is labelled: it is the last run's status, never the object's.
RUN_STATUS_LABEL = "last run (of the object's job, not its configuration)"


def run_status_line(finding: Mapping[str, Any]) -> str:
    """The status of a not-observable object's last run, labelled as such, or ""."""
    run = finding.get("run_status")
    if not isinstance(run, Mapping):
        return ""
    status = text_of(run.get("status")) or "unknown"
    if status == "never_run":
        return f"{RUN_STATUS_LABEL}: none yet"
    parts = [status]
    if run.get("run_id"):
        parts.append(f"run {text_of(run['run_id'])}")
    if run.get("at"):
        parts.append(f"at {text_of(run['at'])}")
    if status == "unknown" and run.get("error"):
        parts.append(f"the probe failed: {truncate(text_of(run['error']), 120)}")
    return f"{RUN_STATUS_LABEL}: " + " · ".join(parts)


def delete_as_line(action: Mapping[str, Any]) -> str:
    """What an action's delete really is, where it is not a removal (an archive), or ""."""
    delete_as = action.get("delete_as")
    if not isinstance(delete_as, Mapping):
        return ""
    verb = text_of(delete_as.get("verb")) or "delete"
    what = "this delete" if text_of(action.get("op")) == "delete" else "the old object's delete"
    article = "an" if verb[:1] in "aeiou" else "a"
    note = text_of(delete_as.get("note"))
    return f"{what} is {article} {verb}, a soft delete" + (f": {note}" if note else "")
