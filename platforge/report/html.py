"""Self-contained HTML pages for plans and drift reports, for CI artifacts and scheduled jobs.

One file, inline CSS and no external assets: the page opens from an artifact store or an email
attachment offline, and a Content-Security-Policy forbids loading anything else. The plan page
has no script; the drift page has one inline script (sorting and filtering its objects table),
allowed by its SHA-256 hash and nothing else.
Every value from a document goes through `html.escape`, since stacks and live objects are
untrusted text.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
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
    findings_of,
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
padding:1px 4px;border-radius:4px;white-space:pre-wrap;word-break:normal;overflow-wrap:normal}
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
.scroll{overflow-x:auto;max-width:100%}
code.wrap{word-break:normal;overflow-wrap:normal;white-space:pre-wrap}
dl.facts{display:flex;flex-wrap:wrap;gap:4px 20px;margin:4px 0;color:var(--muted)}
dl.facts .fact{display:flex;gap:6px}dl.facts dt{font-weight:600}dl.facts dd{margin:0}
.filters{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:8px 0}
.filters input{min-width:18em}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit}
th button::after{content:" \\2195";color:var(--muted)}
th[aria-sort=ascending] button::after{content:" \\2191"}th[aria-sort=descending] button::after{content:" \\2193"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.objects td:nth-child(2){min-width:14em}table.objects td:nth-child(4){min-width:10em}
table.fields{margin:4px 0}table.fields td,table.fields th{border:0;border-bottom:1px solid var(--line);padding:2px 6px}
td.secret{font-style:italic}td.same{color:var(--muted)}
.cause{font-weight:600;white-space:nowrap}.cause-out_of_band{color:var(--update)}.cause-missing{color:var(--delete)}
.cause-declared_change{color:var(--info)}.cause-unmanaged{color:var(--replace)}.cause-in_sync{color:var(--create)}
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
    """The drift page: what was compared (target, state serial, time, requests, duration), the
    counts by cause and by kind with coverage, then one sortable, filterable table of every
    object the report names, each with its fields as recorded at the last apply, declared, and
    live. The only script is `_JS`, allowed by its hash in the page's Content-Security-Policy."""
    counts = drift_counts(drift)
    target = target_of(drift)
    drifted = is_drifted(drift)
    failing = fail_on(drift)
    causes = (*DRIFT_CAUSES, *(c for c in counts if c not in DRIFT_CAUSES and c != "in_sync"), "in_sync")
    body = [
        _drift_heading(drift),
        _cards((f"cause-{c}", counts.get(c, 0),
                CAUSE_TITLE.get(c, c) if c in failing or c == "in_sync" else f"{CAUSE_TITLE.get(c, c)} (informational)")
               for c in causes),
        _status(drift_headline(drift), ok=not drifted),
    ]
    ignored = drift.get("ignored")
    if isinstance(ignored, int) and not isinstance(ignored, bool) and ignored > 0:
        body.append(f'<p class="muted">{_e(ignored_note(ignored))}</p>')
    unmanaged = [f for f in findings_of(drift) if text_of(f.get("cause")) == "unmanaged"]
    if unmanaged:
        body.append(f'<p class="note">{_e(unmanaged_drift_note(len(unmanaged), "unmanaged" in failing))}</p>')
    detection = secret_detection(drift)
    if detection:
        body.append(f'<p class="muted">Secrets: {_e(detection)}</p>')
    body.append(_by_kind(drift, failing))
    body.append(_objects(drift, failing))
    return _page(f"platforge drift: {target['stack']}", body, script=_JS)


