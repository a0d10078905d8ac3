from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from platforge.core.drift import DriftFinding
from platforge.core.model import Action, Cause, FieldChange, Op
from platforge.core.plan import UnmanagedObject
from platforge.report.html import drift_html, plan_html

from .factories import SECRET, SECRET_DETECTION, drift_doc, empty_drift_doc, empty_plan_doc, leaky, plan_doc, roundtrip

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>"\' onmouseover="alert(2)'


class Outline(HTMLParser):
    """Tags, attributes and text as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.meta: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag == "meta":
            self.meta.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def outline(page: str) -> Outline:
    parser = Outline()
    parser.feed(page)
    parser.close()
    return parser


def card(page: str, label: str) -> int:
    match = re.search(r'<div class="n">(\d+)</div><div class="label">' + re.escape(label) + "</div>", page)
    assert match, label
    return int(match.group(1))


def evil_plan() -> dict:
    actions = [Action(f"kv.{EVIL}", EVIL, (EVIL,), Op.UPDATE, EVIL, [FieldChange(EVIL, EVIL, EVIL)],
                      platform_id=EVIL),
               Action(f"user.{EVIL}", "user", (EVIL,), Op.DELETE, EVIL, destructive=True)]
    return plan_doc(actions, unmanaged=[UnmanagedObject(EVIL, (EVIL,), EVIL)], orphans=[EVIL], stack=EVIL)


def evil_drift() -> dict:
    findings = [DriftFinding(Cause.OUT_OF_BAND, EVIL, EVIL, (EVIL,), EVIL, [FieldChange(EVIL, EVIL, EVIL)]),
                DriftFinding(Cause.UNMANAGED, EVIL, EVIL, (EVIL,), EVIL)]
    return drift_doc(findings, in_sync=[EVIL], stack=EVIL, secret_detection=EVIL)


@pytest.mark.parametrize("page", [plan_html(evil_plan()), drift_html(evil_drift())], ids=["plan", "drift"])
def test_injected_markup_comes_out_escaped(page):
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    parsed = outline(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert not any(name.startswith("on") for name, _ in parsed.attrs)
    assert any(EVIL in chunk for chunk in parsed.text)  # shown to the reader, as text


@pytest.mark.parametrize("page", [plan_html(plan_doc()), drift_html(drift_doc()), plan_html(empty_plan_doc()),
                                  drift_html(empty_drift_doc())], ids=["plan", "drift", "empty-plan", "empty-drift"])
def test_pages_are_self_contained(page):
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<style>" in page
    parsed = outline(page)
    assert not {"script", "link", "iframe", "img", "object", "embed"} & set(parsed.tags)
    assert not any(name in ("src", "href", "action") for name, _ in parsed.attrs)
    assert "url(" not in page and "@import" not in page and "http://" not in page
    csp = [m["content"] for m in parsed.meta if m.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and "default-src 'none'" in csp[0] and "script" not in csp[0]


def test_plan_page_has_summary_cards_and_a_table_per_op():
    page = plan_html(plan_doc())
    assert (card(page, "to create"), card(page, "to update"), card(page, "to replace"), card(page, "to destroy"),
            card(page, "unchanged"), card(page, "unmanaged")) == (1, 1, 1, 3, 1, 1)
    headings = re.findall(r"<h2>.*?</span> (\w+) \((\d+)\)</h2>", page)
    assert headings == [("Create", "1"), ("Update", "1"), ("Replace", "1"), ("Destroy", "3")]
    assert "Plan: 1 to create, 1 to update, 1 to replace, 3 to destroy." in page
    assert "kv.quiet" not in page


def test_plan_page_warns_about_destructive_deletes_first():
    page = plan_html(plan_doc())
    alert = re.search(r'<div class="danger" role="alert">(.*?)</div>', page, flags=re.S)
    assert alert
    assert "user.bob" in alert.group(1) and "group.old_admins" in alert.group(1)
    assert "kv.stale" not in alert.group(1)
    assert page.index('class="danger"') < page.index("<h2>")
    assert 'class="danger"' not in plan_html(plan_doc([Action("kv.a", "kv", ("a",), Op.DELETE, "pruned")]))


def test_empty_pages_say_so():
    assert "No changes. The platform matches the stack." in plan_html(empty_plan_doc())
    assert "<h2>" not in plan_html(empty_plan_doc())
    page = drift_html(empty_drift_doc())
    assert "No drift. The platform matches the stack and its last apply." in page
    assert card(page, "In sync") == 2 and card(page, "Changed outside platforge") == 0


def test_drift_page_has_a_table_per_cause_in_order():
    page = drift_html(drift_doc())
    assert re.findall(r"<h2>(.*?)</h2>", page) == [
        "Changed outside platforge (2)", "Missing on the platform (1)", "Declared but not applied (1)", "Unmanaged (1)"]
    assert card(page, "Changed outside platforge") == 2 and card(page, "Unmanaged") == 1
    assert SECRET_DETECTION in page
    assert "(detected by fingerprint)" in page


def test_sensitive_values_never_appear():
    for page in (plan_html(plan_doc()), plan_html(leaky(plan_doc())), drift_html(leaky(drift_doc()))):
        assert SECRET not in page
        assert '<td class="sensitive">(sensitive)</td>' in page


def test_saved_documents_render_like_fresh_ones():
    assert plan_html(plan_doc()) == plan_html(roundtrip(plan_doc()))
    assert drift_html(drift_doc()) == drift_html(roundtrip(drift_doc()))
