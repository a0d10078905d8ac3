"""`platforge drift --format html --output report.html` against a Datatailr sandbox writes one
self-contained page with every finding of the real run, its requests and duration; a headless
Chromium (Debian's `chromium`, when on PATH) renders it to a screenshot and runs its script under
the page's own Content-Security-Policy (filtering by a link's fragment)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.datatailr.e2e.conftest import World as DatatailrWorld
from tests.report.test_html_drift_page import parse

from .test_drift_json import drifted_stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def datatailr(sandbox_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DatatailrWorld:
    return DatatailrWorld(sandbox_factory(access_log=True), tmp_path / "datatailr", monkeypatch)


@pytest.fixture
def report(datatailr, monkeypatch, tmp_path) -> tuple[Path, dict]:
    """The page and the JSON document of the same drifted stack."""
    stack = drifted_stack(datatailr, monkeypatch)
    out = tmp_path / "report.html"
    result = datatailr.cli("drift", stack, "--format", "html", "--output", out)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""  # the page went to the file, not the terminal
    document = json.loads(datatailr.cli("drift", stack, "--format", "json").stdout)
    return out, document


def test_drift_writes_a_self_contained_page_with_every_finding(report):
    out, document = report
    page = out.read_text(encoding="utf-8")
    parsed = parse(page)
    assert all("src" not in attrs and "href" not in attrs for _, attrs in parsed.elements)
    assert [tag for tag, _ in parsed.elements].count("script") == 1
    expected = Counter((f["cause"], f["address"]) for f in document["findings"])
    expected.update(("in_sync", a) for a in document["in_sync"])
    assert Counter((r["data-cause"], r["data-address"]) for r in parsed.rows) == expected
    text = parsed.all_text
    assert re.search(r"requests made\s*[1-9]\d*", text) and re.search(r"duration\s*\d+\.\d\d s", text)
    assert isinstance(document["state_serial"], int)
    assert re.search(rf"state serial\s*{document['state_serial']}(?!\d)", text), text[text.index("state serial") - 200:][:400]
    assert document["target"]["endpoint"] in text
    assert "Recorded at the last apply" in text and "changed" in text  # the rotated secret, never its value


@pytest.mark.skipif(CHROMIUM is None, reason="no `chromium` binary on PATH (Debian: apt-get install chromium); "
                                             "the headless rendering check needs a real browser")
def test_headless_chromium_renders_the_page_and_runs_its_script(report, tmp_path):
    out, document = report
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    screenshot = tmp_path / "drift-report.png"
    shot = subprocess.run([CHROMIUM, *flags, "--window-size=1280,1600", f"--screenshot={screenshot}", out.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    # Kept as the run's artifact where CI collects them (PLATFORGE_TEST_ARTIFACTS, else .artifacts/).
    artifacts = Path(os.environ.get("PLATFORGE_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / ".artifacts")
    artifacts.mkdir(parents=True, exist_ok=True)
    kept = shutil.copy(screenshot, artifacts / "drift-report.png")
    shutil.copy(out, artifacts / "drift-report.html")
    print(f"screenshot of the drift page: {kept}")

    # The DOM after the script ran: a fragment filters to one cause. Only the inline script,
    # allowed by its hash, can have written "N of M shown" (the page itself says "M objects").
    missing = sum(1 for f in document["findings"] if f["cause"] == "out_of_band")
    total = len(document["findings"]) + len(document["in_sync"])
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", out.as_uri() + "#cause=out_of_band&sort=address"],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f'<output id="shown">{missing} of {total} shown</output>' in dom.stdout
    rows = parse(dom.stdout).rows
    visible = [r["data-address"] for r in rows if "hidden" not in r]
    assert visible == sorted(f["address"] for f in document["findings"] if f["cause"] == "out_of_band")


def test_one_drift_run_writes_the_page_and_the_markdown_summary(datatailr, monkeypatch, tmp_path):
    """`--markdown FILE` next to `--format html --output`: one run (one read of every secret)
    gives the nightly job both its artifact and its job summary."""
    stack = drifted_stack(datatailr, monkeypatch)
    page, summary = tmp_path / "drift.html", tmp_path / "drift.md"
    result = datatailr.cli("drift", stack, "--format", "html", "--output", page, "--markdown", summary)
    assert result.exit_code == 2, result.stderr
    text = summary.read_text(encoding="utf-8")
    assert len(text) <= 65_536 and "kv.config" in text and "kv.gone" in text and "secret.token" in text
    assert "kv.config" in page.read_text(encoding="utf-8")
    document = json.loads(datatailr.cli("drift", stack, "--format", "json").stdout)
    assert document["findings"] and all(f["address"] in text for f in document["findings"])
