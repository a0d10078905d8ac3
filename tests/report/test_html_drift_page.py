"""The drift page, parsed as a browser would (html.parser): self-contained (nothing loaded from
the network, the one inline script allowed by its hash), the facts of the run, counts by cause and
by kind with coverage, one sortable and filterable table holding every finding with its data,
per-field values labelled recorded / declared / live (secrets only as changed or unchanged), hostile
names inert, long names breakable only at separators."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections import Counter
from html.parser import HTMLParser

from platforge.core.drift import DriftFinding
from platforge.core.model import Cause, FieldChange, RunStatus
from platforge.report.html import _CSS, _JS, drift_html

from .factories import SECRET, drift_doc

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>"\' onmouseover="alert(2)'


class Page(HTMLParser):
    """Every element with its attributes, the text, scripts' contents, and the objects table."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.rows: list[dict[str, str | None]] = []
        self._in_script = False
        self._in_objects = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        if tag == "table" and attributes.get("id") == "objects":
            self._in_objects = 1
        elif tag == "table" and self._in_objects:
            self._in_objects += 1
        if tag == "tr" and self._in_objects == 1 and "data-cause" in attributes:
            self.rows.append(attributes)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False
        if tag == "table" and self._in_objects:
            self._in_objects -= 1

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)

    def by_id(self, element_id: str) -> tuple[str, dict[str, str | None]]:
        found = [(t, a) for t, a in self.elements if a.get("id") == element_id]
        assert len(found) == 1, element_id
        return found[0]

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser


def every_cause_doc(**kwargs) -> dict:
    findings = [
        DriftFinding(Cause.OUT_OF_BAND, "kv.cfg", "kv", ("prod", "cfg"), "changed on the platform since the last apply",
                     [FieldChange("value", "applied-v", "live-v", reason="remote")]),
        DriftFinding(Cause.DECLARED_CHANGE, "kv.cfg", "kv", ("prod", "cfg"), "declared change not applied yet",
                     [FieldChange("value", "applied-v", "declared-v", reason="declared")]),
        DriftFinding(Cause.OUT_OF_BAND, "user.alice", "user", ("alice",), "changed on the platform since the last apply",
                     [FieldChange("password", SECRET, SECRET, sensitive=True, reason="remote"),
                      FieldChange("groups", ["a"], ["a", "mallory"], reason="remote")], detection="fields"),
        DriftFinding(Cause.DECLARED_CHANGE, "kv.new", "kv", ("prod", "new"), "declared but not created yet",
                     [FieldChange("value", None, "fresh", reason="create")]),
        DriftFinding(Cause.MISSING, "kv.gone", "kv", ("prod", "gone"), "owned by this stack but missing on the platform"),
        DriftFinding(Cause.UNMANAGED, "group.theirs", "group", ("theirs",),
                     "exists on the platform but is not managed by this stack"),
        DriftFinding(Cause.NOT_OBSERVABLE, "workflow.wf", "workflow", ("000099", "DEV", "wf"),
                     "applied as declared; the platform cannot show this kind, so it cannot be checked",
                     run_status=RunStatus("FAILED", "run-42", "2025-01-15T09:00:00+00:00")),
    ]
    document = drift_doc(findings, in_sync=["group.analysts", "user.bob"],
                         coverage={"group": {"managed": 1, "live": 2}, "kv": {"managed": 3, "live": 4},
                                   "user": {"managed": 2, "live": 8}}, **kwargs)
    document["requests"], document["duration_seconds"] = 17, 1.234
    return document


