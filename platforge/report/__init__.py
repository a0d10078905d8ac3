"""Renderers for plan and drift documents: terminal, pull-request Markdown and HTML.

They take the JSON documents (`platforge.plan/v2`, `platforge.drift/v2`) as dicts rather than the
core's objects, so a plan saved with `plan --out` and rendered later reads exactly like a fresh
one, and so other tools can render documents without importing the engine. The formats are
described in docs/plan-format.md and docs/drift-format.md.
"""

from __future__ import annotations

from .html import drift_html, plan_html
from .markdown import drift_markdown, plan_markdown
from .text import drift_renderable, plan_renderable, print_drift, print_plan

__all__ = [
    "drift_html",
    "drift_markdown",
    "drift_renderable",
    "plan_html",
    "plan_markdown",
    "plan_renderable",
    "print_drift",
    "print_plan",
]
