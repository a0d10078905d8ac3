"""A drift report as a pull-request comment: GitHub's 65,536-character bound holds for a huge drift
(20,000 findings built in memory), the summary comes first, details are collapsible, and what
does not fit is counted ("… and 19,812 more findings not shown")."""

from __future__ import annotations

import re

from platforge.core.drift import DriftFinding
from platforge.core.model import Cause, FieldChange
from platforge.report.markdown import GITHUB_COMMENT_LIMIT, drift_markdown

from .factories import drift_doc

N = 20_000
CAUSES = [Cause.OUT_OF_BAND, Cause.MISSING, Cause.DECLARED_CHANGE, Cause.NOT_OBSERVABLE]


def huge_drift() -> dict:
    findings = [
        DriftFinding(CAUSES[i % 4], f"kv.key-{i:05d}", "kv", ("prod", f"key-{i:05d}"), "changed",
                     [FieldChange("value", "old-" + "x" * 40, f"new-{i}", reason="remote")] if i % 4 == 0 else [])
        for i in range(N)
    ]
    return drift_doc(findings, in_sync=[f"group.g{i}" for i in range(50)])


def test_a_huge_drift_fits_a_comment_with_the_summary_first_and_the_rest_counted():
    document = huge_drift()
    md = drift_markdown(document)
    assert GITHUB_COMMENT_LIMIT == 65_536
    assert len(md) <= GITHUB_COMMENT_LIMIT
    lines = md.splitlines()
    assert lines[0] == "<!-- platforge:drift:team-data -->"
    # the summary (title, counts by cause, headline) comes before any finding
    summary_at = md.index("| Changed outside platforge | Missing on the platform |")
    first_details = md.index("<details>")
    assert md.index("### platforge drift") < summary_at < md.index("**Drift detected") < first_details
    assert "| 5000 | 5000 | 5000 | 0 | 5000 | 50 |" in md
    # findings are collapsible blocks, each closed
    shown = len(re.findall(r"<details><summary><code>kv\.key-\d{5}</code>", md))
    assert shown > 50 and md.count("<details>") == md.count("</details>")
    # the cut is counted, with thousands separators, and accounts for every finding
    match = re.search(r"_… and ([\d,]+) more findings not shown; see the JSON artifact\._\n\Z", md)
    assert match, md[-300:]
    not_shown = match.group(1)
    assert "," in not_shown and int(not_shown.replace(",", "")) == N - shown


def test_a_small_drift_is_not_cut():
    document = huge_drift()
    document["findings"] = document["findings"][:8]
    md = drift_markdown(document)
    assert "not shown" not in md and len(re.findall(r"<details><summary><code>", md)) == 8


def test_a_tighter_bound_is_kept_and_still_counts():
    md = drift_markdown(huge_drift(), max_chars=8_000)
    assert len(md) <= 8_000
    shown = len(re.findall(r"<details><summary><code>kv\.key-\d{5}</code>", md))
    match = re.search(r"… and ([\d,]+) more findings not shown", md)
    assert match and int(match.group(1).replace(",", "")) == N - shown
