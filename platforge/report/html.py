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
    INFORMATIONAL,
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
    change_symbol,
    change_values,
    changed_actions,
    changes_of,
    compact_fields,
    consent_hint,
    coverage_of,
    create_value,
    delete_as_line,
    destructive_actions,
    drift_counts,
    drift_headline,
    fail_on,
    format_value,
    identity_text,
    ignored_note,
    is_create,
    is_drifted,
    kind_breakdown,
    live_fields,
    orphans_note,
    plan_counts,
    plan_line,
    plural,
    refusal_line,
    refusals,
    run_status_line,
    secret_detection,
    target_of,
    text_of,
    truncate,
    unmanaged_drift_note,
    unmanaged_note,
    unmanaged_of,
)

__all__ = ["plan_html", "drift_html"]

#: Values longer than this are cut; the JSON document keeps them whole.
VALUE_LIMIT = 2000
#: An import's live fields are context: a few, short.
LIVE_FIELDS = 12
LIVE_VALUE_LIMIT = 200

_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--soft:#f6f8fa;
--create:#1a7f37;--import:#0550ae;--update:#9a6700;--replace:#8250df;--delete:#cf222e;--info:#0969da}
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
.op-create{border-top-color:var(--create)}.op-import{border-top-color:var(--import)}
.op-update{border-top-color:var(--update)}.op-save{border-top-color:var(--update)}
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
.sym-create,.sym-add{color:var(--create)}.sym-import{color:var(--import)}.sym-update,.sym-change{color:var(--update)}
.sym-replace{color:var(--replace)}.sym-delete,.sym-remove{color:var(--delete)}
.forces{color:var(--delete);font-weight:600}.sensitive{font-style:italic;color:var(--muted)}
.blocked{color:var(--delete);font-weight:600}.consent{color:var(--update);font-weight:600}.adopted{color:var(--create)}
dl.live{margin:0}dl.live dt{font-weight:600;display:inline}dl.live dd{display:inline;margin:0 8px 0 4px}
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def plan_html(plan: Document) -> str:
    counts = plan_counts(plan)
    target = target_of(plan)
    changed = changed_actions(plan)
    labels = {"import": "to import", "create": "to create", "update": "to update", "save": "new versions",
              "replace": "to replace",
              "delete": "to destroy", "no-op": "unchanged", "unmanaged": "unmanaged", "orphaned": "orphaned"}
    if changed:
        status = plan_line(counts)
    else:
        status = ORPHANS_ONLY if counts.get("orphaned") else NO_CHANGES
    body = [
        _heading("platforge plan", plan),
        _cards((f"op-{key}", counts.get(key, 0), label) for key, label in labels.items()),
        _status(status, ok=not changed and not counts.get("orphaned")),
    ]
    blocked, unconsented = refusals(plan)
    if blocked or unconsented:
        items = "".join(f"<li><code>{_e(address_text(a))}</code> <span class=\"blocked\">blocked</span>: "
                        f"{_e(blocked_reason(a))}</li>" for a in blocked)
        items += "".join(f"<li><code>{_e(address_text(a))}</code> <span class=\"consent\">import needs consent</span>: "
                         f"{_e(consent_hint(address_text(a)))}</li>" for a in unconsented)
        body.append(f'<div class="danger refused" role="alert"><strong>{_e(refusal_line(len(blocked), len(unconsented)))}'
                    f"</strong><ul>{items}</ul></div>")
    destructive = destructive_actions(plan)
    if destructive:
        items = "".join(f"<li>{_sym(text_of(a.get('op')))} <code>{_e(address_text(a))}</code> "
                        f"({_e(_verb(a))})</li>" for a in destructive)
        body.append(f'<div class="danger" role="alert"><strong>WARNING: this plan destroys '
                    f'{_e(plural(len(destructive), "user or group", "users or groups"))}</strong> '
                    f'({_e(kind_breakdown(destructive))}). People lose the access these grant; a re-created '
                    f'object is a new object on the platform.<ul>{items}</ul></div>')
    if counts.get("orphaned"):
        orphans = "".join(f"<li><code>{_e(o)}</code></li>" for o in plan.get("orphans") or ())
        body.append(f'<div class="note">{_e(orphans_note(counts["orphaned"]))}<ul>{orphans}</ul></div>')
    if counts.get("unmanaged"):
        body.append(f'<div class="note">{_e(unmanaged_note(counts["unmanaged"]))}</div>')
    coverage = _coverage(plan)
    if coverage:
        body.append(coverage)
    imports = [a for a in changed if a.get("op") == "import"]
    if imports:
        body.append(_section(f"{_sym('import')} Import ({len(imports)})",
                             ["Address", "Kind", "Identity", "Status", "Reason", "Live now", "Changes"],
                             ([_code(address_text(a)), _e(a.get("kind", "")), _code(identity_text(a)), _import_status(a),
                               _e(a.get("reason", "")), _live(a), _changes(changes_of(a))] for a in imports)))
    for op in PLAN_OPS:
        actions = [a for a in changed if a.get("op") == op]
        if actions and op != "import":
            body.append(_section(f"{_sym(op)} {_e(OP_VERB[op].capitalize())} ({len(actions)})",
                                 ["Address", "Kind", "Identity", "Reason", "Changes"],
                                 ([_code(address_text(a)), _e(a.get("kind", "")), _code(identity_text(a)),
                                   _blocked(a) + _e(a.get("reason", "")), _changes(changes_of(a), is_create(a))]
                                  for a in actions)))
    others = [a for a in changed if a.get("op") not in PLAN_OPS]
    if others:
        body.append(_section(f"Other ({len(others)})", ["Op", "Address", "Reason", "Changes"],
                             ([_e(a.get("op")), _code(address_text(a)), _blocked(a) + _e(a.get("reason", "")),
                               _changes(changes_of(a))] for a in others)))
    unmanaged = unmanaged_of(plan)
    if unmanaged:
        body.append(_section(f"Unmanaged ({len(unmanaged)})", ["Address", "Kind", "Identity", "Platform id"],
                             ([_code(address_text(u)), _e(u.get("kind", "")), _code(identity_text(u)),
                               _optional_code(u.get("platform_id"))] for u in unmanaged)))
    return _page(f"platforge plan: {target['stack']}", body)