#: The drift page's one script: sorting by a column (click its header; again to reverse) and
#: filtering by cause, kind and text. Rows carry their data in `data-*` attributes; without the
#: script every row shows, in the report's order. A link can preset the view in its fragment:
#: `report.html#cause=out_of_band&kind=user&q=alice&sort=address&dir=desc`.
_JS = """
(function(){
var table=document.getElementById("objects");if(!table){return;}
var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
var q=document.getElementById("filter-text"),cause=document.getElementById("filter-cause"),
kind=document.getElementById("filter-kind"),shown=document.getElementById("shown");
function apply(){var t=q.value.toLowerCase(),c=cause.value,k=kind.value,n=0;
rows.forEach(function(r){var ok=(!c||r.dataset.cause===c)&&(!k||r.dataset.kind===k)&&
(!t||r.dataset.search.indexOf(t)>=0);r.hidden=!ok;if(ok){n++;}});
shown.textContent=n+" of "+rows.length+" shown";}
[q,cause,kind].forEach(function(el){el.addEventListener("input",apply);el.addEventListener("change",apply);});
var order={};
Array.prototype.forEach.call(table.tHead.querySelectorAll("button[data-sort]"),function(b){
b.addEventListener("click",function(){var key=b.dataset.sort,dir=order[key]=-(order[key]||-1);
rows.sort(function(x,y){var a=x.dataset[key]||"",z=y.dataset[key]||"";
var na=Number(a),nz=Number(z),cmp=(a!==""&&z!==""&&!isNaN(na)&&!isNaN(nz))?na-nz:a.localeCompare(z);
return dir*(cmp||(Number(x.dataset.order)-Number(y.dataset.order)));});
rows.forEach(function(r){body.appendChild(r);});
Array.prototype.forEach.call(table.tHead.querySelectorAll("th"),function(th){th.removeAttribute("aria-sort");});
b.parentNode.setAttribute("aria-sort",dir>0?"ascending":"descending");});});
var preset={};location.hash.replace(/^#/,"").split("&").forEach(function(kv){var i=kv.indexOf("=");
if(i>0){try{preset[kv.slice(0,i)]=decodeURIComponent(kv.slice(i+1));}catch(e){}}});
if(preset.q){q.value=preset.q;}if(preset.cause){cause.value=preset.cause;}if(preset.kind){kind.value=preset.kind;}
if(preset.sort){var sb=table.tHead.querySelector('button[data-sort="'+preset.sort.replace(/[^a-z_]/g,"")+'"]');
if(sb){sb.click();if(preset.dir==="desc"){sb.click();}}}
apply();
})();
"""

#: An object's field table starts open when it has at most this many fields.
OPEN_FIELDS = 5
#: The per-field columns, labelled as what each value is.
RECORDED = "Recorded at the last apply"
DECLARED = "Declared"
LIVE = "Live"
#: What a secret shows instead of its value.
CHANGED, UNCHANGED = "changed", "unchanged"
_SEPARATORS = re.compile(r"([/._-])")


def _drift_heading(drift: Document) -> str:
    target = target_of(drift)
    facts = [("platform", _e(target["platform"])), ("environment", _e(target["environment"])),
             ("endpoint", _e(target["endpoint"])), ("stack", _e(target["stack"] or "?"))]
    serial = drift.get("state_serial")
    facts.append(("state serial", _e(serial) if serial is not None else "none (no state)"))
    facts.append(("time", _e(drift.get("created_at")) or "unknown"))
    requests = drift.get("requests")
    facts.append(("requests made", str(requests) if isinstance(requests, int) and not isinstance(requests, bool)
                  else "not counted"))
    duration = drift.get("duration_seconds")
    facts.append(("duration", f"{duration:.2f} s" if isinstance(duration, (int, float)) and not isinstance(duration, bool)
                  else "not measured"))
    rows = "".join(f'<div class="fact"><dt>{_e(k)}</dt><dd><code class="wrap">{_breakable_html(v)}</code></dd></div>'
                   for k, v in facts)
    return (f"<header><h1>platforge drift: <code class=\"wrap\">{_breakable(target['stack'] or '?')}</code></h1>"
            f'<dl class="facts">{rows}</dl></header>')


def _by_kind(drift: Document, failing: frozenset[str]) -> str:
    """Counts by kind and cause, with coverage (managed of live) where the report has it."""
    per_kind: dict[str, dict[str, int]] = {}
    for finding in findings_of(drift):
        kind = text_of(finding.get("kind")) or "?"
        cause = text_of(finding.get("cause"))
        row = per_kind.setdefault(kind, {})
        row[cause] = row.get(cause, 0) + 1
    for address in drift.get("in_sync") or ():
        kind = text_of(address).split(".", 1)[0] or "?"
        row = per_kind.setdefault(kind, {})
        row["in_sync"] = row.get("in_sync", 0) + 1
    coverage = {kind: (managed, live) for kind, managed, live in coverage_of(drift)}
    kinds = sorted(set(per_kind) | set(coverage))
    if not kinds:
        return ""
    causes = [*DRIFT_CAUSES, *sorted({c for row in per_kind.values() for c in row} - {*DRIFT_CAUSES, "in_sync"}),
              "in_sync"]
    head = "".join(f"<th>{_e(CAUSE_TITLE.get(c, c))}</th>" for c in causes)
    body = []
    for kind in kinds:
        row = per_kind.get(kind, {})
        cells = "".join(f'<td class="num">{row.get(c, 0)}</td>' for c in causes)
        if kind in coverage:
            managed, live = coverage[kind]
            share = f" ({managed / live:.0%})" if live else ""
            cover = f'<td class="num" data-managed="{managed}" data-live="{live}">{managed} of {live}{share}</td>'
        else:
            cover = '<td class="muted">not listed</td>'
        body.append(f'<tr data-kind="{_e(kind)}"><th scope="row"><code class="wrap">{_breakable(kind)}</code></th>'
                    f"{cells}{cover}</tr>")
    return ('<section id="by-kind"><h2>By kind</h2><p class="muted">Findings per kind and cause; coverage is how '
            "many of the kind's live objects this stack manages (managed ÷ live).</p>"
            f'<div class="scroll"><table class="summary"><thead><tr><th>Kind</th>{head}<th>Coverage (managed ÷ live)'
            f"</th></tr></thead><tbody>{''.join(body)}</tbody></table></div></section>")


