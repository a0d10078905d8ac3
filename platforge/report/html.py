"""Self-contained HTML pages for plans and drift reports, for CI artifacts and scheduled jobs.

One file, inline CSS, no scripts and no external assets: the page opens from an artifact store
or an email attachment offline, and a Content-Security-Policy forbids loading anything else.
Every value from a document goes through `html.escape`, since stacks and live objects are
untrusted text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._common import (
    CAUSE_MEANING,
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
    change_symbol,
    change_values,
    changed_actions,
    changes_of,
    destructive_actions,
    drift_counts,
    format_value,
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

__all__ = ["plan_html", "drift_html"]

#: Values longer than this are cut; the JSON document keeps them whole.
VALUE_LIMIT = 2000

_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--soft:#f6f8fa;
--create:#1a7f37;--update:#9a6700;--replace:#8250df;--delete:#cf222e;--info:#0969da}
*{box-sizing:border-box}
body{font:14px/1.5 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg);
margin:0 auto;max-width:1200px;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line)}
.target,.muted{color:var(--muted)}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);
padding:1px 4px;border-radius:4px;white-space:pre-wrap;word-break:break-all}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid var(--line);border-top:4px solid var(--muted);border-radius:6px;padding:10px 16px;min-width:120px}
.card .n{font-size:26px;font-weight:600}.card .label{color:var(--muted)}
.card.zero{opacity:.55}
.op-create{border-top-color:var(--create)}.op-update{border-top-color:var(--update)}
.op-replace{border-top-color:var(--replace)}.op-delete{border-top-color:var(--delete)}
.cause-out_of_band{border-top-color:var(--update)}.cause-missing{border-top-color:var(--delete)}
.cause-declared_change{border-top-color:var(--info)}.cause-unmanaged{border-top-color:var(--replace)}
.cause-in_sync{border-top-color:var(--create)}
.status{font-size:16px;font-weight:600}.status.ok{color:var(--create)}.status.bad{color:var(--delete)}
.danger{border:2px solid var(--delete);background:#ffebe9;border-radius:6px;padding:12px 16px;margin:16px 0}
.danger strong{color:var(--delete)}
.note{border-left:4px solid var(--info);background:var(--soft);padding:8px 12px;margin:8px 0}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:var(--soft)}
table.changes{margin:0}table.changes td,table.changes th{border:0;border-bottom:1px solid var(--line);padding:2px 6px}
.sym{font-family:ui-monospace,monospace;font-weight:700;white-space:nowrap}
.sym-create,.sym-add{color:var(--create)}.sym-update,.sym-change{color:var(--update)}
.sym-replace{color:var(--replace)}.sym-delete,.sym-remove{color:var(--delete)}
.forces{color:var(--delete);font-weight:600}.sensitive{font-style:italic;color:var(--muted)}
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def plan_html(plan: Document) -> str:
    counts = plan_counts(plan)
    target = target_of(plan)
    changed = changed_actions(plan)
    labels = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to destroy",
              "no-op": "unchanged", "unmanaged": "unmanaged", "orphaned": "orphaned"}
    body = [
        _heading("platforge plan", plan),
        _cards((f"op-{key}", counts.get(key, 0), label) for key, label in labels.items()),
        _status(plan_line(counts) if changed else NO_CHANGES, ok=not changed),
    ]
    destructive = destructive_actions(plan)
    if destructive:
        items = "".join(f"<li>{_sym(str(a.get('op')))} <code>{_e(a.get('address', '?'))}</code> "
                        f"({_e(OP_VERB.get(str(a.get('op')), '?'))})</li>" for a in destructive)
        body.append(f'<div class="danger" role="alert"><strong>WARNING: this plan destroys '
                    f'{_e(plural(len(destructive), "user or group", "users or groups"))}</strong> '
                    f'({_e(kind_breakdown(destructive))}). People lose the access these grant; a re-created '
                    f'object is a new object on the platform.<ul>{items}</ul></div>')
    if counts.get("orphaned"):
        orphans = "".join(f"<li><code>{_e(o)}</code></li>" for o in plan.get("orphans") or ())
        body.append(f'<div class="note">{_e(orphans_note(counts["orphaned"]))}<ul>{orphans}</ul></div>')
    if counts.get("unmanaged"):
        body.append(f'<div class="note">{_e(unmanaged_note(counts["unmanaged"]))}</div>')
    for op in PLAN_OPS:
        actions = [a for a in changed if a.get("op") == op]
        if actions:
            body.append(_section(f"{_sym(op)} {_e(OP_VERB[op].capitalize())} ({len(actions)})",
                                 ["Address", "Kind", "Identity", "Reason", "Changes"],
                                 ([_code(a.get("address", "?")), _e(a.get("kind", "")), _code(identity_text(a)),
                                   _e(a.get("reason", "")), _changes(changes_of(a))] for a in actions)))
    others = [a for a in changed if a.get("op") not in PLAN_OPS]
    if others:
        body.append(_section(f"Other ({len(others)})", ["Op", "Address", "Reason", "Changes"],
                             ([_e(a.get("op")), _code(a.get("address", "?")), _e(a.get("reason", "")),
                               _changes(changes_of(a))] for a in others)))
    unmanaged = [u for u in plan.get("unmanaged") or () if isinstance(u, Mapping)]
    if unmanaged:
        body.append(_section(f"Unmanaged ({len(unmanaged)})", ["Kind", "Identity", "Platform id"],
                             ([_e(u.get("kind", "")), _code(identity_text(u)), _optional_code(u.get("platform_id"))]
                              for u in unmanaged)))
    return _page(f"platforge plan: {target['stack']}", body)


def drift_html(drift: Document) -> str:
    counts = drift_counts(drift)
    target = target_of(drift)
    drifted = is_drifted(drift)
    found = sum(n for cause, n in counts.items() if cause != "in_sync")
    causes = (*DRIFT_CAUSES, *(c for c in counts if c not in DRIFT_CAUSES and c != "in_sync"), "in_sync")
    body = [
        _heading("platforge drift", drift),
        _cards((f"cause-{c}", counts.get(c, 0), CAUSE_TITLE.get(c, c)) for c in causes),
        _status(f"Drift detected: {plural(found, 'finding')}." if drifted else NO_DRIFT, ok=not drifted),
    ]
    if drift.get("secret_detection"):
        body.append(f'<p class="muted">Secrets: {_e(drift["secret_detection"])}</p>')
    for cause, findings in causes_in_order(drift) if drifted else ():
        title = f"{_e(CAUSE_TITLE.get(cause, cause))} ({len(findings)})"
        meaning = CAUSE_MEANING.get(cause)
        body.append(_section(title, ["Address", "Kind", "Identity", "Detail", "Changes"],
                             ([_code(f.get("address", "?")), _e(f.get("kind", "")), _code(identity_text(f)),
                               _e(f.get("detail", "")) + _detection(f), _changes(changes_of(f))] for f in findings),
                             note=meaning))
    in_sync = [str(a) for a in drift.get("in_sync") or ()]
    if in_sync:
        items = "".join(f"<li><code>{_e(a)}</code></li>" for a in in_sync)
        body.append(f"<details><summary>In sync ({len(in_sync)})</summary><ul>{items}</ul></details>")
    return _page(f"platforge drift: {target['stack']}", body)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _code(value: Any) -> str:
    return f"<code>{_e(truncate(str(value), VALUE_LIMIT))}</code>"


def _optional_code(value: Any) -> str:
    return "" if value is None else _code(format_value(value) if not isinstance(value, str) else value)


def _sym(op: str) -> str:
    key = op if op in OP_SYMBOL else "other"
    return f'<span class="sym sym-{key}">{_e(OP_SYMBOL.get(op, "?"))}</span>'


def _page(title: str, body: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _heading(title: str, doc: Document) -> str:
    target = target_of(doc)
    facts = [("platform", target["platform"]), ("environment", target["environment"]),
             ("endpoint", target["endpoint"]), ("created", str(doc.get("created_at") or ""))]
    state = doc.get("state")
    serial = doc.get("state_serial") if "state_serial" in doc else (
        state.get("serial") if isinstance(state, Mapping) else None)
    if serial is not None:
        facts.append(("state serial", str(serial)))
    where = " · ".join(f"{_e(k)}: <code>{_e(v)}</code>" for k, v in facts if v)
    return f"<header><h1>{_e(title)}: <code>{_e(target['stack'] or '?')}</code></h1>" \
           f"<p class=\"target\">{where}</p></header>"


def _cards(cards: Iterable[tuple[str, int, str]]) -> str:
    items = []
    for css, n, label in cards:
        safe = css if css.replace("-", "").replace("_", "").isalnum() else "other"
        items.append(f'<div class="card {_e(safe)}{" zero" if not n else ""}"><div class="n">{int(n)}</div>'
                     f'<div class="label">{_e(label)}</div></div>')
    return f'<section class="cards">{"".join(items)}</section>'


def _status(text: str, ok: bool) -> str:
    return f'<p class="status {"ok" if ok else "bad"}">{_e(text)}</p>'


def _section(title_html: str, header: Sequence[str], rows: Iterable[Sequence[str]], note: str | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    meaning = f'<p class="muted">{_e(note)}</p>' if note else ""
    return f"<section><h2>{title_html}</h2>{meaning}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"


def _changes(changes: Sequence[Mapping[str, Any]]) -> str:
    if not changes:
        return ""
    rows = []
    for change in changes:
        old, new = change_values(change)
        symbol = change_symbol(change)
        css = {"+": "add", "-": "remove"}.get(symbol, "change")
        forces = ' <span class="forces">forces replacement</span>' if change.get("forces_replace") else ""
        if change.get("sensitive"):
            cells = f'<td class="sensitive">{SENSITIVE}</td><td class="sensitive">{SENSITIVE}</td>'
        else:
            cells = f"<td>{_code(old)}</td><td>{_code(new)}</td>"
        rows.append(f'<tr><td><span class="sym sym-{css}">{_e(symbol)}</span> <code>{_e(change.get("path", "?"))}</code>'
                    f"{forces}</td>{cells}</tr>")
    return ('<table class="changes"><thead><tr><th>Field</th><th>Old</th><th>New</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _detection(finding: Mapping[str, Any]) -> str:
    if finding.get("detection") == "fingerprint":
        return ' <span class="muted">(detected by fingerprint)</span>'
    return ""
