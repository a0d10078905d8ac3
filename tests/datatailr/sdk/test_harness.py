"""The SDK harness itself: the environment really is what contract §5.3 prescribes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.datatailr.sdk.harness import SdkEnv

pytestmark = pytest.mark.sdk


def test_sdk_resolves_the_setup_cli_shim_and_is_signed_in(sdk_env: SdkEnv) -> None:
    info = sdk_env.run(
        """
        import os, shutil
        from datatailr import User
        from datatailr.utils import find_remote_cli_dt, is_dt_installed
        from datatailr.wrapper import resolve_cli_command_prefix
        emit({
            "shim": str(find_remote_cli_dt()),
            "which": shutil.which("dt"),
            "native": is_dt_installed(),
            "prefix": resolve_cli_command_prefix(),
            "home": os.path.expanduser("~"),
            "signed": User.signed_user().name,
        })
        """
    )
    shim = sdk_env.toolchain.bin_dir / "dt"
    assert info["shim"] == str(shim.resolve())
    assert info["which"] == str(shim)
    assert info["native"] is False
    assert info["prefix"] == [str(shim.resolve())]
    assert info["home"] == str(sdk_env.home)
    assert info["signed"] == sdk_env.username
    cfg = json.loads(sdk_env.config_path.read_text())
    assert cfg["base_url"] == sdk_env.base_url
    assert Path(cfg["remote_cli_bin_dir"]) == sdk_env.toolchain.bin_dir.resolve()
    assert cfg["remote_cli_name"] == "dt"
    # The shim lives in the session's throwaway venv, never in the interpreter running the tests.
    assert not shim.resolve().is_relative_to(Path(sys.prefix).resolve())


def test_run_reports_failures_with_output(sdk_env: SdkEnv) -> None:
    with pytest.raises(AssertionError, match="boom"):
        sdk_env.run("import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)")
    with pytest.raises(AssertionError, match="not JSON"):
        sdk_env.run("print('plain text')")


def test_as_user_signs_in_a_second_user(sdk_env: SdkEnv) -> None:
    sdk_env.add_user("harness-bob", "bob-pass-1")
    bob = sdk_env.as_user("harness-bob", "bob-pass-1")
    assert bob.home != sdk_env.home
    assert bob.run("from datatailr import User\nemit(User.signed_user().name)") == "harness-bob"
    assert sdk_env.run("from datatailr import User\nemit(User.signed_user().name)") == sdk_env.username