def drift_html(drift: Document) -> str:
    counts = drift_counts(drift)
    target = target_of(drift)
    drifted = is_drifted(drift)
    failing = fail_on(drift)
    causes = (*DRIFT_CAUSES, *(c for c in counts if c not in DRIFT_CAUSES and c != "in_sync"), "in_sync")
    body = [
        _heading("platforge drift", drift),
        _cards((f"cause-{c}", counts.get(c, 0),
                CAUSE_TITLE.get(c, c) if c in failing or c == "in_sync" else f"{CAUSE_TITLE.get(c, c)} (informational)")
               for c in causes),
        _status(drift_headline(drift), ok=not drifted),
    ]
    ignored = drift.get("ignored")
    if isinstance(ignored, int) and not isinstance(ignored, bool) and ignored > 0:
        body.append(f'<p class="muted">{_e(ignored_note(ignored))}</p>')
    coverage = _coverage(drift)
    if coverage:
        body.append(coverage)
    detection = secret_detection(drift)
    if detection:
        body.append(f'<p class="muted">Secrets: {_e(detection)}</p>')
    for cause, findings in causes_in_order(drift):
        title = f"{_e(CAUSE_TITLE.get(cause, cause))} ({len(findings)})"
        meaning = CAUSE_MEANING.get(cause, "")
        if cause == "unmanaged":
            body.append(_section(title, ["Address", "Kind", "Identity"],
                                 ([_code(address_text(f)), _e(f.get("kind", "")), _code(identity_text(f))]
                                  for kind, group in by_kind(findings) for f in group),
                                 note=unmanaged_drift_note(len(findings), cause in failing)))
            continue
        if cause not in failing:
            meaning = f"{meaning} ({INFORMATIONAL})" if meaning else INFORMATIONAL
        body.append(_section(title, ["Address", "Kind", "Identity", "Detail", "Changes"],
                             ([_code(address_text(f)), _e(f.get("kind", "")), _code(identity_text(f)),
                               _e(f.get("detail", "")) + _detection(f), _changes(changes_of(f))] for f in findings),
                             note=meaning))
    in_sync = [text_of(a) for a in drift.get("in_sync") or ()]
    if in_sync:
        items = "".join(f"<li><code>{_e(a)}</code></li>" for a in in_sync)
        body.append(f"<details><summary>In sync ({len(in_sync)})</summary><ul>{items}</ul></details>")
    return _page(f"platforge drift: {target['stack']}", body)


