"""The Pulumi front door, installed as `platforge.pulumi`: typed dynamic resources per platform
(`platforge.pulumi.datatailr.User`, ...) over one generic provider and the same core as the CLI,
plus `declare_stack()` to turn a TOML stack into resources."""

from __future__ import annotations

from .stack import declare_stack

__all__ = ["declare_stack"]