def test_the_page_loads_nothing_and_runs_only_its_own_script():
    page = drift_html(every_cause_doc())
    parsed = parse(page)
    tags = Counter(tag for tag, _ in parsed.elements)
    assert not {"link", "img", "iframe", "object", "embed", "base", "frame", "audio", "video"} & set(tags)
    for tag, attrs in parsed.elements:
        assert "src" not in attrs and "href" not in attrs and "action" not in attrs, tag
        assert not any(name.startswith("on") for name in attrs), tag  # no inline handlers
        assert "style" not in attrs, tag
    assert "http://" not in page and "https://" not in page.replace("https://json-schema", "")
    assert "url(" not in page and "@import" not in page
    assert tags["script"] == 1 and parsed.scripts == [_JS]
    (csp,) = [a["content"] for t, a in parsed.elements if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    digest = base64.b64encode(hashlib.sha256(_JS.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    assert "connect-src" not in csp  # default-src 'none' covers fetches: the script cannot call out
    assert not re.search(r"\b(fetch|XMLHttpRequest|import\(|eval|innerHTML)\b", _JS)


def test_the_header_shows_target_serial_time_requests_and_duration():
    parsed = parse(drift_html(every_cause_doc()))
    text = parsed.all_text
    for label, value in (("platform", "datatailr"), ("environment", "prod"), ("stack", "team-data"),
                         ("state serial", "4"), ("time", "2025-01-15T09:30:00+00:00"), ("requests made", "17"),
                         ("duration", "1.23 s")):
        assert re.search(re.escape(label) + r"\s*" + re.escape(value), text), (label, value)
    unknown = every_cause_doc()
    del unknown["requests"], unknown["duration_seconds"]  # an older v2 report
    older = parse(drift_html(unknown)).all_text
    assert "requests madenot counted" in older and "durationnot measured" in older


def test_summary_counts_by_cause_and_by_kind_with_coverage():
    page = drift_html(every_cause_doc())
    for label, n in (("Changed outside platforge", 2), ("Missing on the platform", 1), ("Declared but not applied", 2),
                     ("Unmanaged (informational)", 1), ("Not observable (informational)", 1), ("In sync", 2)):
        assert re.search(rf'<div class="n">{n}</div><div class="label">{re.escape(label)}</div>', page), label
    section = page[page.index('<section id="by-kind">'):page.index("</section>", page.index('id="by-kind"'))]
    rows = dict(re.findall(r'<tr data-kind="(\w+)">(.*?)</tr>', section))
    assert set(rows) == {"group", "kv", "user", "workflow"}
    nums = {k: re.findall(r'<td class="num"[^>]*>(\d+)', v) for k, v in rows.items()}
    # out_of_band, missing, declared_change, unmanaged, not_observable, in_sync, coverage(managed)
    assert nums["kv"] == ["1", "1", "2", "0", "0", "0", "3"]
    assert nums["group"] == ["0", "0", "0", "1", "0", "1", "1"]
    assert nums["user"] == ["1", "0", "0", "0", "0", "1", "2"]
    assert nums["workflow"] == ["0", "0", "0", "0", "1", "0"]  # no coverage: the kind is not listed
    assert "3 of 4 (75%)" in rows["kv"] and "2 of 8 (25%)" in rows["user"] and "not listed" in rows["workflow"]
    assert "Coverage (managed ÷ live)" in section


def test_the_objects_table_holds_every_finding_with_data_to_sort_and_filter():
    document = every_cause_doc()
    parsed = parse(drift_html(document))
    rows = parsed.rows
    expected = Counter((f["cause"], f["address"]) for f in document["findings"])
    expected.update(("in_sync", a) for a in document["in_sync"])
    assert Counter((r["data-cause"], r["data-address"]) for r in rows) == expected
    for row in rows:
        for key in ("data-kind", "data-identity", "data-fields", "data-detail", "data-search", "data-order"):
            assert row.get(key) is not None, key
        assert row["data-address"].lower() in row["data-search"]
    assert [int(r["data-order"]) for r in rows] == list(range(len(rows)))
    sort_keys = [a["data-sort"] for t, a in parsed.elements if t == "button" and "data-sort" in a]
    assert sort_keys == ["cause", "address", "kind", "identity", "fields", "detail"]
    assert all(f"data-{k}" in rows[0] for k in sort_keys)  # every sort key has its data on the rows
    for element_id, tag in (("filter-text", "input"), ("filter-cause", "select"), ("filter-kind", "select"),
                            ("shown", "output")):
        assert parsed.by_id(element_id)[0] == tag
        assert f'getElementById("{element_id}")' in _JS
    options = [a["value"] for t, a in parsed.elements if t == "option"]
    assert {"out_of_band", "missing", "declared_change", "unmanaged", "not_observable", "in_sync"} <= set(options)
    assert {"kv", "user", "group", "workflow"} <= set(options)
    assert "dataset.cause" in _JS and "dataset.kind" in _JS and "dataset.search" in _JS
    text = parsed.all_text
    assert "last run (of the object's job, not its configuration): FAILED" in text


def field_cells(page: str, address: str, cause: str, path: str) -> dict[str, str]:
    row = re.search(rf'<tr data-cause="{cause}" data-address="{re.escape(address)}".*?</tr></tbody></table></details>',
                    page, flags=re.S)
    assert row, (address, cause)
    field = re.search(rf'<tr><th scope="row"><code class="wrap">{re.escape(path)}</code>.*?</th>(.*?)</tr>',
                      row.group(0), flags=re.S)
    assert field, path
    cells = re.findall(r'<td class="(\w+)" data-label="([^"]+)">(.*?)</td>', field.group(1), flags=re.S)
    return {label: html.unescape(re.sub(r"<[^>]+>", "", value)) for _, label, value in cells}


def test_fields_are_labelled_recorded_declared_and_live():
    page = drift_html(every_cause_doc())
    assert "<th>Recorded at the last apply</th><th>Declared</th><th>Live</th>" in page
    both = field_cells(page, "kv.cfg", "out_of_band", "value")
    assert both == {"Recorded at the last apply": '"applied-v"', "Declared": '"declared-v"', "Live": '"live-v"'}
    assert field_cells(page, "kv.cfg", "declared_change", "value") == both  # one object, one story
    groups = field_cells(page, "user.alice", "out_of_band", "groups")
    assert groups == {"Recorded at the last apply": '["a"]', "Declared": '["a"] (as recorded)',
                      "Live": '["a", "mallory"]'}
    created = field_cells(page, "kv.new", "declared_change", "value")
    assert created == {"Recorded at the last apply": "not recorded (never applied)", "Declared": '"fresh"',
                       "Live": "not on the platform"}


def test_secrets_show_only_changed_or_unchanged():
    for document in (every_cause_doc(), leaky_doc()):
        page = drift_html(document)
        assert SECRET not in page
        cells = field_cells(page, "user.alice", "out_of_band", "password")
        assert cells == {"Recorded at the last apply": "not shown (secret)", "Declared": "unchanged", "Live": "changed"}


def leaky_doc() -> dict:
    """A producer that forgot to redact: the values are there, the page must still not show them."""
    document = every_cause_doc()
    for finding in document["findings"]:
        for change in finding["changes"]:
            if change["sensitive"]:
                change["old"], change["new"] = SECRET, SECRET + "-live"
    return document


def evil_doc() -> dict:
    findings = [DriftFinding(Cause.OUT_OF_BAND, f"kv.{EVIL}", EVIL, (EVIL,), EVIL, [FieldChange(EVIL, EVIL, EVIL)]),
                DriftFinding(Cause.UNMANAGED, f"{EVIL}.x", EVIL, (EVIL,), EVIL),
                DriftFinding(Cause.NOT_OBSERVABLE, f"wf.{EVIL}", "wf", (EVIL,), EVIL,
                             run_status=RunStatus(EVIL, EVIL, EVIL))]
    document = drift_doc(findings, in_sync=[EVIL], stack=EVIL, secret_detection=EVIL,
                         coverage={EVIL: {"managed": 1, "live": 2}})
    document["created_at"] = EVIL
    return document


def test_hostile_names_are_inert_text():
    page = drift_html(evil_doc())
    parsed = parse(page)
    assert parsed.scripts == [_JS]  # the only script is the renderer's
    assert not {"img"} & {t for t, _ in parsed.elements}
    for tag, attrs in parsed.elements:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "src" not in attrs
    assert page.lower().count("<script") == 1
    assert EVIL in parsed.all_text  # shown to the reader, as text (split only by <wbr>)
    assert Counter(r["data-address"] for r in parsed.rows)[f"kv.{EVIL}"] == 1  # and kept whole in the data
    assert any(r.get("data-kind") == EVIL for r in parsed.rows)


def test_long_names_break_only_at_separators_or_scroll():
    name = "warehouse/" + "/".join(f"segment_{i}.part-{i}" for i in range(40)) + "/" + "x" * 120
    document = drift_doc([DriftFinding(Cause.MISSING, f"kv.{name}", "kv", ("prod", name), "gone")], in_sync=[])
    page = drift_html(document)
    assert "overflow-wrap:anywhere" not in _CSS and "break-all" not in _CSS
    assert "word-break:normal;overflow-wrap:normal" in _CSS and ".scroll{overflow-x:auto" in _CSS
    assert '<div class="scroll"><table id="objects"' in page
    marked = re.search(r'<code class="wrap">(kv\.<wbr>warehouse/<wbr>.*?)</code>', page)
    assert marked
    pieces = marked.group(1).split("<wbr>")
    assert "".join(pieces) == f"kv.{name}"
    # every break opportunity follows a separator, so no word is cut in the middle
    assert all(piece[-1] in "/._-" for piece in pieces[:-1])
    assert pieces[-1] == "x" * 120  # a separator-free tail stays whole (the column scrolls)