def _objects(drift: Document, failing: frozenset[str]) -> str:
    findings = findings_of(drift)
    by_address: dict[str, list[Mapping[str, Any]]] = {}
    for finding in findings:
        by_address.setdefault(address_text(finding), []).append(finding)
    order = {cause: i for i, cause in enumerate((*DRIFT_CAUSES, "in_sync"))}
    items: list[tuple[str, Mapping[str, Any] | None, str]] = [
        (text_of(f.get("cause")), f, address_text(f)) for f in findings]
    items += [("in_sync", None, text_of(a)) for a in drift.get("in_sync") or ()]
    items.sort(key=lambda item: order.get(item[0], len(order)))  # stable: the report's order within a cause
    rows = [_object_row(i, cause, finding, address, by_address.get(address, []), cause in failing)
            for i, (cause, finding, address) in enumerate(items)]
    kinds = sorted({text_of(f.get("kind")) or "?" for f in findings}
                   | {a.split(".", 1)[0] for _, f, a in items if f is None})
    cause_options = "".join(f'<option value="{_e(c)}">{_e(CAUSE_TITLE.get(c, c))}</option>'
                            for c in dict.fromkeys(cause for cause, _, _ in items))
    kind_options = "".join(f'<option value="{_e(k)}">{_e(k)}</option>' for k in kinds)
    columns = [("cause", "Cause"), ("address", "Address"), ("kind", "Kind"), ("identity", "Identity"),
               ("fields", "Fields"), ("detail", "Detail")]
    head = "".join(f'<th><button type="button" data-sort="{key}">{_e(label)}</button></th>' for key, label in columns)
    return ('<section id="objects-section"><h2>Objects</h2>'
            '<form class="filters" role="search"><label>Filter <input id="filter-text" type="search" '
            'placeholder="address, kind, identity, field…" autocomplete="off"></label> '
            f'<label>Cause <select id="filter-cause"><option value="">all</option>{cause_options}</select></label> '
            f'<label>Kind <select id="filter-kind"><option value="">all</option>{kind_options}</select></label> '
            f'<output id="shown">{plural(len(rows), "object")}</output></form>'
            f'<p class="muted">Click a column to sort. Field values are labelled: {_e(RECORDED.lower())}, '
            f"{_e(DECLARED.lower())}, and {_e(LIVE.lower())} now; secrets show only whether they changed.</p>"
            f'<div class="scroll"><table id="objects" class="objects"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div></section>")


def _object_row(index: int, cause: str, finding: Mapping[str, Any] | None, address: str,
                same_object: Sequence[Mapping[str, Any]], fails: bool) -> str:
    kind = text_of(finding.get("kind")) if finding is not None else address.split(".", 1)[0]
    identity = identity_text(finding) if finding is not None else ""
    detail = text_of(finding.get("detail")) if finding is not None else CAUSE_MEANING["in_sync"]
    fields = _field_values(same_object, cause)
    search = " ".join([address, kind, identity, cause, detail, *(path for path, *_ in fields)]).lower()
    data = {"cause": cause, "address": address, "kind": kind, "identity": identity, "detail": detail,
            "fields": str(len(fields)), "search": search, "order": str(index)}
    attrs = " ".join(f'data-{k}="{_e(v)}"' for k, v in data.items())
    title = CAUSE_TITLE.get(cause, cause)
    label = f'<span class="cause cause-{_e(_css(cause))}">{_e(title)}</span>'
    if cause != "in_sync" and not fails:
        label += f' <span class="muted">({_e(INFORMATIONAL)})</span>'
    extra = _detection(finding) if finding is not None else ""
    ident = f'<code class="wrap">{_breakable(identity)}</code>' if identity else ""
    return (f"<tr {attrs}><td>{label}</td><td><code class=\"wrap\">{_breakable(address)}</code></td>"
            f'<td><code class="wrap">{_breakable(kind)}</code></td><td>{ident}</td>'
            f'<td class="num">{len(fields) if fields else ""}</td>'
            f"<td>{_e(detail)}{extra}{_fields_table(fields) if fields else ''}</td></tr>")


_Value = tuple[str, str]  # (css class, html)


def _field_values(findings: Sequence[Mapping[str, Any]], cause: str) -> list[tuple[str, bool, _Value, _Value, _Value]]:
    """Per field of one object: (path, sensitive, recorded, declared, live), merged from its
    findings: an out_of_band change is last applied -> live, a declared_change is last applied
    (or live, when never applied) -> declared. A side without a change is as recorded."""
    fields: dict[str, dict[str, Any]] = {}
    causes = {text_of(f.get("cause")) for f in findings}
    for finding in findings:
        finding_cause = text_of(finding.get("cause"))
        for change in changes_of(finding):
            entry = fields.setdefault(text_of(change.get("path")) or "?", {"sensitive": False})
            entry["sensitive"] = entry["sensitive"] or bool(change.get("sensitive"))
            if finding_cause == "out_of_band":
                entry["recorded"], entry["live"] = change.get("old"), change.get("new")
            elif finding_cause == "declared_change":
                entry["declared"] = change.get("new")
                if change.get("reason") == "create":  # not on the platform yet
                    entry["never_applied"] = entry["absent"] = True
                elif change.get("reason") == "no_history":  # on the platform, never applied: old is live
                    entry.setdefault("live", change.get("old"))
                    entry["never_applied"] = True
                else:
                    entry.setdefault("recorded", change.get("old"))
    out = []
    for path, entry in fields.items():
        if entry["sensitive"]:
            recorded: _Value = ("muted", "not shown (secret)")
            declared: _Value = ("secret", CHANGED if "declared" in entry else UNCHANGED)
            if entry.get("never_applied"):
                recorded, live = ("muted", "not recorded"), ("muted", "—")
            else:
                live = ("secret", CHANGED if "live" in entry else UNCHANGED)
            out.append((path, True, recorded, declared, live))
            continue
        has_recorded = "recorded" in entry
        recorded = (("value", _value_html(entry["recorded"])) if has_recorded
                    else ("muted", "not recorded (never applied)"))
        as_recorded = (("same", _value_html(entry["recorded"]) + ' <span class="muted">(as recorded)</span>')
                       if has_recorded else ("muted", "—"))
        declared = ("value", _value_html(entry["declared"])) if "declared" in entry else as_recorded
        if "live" in entry:
            live = ("value", _value_html(entry["live"]))
        elif entry.get("absent"):
            live = ("muted", "not on the platform")
        elif "missing" in causes:
            live = ("muted", "missing on the platform")
        elif cause == "not_observable":
            live = ("muted", "cannot be read")
        else:
            live = as_recorded
        out.append((path, False, recorded, declared, live))
    return out


def _fields_table(fields: Sequence[tuple[str, bool, _Value, _Value, _Value]]) -> str:
    rows = "".join(
        f'<tr><th scope="row"><code class="wrap">{_breakable(path)}</code>'
        + (' <span class="muted">(secret)</span>' if sensitive else "") + "</th>"
        + "".join(f'<td class="{css}" data-label="{label}">{value}</td>'
                  for (css, value), label in ((recorded, RECORDED), (declared, DECLARED), (live, LIVE)))
        + "</tr>"
        for path, sensitive, recorded, declared, live in fields)
    summary = plural(len(fields), "field")
    opened = " open" if len(fields) <= OPEN_FIELDS else ""
    return (f"<details{opened}><summary>{_e(summary)}</summary><table class=\"fields\"><thead><tr><th>Field</th>"
            f"<th>{_e(RECORDED)}</th><th>{_e(DECLARED)}</th><th>{_e(LIVE)}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details>")


def _value_html(value: Any) -> str:
    return f'<code class="wrap">{_breakable(truncate(format_value(value), VALUE_LIMIT))}</code>'


def _breakable(text: str) -> str:
    """Escaped text that may wrap only after `/ . _ -` (never mid-word): `<wbr>` marks those
    places; a token longer than its column scrolls instead (`.scroll`, `code.wrap`)."""
    return _breakable_html(html.escape(text, quote=True))


def _breakable_html(escaped: str) -> str:
    # Escaping produces no separator characters (`&amp;`, `&lt;`, `&#x27;`...), so this only
    # ever marks the text's own.
    return _SEPARATORS.sub(r"\1<wbr>", escaped)


def _css(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else "other"


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


def _page(title: str, body: Sequence[str], script: str = "") -> str:
    csp = _CSP + (f"; script-src '{_script_hash(script)}'" if script else "; script-src 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(b for b in body if b)
        + (f"\n<script>{script}</script>" if script else "")
        + "\n</body>\n</html>\n"
    )


def _script_hash(script: str) -> str:
    """The CSP source that allows exactly this inline script and no other."""
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


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
