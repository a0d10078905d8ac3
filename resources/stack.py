"""Declare a TOML stack (the format `platforge apply` reads) as Pulumi resources, so one GitOps
repository works with both front doors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from ..core.errors import Problem, StackError
from ..core.graph import dependency_levels
from ..core.policy import Policy
from ..core.secrets import SecretUnavailable
from ..core.stack import load_stack
from ..provider import get_platform
from . import dataiku, dataloop, datatailr, studio, tailer

CLASSES = {"datatailr": datatailr.RESOURCES, "dataiku": dataiku.RESOURCES, "dataloop": dataloop.RESOURCES,
           "studio": studio.RESOURCES, "tailer": tailer.RESOURCES}


def declare_stack(stack_dir: str | Path) -> dict[str, pulumi.Resource]:
    """Validate the stack exactly as the CLI does, then declare one resource per table, named
    by its address (`user.alice`), with `depends_on` following the stack's references. The
    stack's `[adopt]` table is the consent to take existing objects over, as for the CLI: the
    resources it matches get `adopt=True`."""
    stack, platform = load_stack(stack_dir, get_platform)
    classes = CLASSES[platform.name]
    settings = platform.settings(stack.platform_config, stack.resources)
    consent = Policy.build(adopt=stack.adopt)
    levels = dependency_levels(stack.resources)
    _resolve_create_only_secrets(platform, stack.resources)
    declared: dict[str, pulumi.Resource] = {}
    for resource in sorted(stack.resources, key=lambda r: (levels[r.address], r.address)):
        inputs: dict[str, Any] = {k: v for k, v in resource.spec.items()
                                  if k not in resource.secrets and k not in resource.deferred}
        for name, value in resource.secrets.items():
            inputs[name] = pulumi.Output.secret(value)
        inputs.update(object_inputs(platform, resource.kind, settings))
        if consent.adopts(resource.address):
            inputs["adopt"] = True
        for name, value in list(inputs.items()):  # an output reference: that resource's output
            if isinstance(value, dict) and set(value) == {"output"} and isinstance(value["output"], str):
                address, _, attribute = value["output"].rpartition(".")
                if address in declared:
                    inputs[name] = getattr(declared[address], attribute)
        deps = [declared[ref.address] for ref in resource.refs if ref.address in declared]
        cls = classes[resource.kind]
        if getattr(cls, "takes_base_dir", False) and resource.source is not None:  # files relative to the stack
            inputs["base_dir"] = str(Path(resource.source.file).resolve().parent)
        for name in cls.cli_only:  # e.g. where the CLI writes a value shown once: a secret output here
            inputs.pop(name, None)
        declared[resource.address] = cls(resource.address, **inputs, opts=pulumi.ResourceOptions(depends_on=deps))
    return declared


def object_inputs(platform: Any, kind_name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """What a one-object plan of this kind needs from the whole stack's settings, as inputs
    (`platform.object_settings`; Datatailr: the groups whose member lists other objects own):
    Pulumi plans one object at a time, the CLI the whole stack."""
    used = platform.kinds[kind_name].settings_used
    return {name: settings[key] for name, (key, _) in getattr(platform, "object_settings", {}).items()
            if key in used and settings.get(key)}


def _resolve_create_only_secrets(platform: Any, resources: list[Any]) -> None:
    """The CLI reads a create-only secret (an initial password) only when it is about to create
    the object. A Pulumi program cannot know that, so it reads every one now, all problems
    reported together, as the CLI reports them."""
    problems = []
    for resource in resources:
        if not resource.deferred:
            continue
        try:
            platform.kinds[resource.kind].resolve_deferred(resource)
        except SecretUnavailable as exc:
            source = resource.source
            problems.append(Problem(file=source.file if source else "<stack>", line=source.line if source else None,
                                    path=resource.address, message=str(exc)))
    if problems:
        raise StackError(problems)
