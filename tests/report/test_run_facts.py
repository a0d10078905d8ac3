"""The requests a drift run made and its duration read the same in every renderer, and a report
without them (an older v2 producer) says nothing rather than something false."""

from __future__ import annotations

from rich.console import Console

from platforge.report.markdown import drift_markdown
from platforge.report.text import drift_renderable

from .factories import drift_doc


def text_of(document: dict) -> str:
    console = Console(width=160, record=True)
    console.print(drift_renderable(document))
    return console.export_text()


def test_text_and_markdown_say_the_requests_and_duration():
    document = {**drift_doc(), "requests": 23, "duration_seconds": 0.456}
    assert "Requests made: 23 in 0.46 s." in text_of(document)
    assert "<sub>Requests made: 23 in 0.46 s.</sub>" in drift_markdown(document)


def test_reports_without_them_say_nothing():
    document = drift_doc()
    assert document["requests"] is None and document["duration_seconds"] is None  # as the core writes it
    older = {k: v for k, v in document.items() if k not in ("requests", "duration_seconds")}
    for doc in (document, older):
        assert "Requests made" not in text_of(doc) and "Requests made" not in drift_markdown(doc)
    only_time = {**document, "duration_seconds": 2.0}
    assert "Requests made: not counted in 2.00 s." in text_of(only_time)