def _e(value: Any) -> str:
    return html.escape(text_of(value), quote=True)


def _code(value: Any) -> str:
    return f"<code>{_e(truncate(text_of(value), VALUE_LIMIT))}</code>"


def _optional_code(value: Any) -> str:
    return "" if value is None else _code(format_value(value) if not isinstance(value, str) else value)


def _sym(op: str) -> str:
    key = op if op in OP_SYMBOL else "other"
    return f'<span class="sym sym-{key}">{_e(OP_SYMBOL.get(op, "?"))}</span>'


def _verb(action: Mapping[str, Any]) -> str:
    op = text_of(action.get("op"))
    return "import, which replaces it" if op == "import" else OP_VERB.get(op, "?")


def _blocked(action: Mapping[str, Any]) -> str:
    detail = blocked_detail(action)
    soft = delete_as_line(action)
    note = f'<p class="note">NOTE: {_e(soft)}</p>' if soft else ""
    return (f'<p class="blocked">BLOCKED: {_e(detail)}</p>' if detail else "") + note


def _import_status(action: Mapping[str, Any]) -> str:
    if blocked_reason(action):
        return _blocked(action)
    if action.get("adopt") is True:
        return '<span class="adopted">consent given</span>'
    return f'<span class="consent">needs consent</span>: {_e(consent_hint(address_text(action)))}'


def _live(action: Mapping[str, Any]) -> str:
    fields = live_fields(action)
    if not fields:
        return ""
    shown, more = compact_fields(fields, LIVE_VALUE_LIMIT, LIVE_FIELDS)
    items = "".join(f"<dt>{_e(name)}</dt><dd><code>{_e(value)}</code></dd>" for name, value in shown)
    rest = f'<span class="muted">and {_e(plural(more, "more field"))}</span>' if more else ""
    return f'<dl class="live">{items}</dl>{rest}'


def _coverage(doc: Document) -> str:
    rows = coverage_of(doc)
    if not rows:
        return ""
    cells = "".join(f"<tr><td>{_e(kind)}</td><td>{managed}</td><td>{live}</td></tr>" for kind, managed, live in rows)
    return ('<details><summary>Coverage: how many of the live objects of each kind this stack manages</summary>'
            f"<table><thead><tr><th>Kind</th><th>Managed</th><th>Live</th></tr></thead><tbody>{cells}</tbody></table>"
            "</details>")


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
             ("endpoint", target["endpoint"]), ("created", text_of(doc.get("created_at")))]
    state = doc.get("state")
    serial = doc.get("state_serial") if "state_serial" in doc else (
        state.get("serial") if isinstance(state, Mapping) else None)
    if serial is not None:
        facts.append(("state serial", text_of(serial)))
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


def _changes(changes: Sequence[Mapping[str, Any]], create: bool = False) -> str:
    if not changes:
        return ""
    rows = []
    for change in changes:
        forces = ' <span class="forces">forces replacement</span>' if change.get("forces_replace") else ""
        path = _e(change.get("path", "?"))
        if create:
            value = (f'<td class="sensitive">{SENSITIVE}</td>' if change.get("sensitive")
                     else f"<td>{_code(create_value(change))}</td>")
            rows.append(f'<tr><td><span class="sym sym-add">+</span> <code>{path}</code></td>{value}</tr>')
            continue
        old, new = change_values(change)
        symbol = change_symbol(change)
        css = {"+": "add", "-": "remove"}.get(symbol, "change")
        if change.get("sensitive"):
            cells = f'<td class="sensitive">{SENSITIVE}</td><td class="sensitive">{SENSITIVE}</td>'
        else:
            cells = f"<td>{_code(old)}</td><td>{_code(new)}</td>"
        rows.append(f'<tr><td><span class="sym sym-{css}">{_e(symbol)}</span> <code>{path}</code>'
                    f"{forces}</td>{cells}</tr>")
    header = "<th>Field</th><th>Value</th>" if create else "<th>Field</th><th>Old</th><th>New</th>"
    return f'<table class="changes"><thead><tr>{header}</tr></thead><tbody>' + "".join(rows) + "</tbody></table>"


def _detection(finding: Mapping[str, Any]) -> str:
    out = ""
    if finding.get("detection") == "fingerprint":
        out += ' <span class="muted">(detected by fingerprint)</span>'
    run = run_status_line(finding)
    if run:
        out += f'<p class="run-status">{_e(run)}</p>'
    return out
