"""Pull-request comments for plans and drift reports, in the Atlantis/Pulumi shape reviewers know.

GitHub rejects comments over 65,536 characters, and a failed comment hides the plan entirely, so
the output is built to a hard bound: the summary always survives, details are dropped from the
end, and the reader is pointed at the JSON artifact for what was cut.

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
    NO_CHANGES,
    NO_DRIFT,
    OP_SYMBOL,
    OP_VERB,
    PLAN_OPS,
    SENSITIVE,
    Document,
    causes_in_order,
    change_values,
    changed_actions,
    changes_of,
    destructive_actions,
    drift_counts,
    identity_text,
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
#: Field rows per resource, and list entries per callout, before "... and N more".
ROW_LIMIT = 40
LIST_LIMIT = 20

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
    head = [
        marker("plan", target["stack"]),
        _title("plan", target),
        _table(["Create", "Update", "Replace", "Destroy", "Unchanged", "Unmanaged", "Orphaned"],
               [[str(counts[k]) for k in (*PLAN_OPS, "no-op", "unmanaged", "orphaned")]]),
        f"**{plan_line(counts)}**" if changed else f"**{NO_CHANGES}**",
    ]
    parts: list[_Part] = []
    destructive = destructive_actions(plan)
    if destructive:
        parts.append(_destructive_callout(destructive))
    if counts["orphaned"]:
        orphans = [str(o) for o in plan.get("orphans") or ()]
        parts.append(_Part(
            short=f"> [!NOTE]\n> {escape(orphans_note(counts['orphaned']))}",
            full=f"> [!NOTE]\n> {escape(orphans_note(counts['orphaned']))}\n"
                 + _quoted_list([code(o, ADDRESS_LIMIT) for o in orphans], "see the JSON artifact"),
        ))
    if counts["unmanaged"]:
        unmanaged = [u for u in plan.get("unmanaged") or () if isinstance(u, Mapping)]
        note = escape(unmanaged_note(counts["unmanaged"]))
        parts.append(_Part(short=note, full=f"{note} ({escape(kind_breakdown(unmanaged))})" if unmanaged else note))
    return _fit(head, parts, changed, _action_block, max_chars,
                lambda n: f"_{plural(n, 'more resource')} omitted; see the JSON artifact._")


def drift_markdown(drift: Document, max_chars: int = GITHUB_COMMENT_LIMIT) -> str:
    _check_bound(max_chars)
    counts = drift_counts(drift)
    target = target_of(drift)
    drifted = is_drifted(drift)
    found = sum(n for cause, n in counts.items() if cause != "in_sync")
    causes = (*DRIFT_CAUSES, "in_sync")
    head = [
        marker("drift", target["stack"]),
        _title("drift", target),
        _table([CAUSE_TITLE[c] for c in causes], [[str(counts.get(c, 0)) for c in causes]]),
        f"**Drift detected: {plural(found, 'finding')}.**" if drifted else f"**{NO_DRIFT}**",
    ]
    parts: list[_Part] = []
    detection = drift.get("secret_detection")
    if detection:
        parts.append(_Part(short="", full=f"<sub>Secrets: {escape(truncate(str(detection), 600))}</sub>"))
    items = [(f"#### {escape(CAUSE_TITLE.get(cause, cause))} ({len(findings)})" if i == 0 else None, finding)
             for cause, findings in (causes_in_order(drift) if drifted else ())
             for i, finding in enumerate(findings)]
    return _fit(head, parts, items, _headed_finding_block, max_chars,
                lambda n: f"_{plural(n, 'more finding')} omitted; see the JSON artifact._")


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


def _fit(head: Sequence[str], parts: Sequence[_Part], items: Sequence[T], render: Callable[[T], str],
         max_chars: int, omitted: Callable[[int], str]) -> str:
    """Join head, parts and rendered items with SEP, keeping room for the omission note at every
    step, so the bound holds however large the items are. Items are rendered only while they
    fit: a 10,000-action plan costs the few hundred blocks a comment can hold."""
    reserve = len(SEP) + len(omitted(len(items))) + 1 if items else 1  # + the final newline
    chosen = [p.short for p in parts]
    size = _joined_len([*head, *chosen])
    for i, part in enumerate(parts):
        grown = size - len(part.short) + len(part.full) + (len(SEP) if not part.short and part.full else 0)
        if grown + reserve <= max_chars:
            chosen[i], size = part.full, grown
    out = [*head, *(c for c in chosen if c)]
    size = _joined_len(out)
    for i, item in enumerate(items):
        block = render(item)
        last = i == len(items) - 1
        if size + len(SEP) + len(block) + (1 if last else reserve) > max_chars:
            out.append(omitted(len(items) - i))
            break
        out.append(block)
        size += len(SEP) + len(block)
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


def _destructive_callout(actions: Sequence[Mapping[str, Any]]) -> _Part:
    line = f"> **This plan destroys {plural(len(actions), 'user or group', 'users or groups')}.**"
    entries = [f"{code(str(a.get('address', '?')), ADDRESS_LIMIT)} ({escape(OP_VERB.get(str(a.get('op')), '?'))})"
               for a in actions]
    return _Part(
        short=f"> [!CAUTION]\n{line}",
        full=f"> [!CAUTION]\n{line} ({escape(kind_breakdown(actions))})\n"
             + _quoted_list(entries, "see the details below"),
    )


def _details(summary: str, facts: Sequence[tuple[str, str]], changes: Sequence[Mapping[str, Any]]) -> str:
    body = [" · ".join(f"{label}: {value}" for label, value in facts if value)]
    if changes:
        rows = [_change_row(c) for c in changes[:ROW_LIMIT]]
        body.append(_table(["Field", "Old", "New"], rows))
        if len(changes) > ROW_LIMIT:
            body.append(f"_... and {plural(len(changes) - ROW_LIMIT, 'more field')}; see the JSON artifact._")
    return f"<details><summary>{summary}</summary>{SEP}" + SEP.join(b for b in body if b) + f"{SEP}</details>"


def _change_row(change: Mapping[str, Any]) -> list[str]:
    old, new = change_values(change)
    path = code(str(change.get("path", "?")), VALUE_LIMIT)
    if change.get("forces_replace"):
        path += " **forces replacement**"
    if change.get("sensitive"):
        return [path, f"<em>{SENSITIVE}</em>", f"<em>{SENSITIVE}</em>"]
    return [path, code(old), code(new)]


def _action_block(action: Mapping[str, Any]) -> str:
    op = str(action.get("op"))
    summary = f"{code(OP_SYMBOL.get(op, '?') + ' ' + str(action.get('address', '?')), ADDRESS_LIMIT)} {escape(op)}"
    if action.get("destructive") and op in ("delete", "replace"):
        summary = "⚠️ " + summary
    facts = [("reason", escape(truncate(str(action.get("reason") or ""), 300))),
             ("identity", code(identity_text(action))),
             ("platform id", code(str(action["platform_id"])) if action.get("platform_id") is not None else "")]
    return _details(summary, facts, changes_of(action))


def _headed_finding_block(item: tuple[str | None, Mapping[str, Any]]) -> str:
    """A cause's heading travels with its first finding, so a heading is never left empty."""
    heading, finding = item
    block = _finding_block(finding)
    return f"{heading}{SEP}{block}" if heading else block


def _finding_block(finding: Mapping[str, Any]) -> str:
    summary = f"{code(str(finding.get('address', '?')), ADDRESS_LIMIT)} {escape(str(finding.get('kind', '')))}"
    facts = [("detail", escape(truncate(str(finding.get("detail") or ""), 300))),
             ("identity", code(identity_text(finding))),
             ("detected by", escape(str(finding.get("detection") or "")))]
    return _details(summary, facts, changes_of(finding))
