"""Declare a TOML stack (the format `platforge apply` reads) as Pulumi resources, so one GitOps
repository works with both front doors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from ..core.graph import dependency_levels
from ..core.stack import load_stack
from ..provider import get_platform
from . import datatailr

CLASSES = {"datatailr": datatailr.RESOURCES}


def declare_stack(stack_dir: str | Path) -> dict[str, pulumi.Resource]:
    """Validate the stack exactly as the CLI does, then declare one resource per table, named
    by its address (`user.alice`), with `depends_on` following the stack's references."""
    stack, platform = load_stack(stack_dir, get_platform)
    classes = CLASSES[platform.name]
    settings = platform.settings(stack.platform_config, stack.resources)
    owned_elsewhere = settings.get("datatailr.membership_owned_groups") or None
    levels = dependency_levels(stack.resources)
    declared: dict[str, pulumi.Resource] = {}
    for resource in sorted(stack.resources, key=lambda r: (levels[r.address], r.address)):
        inputs: dict[str, Any] = {k: v for k, v in resource.spec.items() if k not in resource.secrets}
        for name, value in resource.secrets.items():
            inputs[name] = pulumi.Output.secret(value)
        if resource.kind == "user" and owned_elsewhere:
            inputs["membership_owned_elsewhere"] = owned_elsewhere
        deps = [declared[ref.address] for ref in resource.refs if ref.address in declared]
        cls = classes[resource.kind]
        declared[resource.address] = cls(resource.address, **inputs, opts=pulumi.ResourceOptions(depends_on=deps))
    return declared
