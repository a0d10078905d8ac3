"""Pull-request comments for plans and drift reports, in the Atlantis/Pulumi shape reviewers know.

GitHub rejects comments over 65,536 characters, and a failed comment hides the plan entirely, so
the output is built to a hard bound: the summary always survives, details are dropped from the
end, and the reader is pointed at the JSON artifact for what was cut.

What would stop apply (a blocked action, an import without consent) is said in a callout above
the details, whose short form always fits; the collapsed per-resource blocks repeat it.

Values come from stacks and from the platform, so they are untrusted: every one is HTML-escaped,
with Markdown's active characters turned into entities, and wrapped in `<code>` so that `@team`
or `#12` in a value never notifies anyone or links an issue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from ._common import (
    CAUSE_TITLE,
    DRIFT_CAUSES,
    INFORMATIONAL_CAUSE,
    NO_CHANGES,
    OP_SYMBOL,
    OP_VERB,
    ORPHANS_ONLY,
    PLAN_OPS,
    SENSITIVE,
    Document,
    address_text,
    blocked_detail,
    blocked_reason,
    by_kind,
    causes_in_order,
    change_values,
    changed_actions,
    changes_of,
    compact_fields,
    consent_status,
    coverage_line,
    create_value,
    delete_as_line,
    destructive_actions,
    drift_counts,
    drift_headline,
    fail_on,
    identity_text,
    ignored_note,
    is_create,
    kind_breakdown,
    live_fields,
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

__all__ = ["plan_markdown", "drift_markdown", "marker", "GITHUB_COMMENT_LIMIT", "MIN_CHARS"]

GITHUB_COMMENT_LIMIT = 65536
#: Below this the always-present summary might not fit; every header string is truncated so
#: that the summary of any document stays well under it.
MIN_CHARS = 4096
#: Raw characters kept of a field value, a header string, an address in a table.
VALUE_LIMIT = 120
NAME_LIMIT = 40
MARKER_LIMIT = 64
ADDRESS_LIMIT = 120
REASON_LIMIT = 300
#: Field rows per resource, and list entries per callout, before "... and N more".
ROW_LIMIT = 40
LIST_LIMIT = 20
#: An import's live fields: context for the reviewer, so a few, short.
LIVE_FIELDS = 8
LIVE_VALUE_LIMIT = 80
#: Unmanaged objects named per kind (the rest are counted).
UNMANAGED_PER_KIND = 10
JSON_HINT = "see the JSON artifact"

#: HTML's specials, and Markdown's inline ones that could restyle, link, split a table cell or
#: start math ($) or a mention (@) in a value.
_ACTIVE = {"&": "&amp;", **{c: f"&#{ord(c)};" for c in "<>\"'\\`*_[]|~@#$"}}
_ACTIVE_RE = re.compile("[" + re.escape("".join(_ACTIVE)) + "]")
SEP = "\n\n"
T = TypeVar("T")


def plan_markdown(plan: Document, max_chars: int = GITHUB_COMMENT_LIMIT) -> str:
    _check_bound(max_chars)
    counts = plan_counts(plan)
    target = target_of(plan)
    changed = changed_actions(plan)
    if changed:
        headline = plan_line(counts)
    else:
        headline = ORPHANS_ONLY if counts["orphaned"] else NO_CHANGES
    head = [
        marker("plan", target["stack"]),
        _title("plan", target),
        _table(["Import", "Create", "Update", "Save", "Replace", "Destroy", "Unchanged", "Unmanaged", "Orphaned"],
               [[str(counts[k]) for k in (*PLAN_OPS, "no-op", "unmanaged", "orphaned")]]),
        f"**{headline}**",
    ]
    parts: list[_Part] = []
    blocked, unconsented = refusals(plan)
    if blocked or unconsented:
        parts.append(_refusal_callout(blocked, unconsented))
    destructive = destructive_actions(plan)
    if destructive:
        parts.append(_destructive_callout(destructive))
    if counts["orphaned"]:
        orphans = [text_of(o) for o in plan.get("orphans") or ()]
        parts.append(_Part(
            short=f"> [!NOTE]\n> {escape(orphans_note(counts['orphaned']))}",
            full=f"> [!NOTE]\n> {escape(orphans_note(counts['orphaned']))}\n"
                 + _quoted_list([code(o, ADDRESS_LIMIT) for o in orphans], JSON_HINT),
        ))
    unmanaged = unmanaged_of(plan)
    if counts["unmanaged"]:
        note = escape(unmanaged_note(counts["unmanaged"]))
        parts.append(_Part(short=note, full=f"{note} ({escape(kind_breakdown(unmanaged))})" if unmanaged else note))
    coverage = coverage_line(plan, NAME_LIMIT)
    if coverage:
        parts.append(_Part(short="", full=f"<sub>{escape(coverage)}</sub>"))
    tail = [_unmanaged_section(unmanaged)] if unmanaged else []
    return _fit(head, parts, [(a, 1) for a in changed], _action_block, max_chars,
                lambda n: f"_{plural(n, 'more resource')} omitted; {JSON_HINT}._", tail)


def drift_markdown(drift: Document, max_chars: int = GITHUB_COMMENT_LIMIT) -> str:
    _check_bound(max_chars)
    counts = drift_counts(drift)
    target = target_of(drift)
    failing = fail_on(drift)
    causes = (*DRIFT_CAUSES, "in_sync")
    head = [
        marker("drift", target["stack"]),
        _title("drift", target),
        _table([CAUSE_TITLE[c] for c in causes], [[str(counts.get(c, 0)) for c in causes]]),
        f"**{escape(drift_headline(drift))}**",
    ]
    parts: list[_Part] = []
    ignored = drift.get("ignored")
    if isinstance(ignored, int) and not isinstance(ignored, bool) and ignored > 0:
        parts.append(_Part(short=escape(ignored_note(ignored)), full=escape(ignored_note(ignored))))
    coverage = coverage_line(drift, NAME_LIMIT)
    if coverage:
        parts.append(_Part(short="", full=f"<sub>{escape(coverage)}</sub>"))
    detection = secret_detection(drift)
    if detection:
        parts.append(_Part(short="", full=f"<sub>Secrets: {escape(truncate(detection, 600))}</sub>"))
    run = run_line(drift)
    if run:
        parts.append(_Part(short="", full=f"<sub>{escape(run)}</sub>"))
    items: list[tuple[tuple[str | None, Any], int]] = []
    for cause, findings in causes_in_order(drift):
        heading = f"#### {escape(CAUSE_TITLE.get(cause, cause))} ({len(findings)})"
        if cause == "unmanaged":
            heading += SEP + escape(unmanaged_drift_note(len(findings), cause in failing))
            for i, (kind, group) in enumerate(by_kind(findings)):
                items.append(((heading if i == 0 else None, (kind, group)), len(group)))
            continue
        if cause not in failing:
            heading += SEP + f"_{escape(INFORMATIONAL_CAUSE)}_"
        items.extend(((heading if i == 0 else None, finding), 1) for i, finding in enumerate(findings))
    return _fit(head, parts, items, _headed_block, max_chars, drift_omitted)


def drift_omitted(n: int) -> str:
    """The line that ends a cut drift comment: `… and 1,234 more findings not shown; ...`."""
    return f"_… and {n:,} more finding{'' if n == 1 else 's'} not shown; {JSON_HINT}._"


def marker(report: str, stack: str) -> str:
    """The hidden comment CI searches for to edit one comment per stack instead of adding one
    per push. Plain names stay readable; anything that could end the comment is percent-encoded,
    which keeps distinct stacks distinct (up to MARKER_LIMIT characters)."""
    name = quote(stack[:MARKER_LIMIT], safe="._~/@:+=").replace("--", "-%2D")
    return f"<!-- platforge:{report}:{name} -->"


def escape(text: str) -> str:
    """Literal text for Markdown and HTML alike. One pass over the text, so nothing is escaped
    twice; entities are never parsed as markup, and `&#124;` does not split a table cell.
    Newlines become `<br>`, so a value can never start a Markdown line (a heading, a list)."""
    text = _ACTIVE_RE.sub(lambda m: _ACTIVE[m.group()], text)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def code(text: str, limit: int = VALUE_LIMIT) -> str:
    return f"<code>{escape(truncate(text, limit))}</code>"


@dataclass(frozen=True)
class _Part:
    """A head section with a bounded short form that always fits and a fuller form if room."""

    short: str
    full: str


def _check_bound(max_chars: int) -> None:
    if max_chars < MIN_CHARS:
        raise ValueError(f"max_chars must be at least {MIN_CHARS} so the summary always fits, got {max_chars}")


def _fit(head: Sequence[str], parts: Sequence[_Part], items: Sequence[tuple[T, int]], render: Callable[[T], str],
         max_chars: int, omitted: Callable[[int], str], tail: Sequence[str] = ()) -> str:
    """Join head, parts and rendered items with SEP, keeping room for the omission note at every
    step, so the bound holds however large the items are. Items are rendered only while they
    fit: a 10,000-action plan costs the few hundred blocks a comment can hold. Each item carries
    the number of objects it stands for, which the omission note counts. The tail (optional
    sections after the items) is added only when every item fit, and only as far as it fits."""
    total = sum(weight for _, weight in items)
    reserve = len(SEP) + len(omitted(total)) + 1 if items else 1  # + the final newline
    chosen = [p.short for p in parts]
    size = _joined_len([*head, *chosen])
    for i, part in enumerate(parts):
        grown = size - len(part.short) + len(part.full) + (len(SEP) if not part.short and part.full else 0)
        if grown + reserve <= max_chars:
            chosen[i], size = part.full, grown
    out = [*head, *(c for c in chosen if c)]
    size = _joined_len(out)
    left = total
    for i, (item, weight) in enumerate(items):
        block = render(item)
        last = i == len(items) - 1
        if size + len(SEP) + len(block) + (1 if last else reserve) > max_chars:
            out.append(omitted(left))
            return SEP.join(out) + "\n"
        out.append(block)
        size += len(SEP) + len(block)
        left -= weight
    for section in tail:
        if size + len(SEP) + len(section) + 1 <= max_chars:
            out.append(section)
            size += len(SEP) + len(section)
    return SEP.join(out) + "\n"


def _joined_len(items: Sequence[str]) -> int:
    present = [i for i in items if i]
    return sum(map(len, present)) + len(SEP) * max(len(present) - 1, 0)


def _title(report: str, target: Mapping[str, str]) -> str:
    where = " · ".join(code(target[k], NAME_LIMIT) for k in ("platform", "environment", "endpoint") if target[k])
    title = f"### platforge {report}: {code(target['stack'] or '?', NAME_LIMIT)}"
    return f"{title}\n{where}" if where else title


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _quoted_list(items: Sequence[str], more: str) -> str:
    lines = [f"> - {item}" for item in items[:LIST_LIMIT]]
    if len(items) > LIST_LIMIT:
        lines.append(f"> - ... and {len(items) - LIST_LIMIT} more; {more}")
    return "\n".join(lines)


def _refusal_callout(blocked: Sequence[Mapping[str, Any]], unconsented: Sequence[Mapping[str, Any]]) -> _Part:
    line = f"> **{escape(refusal_line(len(blocked), len(unconsented)))}**"
    entries = [f"{code(address_text(a), ADDRESS_LIMIT)} <b>blocked</b>: "
               f"{escape(truncate(blocked_reason(a), REASON_LIMIT))}" for a in blocked]
    entries += [f"{code(address_text(a), ADDRESS_LIMIT)} <b>needs consent</b>: pass "
                f"{code('--adopt ' + address_text(a), ADDRESS_LIMIT + 8)} or add it to {code('[adopt] objects')}"
                for a in unconsented]
    return _Part(short=f"> [!WARNING]\n{line}",
                 full=f"> [!WARNING]\n{line}\n" + _quoted_list(entries, JSON_HINT))


def _destructive_callout(actions: Sequence[Mapping[str, Any]]) -> _Part:
    line = f"> **This plan destroys {plural(len(actions), 'user or group', 'users or groups')}.**"
    entries = [f"{code(address_text(a), ADDRESS_LIMIT)} ({escape(_verb(a))})" for a in actions]
    return _Part(
        short=f"> [!CAUTION]\n{line}",
        full=f"> [!CAUTION]\n{line} ({escape(kind_breakdown(actions))})\n"
             + _quoted_list(entries, "see the details below"),
    )


def _verb(action: Mapping[str, Any]) -> str:
    op = text_of(action.get("op"))
    return "import, which replaces it" if op == "import" else OP_VERB.get(op, "?")


def _details(summary: str, lines: Sequence[str], table: str) -> str:
    body = [line for line in lines if line] + ([table] if table else [])
    return f"<details><summary>{summary}</summary>{SEP}" + SEP.join(body) + f"{SEP}</details>"


def _facts(facts: Sequence[tuple[str, str]]) -> str:
    return " · ".join(f"{label}: {value}" for label, value in facts if value)


def _changes_table(changes: Sequence[Mapping[str, Any]], create: bool) -> str:
    if not changes:
        return ""
    rows = [(_create_row if create else _change_row)(c) for c in changes[:ROW_LIMIT]]
    table = _table(["Field", "Value"] if create else ["Field", "Old", "New"], rows)
    if len(changes) > ROW_LIMIT:
        table += f"{SEP}_... and {plural(len(changes) - ROW_LIMIT, 'more field')}; {JSON_HINT}._"
    return table


def _change_row(change: Mapping[str, Any]) -> list[str]:
    old, new = change_values(change)
    path = code(text_of(change.get("path", "?")), VALUE_LIMIT)
    if change.get("forces_replace"):
        path += " **forces replacement**"
    if change.get("sensitive"):
        return [path, f"<em>{SENSITIVE}</em>", f"<em>{SENSITIVE}</em>"]
    return [path, code(old), code(new)]


def _create_row(change: Mapping[str, Any]) -> list[str]:
    path = code(text_of(change.get("path", "?")), VALUE_LIMIT)
    value = f"<em>{SENSITIVE}</em>" if change.get("sensitive") else code(create_value(change))
    return [path, value]


def _live_line(action: Mapping[str, Any]) -> str:
    fields = live_fields(action)
    if not fields:
        return ""
    shown, more = compact_fields(fields, LIVE_VALUE_LIMIT, LIVE_FIELDS)
    pairs = [f"{code(name, NAME_LIMIT)} = {code(value, LIVE_VALUE_LIMIT + 40)}" for name, value in shown]
    if more:
        pairs.append(f"and {plural(more, 'more field')}")
    return "Live now: " + ", ".join(pairs)


def _action_block(action: Mapping[str, Any]) -> str:
    op = text_of(action.get("op"))
    address = address_text(action)
    summary = f"{code(OP_SYMBOL.get(op, '?') + ' ' + address, ADDRESS_LIMIT)} {escape(op)}"
    if action.get("destructive") and op in ("delete", "replace", "import"):
        summary = "⚠️ " + summary
    if blocked_reason(action):
        summary += " · ⛔ <b>blocked</b>"
    elif op == "import":
        summary += " · consent given" if action.get("adopt") is True else " · ✋ <b>needs consent</b>"
    facts = [("reason", escape(truncate(text_of(action.get("reason")), REASON_LIMIT))),
             ("identity", code(identity_text(action))),
             ("platform id", code(text_of(action["platform_id"])) if action.get("platform_id") is not None else "")]
    blocked = blocked_detail(action)
    consent = consent_status(action)
    soft = delete_as_line(action)
    lines = [
        f"**Blocked:** {escape(truncate(blocked, REASON_LIMIT + 40))}" if blocked else "",
        f"**Note:** {escape(truncate(soft, REASON_LIMIT + 200))}" if soft else "",
        f"**{escape(consent[:1].upper() + consent[1:])}**" if consent else "",
        _facts(facts),
        _live_line(action),
    ]
    return _details(summary, lines, _changes_table(changes_of(action), is_create(action)))


def _unmanaged_kind_line(kind: str, items: Sequence[Mapping[str, Any]]) -> str:
    shown = ", ".join(code(address_text(u), ADDRESS_LIMIT) for u in items[:UNMANAGED_PER_KIND])
    more = len(items) - UNMANAGED_PER_KIND
    rest = f", and {more} more; {JSON_HINT}" if more > 0 else ""
    return f"- **{escape(truncate(kind, NAME_LIMIT))}** ({len(items)}): {shown}{rest}"


def _unmanaged_section(unmanaged: Sequence[Mapping[str, Any]]) -> str:
    lines = [_unmanaged_kind_line(kind, group) for kind, group in by_kind(unmanaged)]
    return f"<details><summary>Unmanaged objects ({len(unmanaged)})</summary>{SEP}" + "\n".join(lines) \
        + f"{SEP}</details>"


def _headed_block(item: tuple[str | None, Any]) -> str:
    """A cause's heading travels with its first block, so a heading is never left empty."""
    heading, payload = item
    if isinstance(payload, tuple):
        block = _unmanaged_kind_line(*payload)
    else:
        block = _finding_block(payload)
    return f"{heading}{SEP}{block}" if heading else block


def _finding_block(finding: Mapping[str, Any]) -> str:
    summary = f"{code(address_text(finding), ADDRESS_LIMIT)} {escape(text_of(finding.get('kind', '')))}"
    facts = [("detail", escape(truncate(text_of(finding.get("detail")), REASON_LIMIT))),
             ("identity", code(identity_text(finding))),
             ("detected by", escape(text_of(finding.get("detection"))))]
    run = run_status_line(finding)
    if run:
        label, _, value = run.partition(": ")
        facts.append((label, escape(truncate(value, REASON_LIMIT))))
    return _details(summary, [_facts(facts)], _changes_table(changes_of(finding), create=False))
