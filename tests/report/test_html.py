from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from platforge.core.drift import DriftFinding
from platforge.core.model import Action, Cause, FieldChange, Op
from platforge.core.plan import UnmanagedObject
from platforge.report.html import _JS, drift_html, plan_html

from .factories import (
    SECRET,
    SECRET_DETECTION,
    core_drift_doc,
    core_plan_doc,
    core_unmanaged_only_drift_doc,
    drift_doc,
    empty_drift_doc,
    empty_plan_doc,
    import_actions,
    leaky,
    plan_doc,
    review_plan_doc,
    roundtrip,
)

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
                      platform_id=EVIL, blocked=EVIL),
               Action(f"kv.i{EVIL}", EVIL, (EVIL,), Op.IMPORT, EVIL, [FieldChange(EVIL, EVIL, EVIL)],
                      adopt=False, live={EVIL: EVIL}),
               Action(f"kv.c{EVIL}", EVIL, (EVIL,), Op.CREATE, EVIL, [FieldChange(EVIL, None, EVIL)]),
               Action(f"user.{EVIL}", "user", (EVIL,), Op.DELETE, EVIL, destructive=True)]
    return plan_doc(actions, unmanaged=[UnmanagedObject(EVIL, (EVIL,), EVIL)], orphans=[EVIL], stack=EVIL,
                    coverage={EVIL: {"managed": 1, "live": 2}})


def evil_drift() -> dict:
    findings = [DriftFinding(Cause.OUT_OF_BAND, EVIL, EVIL, (EVIL,), EVIL, [FieldChange(EVIL, EVIL, EVIL)]),
                DriftFinding(Cause.UNMANAGED, EVIL, EVIL, (EVIL,), EVIL)]
    return drift_doc(findings, in_sync=[EVIL], stack=EVIL, secret_detection=EVIL,
                     coverage={EVIL: {"managed": 1, "live": 2}})


