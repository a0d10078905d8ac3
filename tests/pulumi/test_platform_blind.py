"""The generic Pulumi provider knows no platform: what a platform needs (its `[platform]`
configuration, the settings a one-object plan needs) comes from the platform object, so the next
four platforms need only their own `resources/<platform>.py`."""

from __future__ import annotations

import ast
from pathlib import Path

from platforge.provider import get_platform
from platforge.pulumi.dynamic import CONTROL_INPUTS, PulumiSettings

GENERIC = [Path(__file__).resolve().parents[2] / "resources" / name for name in ("dynamic.py", "base.py")]


def code_strings(path: Path) -> list[str]:
    """String constants in the code, docstrings and comments left out."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_the_generic_provider_names_nothing_of_datatailr():
    for path in GENERIC:
        leaks = [s for s in code_strings(path) if "datatailr" in s.lower() or "membership" in s.lower()
                 or s in {"username_env", "password_env", "token_env", "environment"}]
        assert leaks == [], (path.name, leaks)


def test_control_inputs_come_from_the_platforms():
    assert "adopt" in CONTROL_INPUTS
    assert set(get_platform("datatailr").object_settings) <= set(CONTROL_INPUTS)


def test_configuration_is_built_through_the_platforms_own_model():
    platform = get_platform("datatailr")
    config = {"platforge:endpoint": "http://127.0.0.1:9", "platforge:environment": "prod",
              "platforge:rateLimit": "12.5", "platforge:username": "deployer", "platforge:password": "pw-value"}
    settings = PulumiSettings.from_config(config, platform)
    model, environ = settings.platform_config(platform)
    assert isinstance(model, platform.config_model) and model.scope() == "prod" and model.rate_limit == 12.5
    assert environ[model.username_env] == "deployer" and environ[model.password_env] == "pw-value"
    assert "pw-value" not in repr(model)