@pytest.mark.parametrize("page", [plan_html(evil_plan()), drift_html(evil_drift())], ids=["plan", "drift"])
def test_injected_markup_comes_out_escaped(page):
    # the drift page's one script is the renderer's own, byte for byte; nothing else is a script
    page = page.replace(f"<script>{_JS}</script>", "", 1)
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
    assert not {"link", "iframe", "img", "object", "embed"} & set(parsed.tags)
    assert not any(name in ("src", "href", "action") for name, _ in parsed.attrs)
    assert "url(" not in page and "@import" not in page and "http://" not in page
    csp = [m["content"] for m in parsed.meta if m.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and "default-src 'none'" in csp[0]
    if "script" in parsed.tags:  # the drift page: one inline script, allowed by its hash only
        assert parsed.tags.count("script") == 1 and "'unsafe-inline'" not in csp[0].split("script-src")[1]
        assert re.search(r"script-src 'sha256-[A-Za-z0-9+/]+=*'$", csp[0])
    else:
        assert csp[0].endswith("script-src 'none'")


def test_plan_page_has_summary_cards_and_a_table_per_op():
    page = plan_html(plan_doc())
    assert (card(page, "to import"), card(page, "to create"), card(page, "to update"), card(page, "to replace"),
            card(page, "to destroy"), card(page, "unchanged"), card(page, "unmanaged")) == (0, 1, 1, 1, 3, 1, 1)
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


def test_drift_page_has_one_objects_table_in_cause_order():
    page = drift_html(drift_doc())
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["By kind", "Objects"]
    assert re.findall(r'<tr data-cause="(\w+)" data-address="([^"]+)"', page) == [
        ("out_of_band", "user.alice"), ("out_of_band", "group.eng"), ("missing", "kv.gone"),
        ("declared_change", "kv.cfg"), ("unmanaged", "user.zed"), ("in_sync", "group.analysts")]
    assert card(page, "Changed outside platforge") == 2 and card(page, "Unmanaged (informational)") == 1
    assert SECRET_DETECTION in page
    assert "(detected by fingerprint)" in page


def test_sensitive_values_never_appear():
    for page in (plan_html(plan_doc()), plan_html(leaky(plan_doc()))):
        assert SECRET not in page
        assert '<td class="sensitive">(sensitive)</td>' in page
    for page in (drift_html(drift_doc()), drift_html(leaky(drift_doc()))):
        assert SECRET not in page
        assert '<td class="secret" data-label="Live">changed</td>' in page


def test_saved_documents_render_like_fresh_ones():
    assert plan_html(plan_doc()) == plan_html(roundtrip(plan_doc()))
    assert drift_html(drift_doc()) == drift_html(roundtrip(drift_doc()))


def test_plan_page_says_apply_will_refuse_before_anything_else():
    page = plan_html(review_plan_doc())
    alert = re.search(r'<div class="danger refused" role="alert">(.*?)</div>', page, flags=re.S)
    assert alert
    assert ("<strong>Apply will refuse this plan before its first write: 2 blocked actions and 1 import without "
            "consent.</strong>") in alert.group(1)
    assert ("<li><code>secret.warehouse_url</code> <span class=\"blocked\">blocked</span>: a secret that exists on "
            "the platform") in alert.group(1)
    assert ('<li><code>user.svc-etl</code> <span class="consent">import needs consent</span>: pass --adopt '
            "user.svc-etl or add it to [adopt] objects</li>") in alert.group(1)
    assert page.index('class="danger refused"') < page.index('<div class="danger" role="alert">') < page.index("<h2>")
    assert 'class="danger refused"' not in plan_html(plan_doc())


def test_plan_page_has_an_import_table_with_status_and_live_fields():
    page = plan_html(plan_doc(import_actions()))
    assert card(page, "to import") == 3
    section = re.search(r"<section><h2>.*?Import \(3\)</h2>(.*?)</section>", page, flags=re.S)
    assert section
    rows = re.findall(r"<tr><td><code>(.*?)</code></td>.*?</tr>", section.group(1), flags=re.S)
    assert rows == ["group.analysts", "user.svc-etl", "secret.warehouse_url"]
    assert '<span class="adopted">consent given</span>' in section.group(1)
    assert '<span class="consent">needs consent</span>: pass --adopt user.svc-etl' in section.group(1)
    assert '<p class="blocked">BLOCKED: a secret that exists on the platform' in section.group(1)
    assert "<dt>acl</dt><dd><code>{&quot;read&quot;: [&quot;carol&quot;]}</code></dd>" in section.group(1)


def test_plan_page_shows_create_values_and_coverage():
    page = plan_html(plan_doc())
    assert ('<tr><td><span class="sym sym-add">+</span> <code>email</code></td>'
            "<td><code>&quot;alice@example.com&quot;</code></td></tr>") in page
    assert '<td><span class="sym sym-add">+</span> <code>password</code></td><td class="sensitive">(sensitive)</td>' in page
    assert "<tr><td>group</td><td>3</td><td>5</td></tr><tr><td>user</td><td>4</td><td>10</td></tr>" in page
    assert "Coverage" not in plan_html(empty_plan_doc())


def test_unmanaged_only_drift_page_is_ok_and_lists_them():
    page = drift_html(core_unmanaged_only_drift_doc())
    assert '<p class="status ok">No drift. The platform matches the stack and its last apply.</p>' in page
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["By kind", "Objects"]
    assert "Unmanaged objects do not fail drift unless you pass --fail-on unmanaged" in page
    assert len(re.findall(r'<tr data-cause="unmanaged" data-address="user\.svc-\d\d"', page)) == 14
    assert "Secrets:" not in page
    assert "1 more unmanaged object is hidden by [unmanaged] ignore patterns." in page
    failing = drift_html(core_unmanaged_only_drift_doc(fail_on=frozenset(Cause)))
    assert '<p class="status bad">Drift detected: 17 findings.</p>' in failing
    assert card(failing, "Unmanaged") == 17


def test_the_planner_s_documents_render():
    page = plan_html(core_plan_doc())
    assert card(page, "to import") == 4 and "1 blocked action and 2 imports without consent" in page
    assert SECRET not in page
    page = drift_html(core_drift_doc())
    assert '<p class="status bad">Drift detected: 8 findings.</p>' in page
    assert "Secrets: Secret values are read back" in page
