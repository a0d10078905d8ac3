"""Fixtures for running the vendor SDK against a sandbox; see `harness.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunningSandbox
from tests.datatailr.sdk.harness import SdkEnv, SdkToolchain


@pytest.fixture(scope="session")
def sdk_toolchain(tmp_path_factory: pytest.TempPathFactory) -> SdkToolchain:
    """One throwaway venv per test session (per xdist worker) that receives the `dt` shim."""
    return SdkToolchain.create(tmp_path_factory.mktemp("sdk-toolchain"))


@pytest.fixture
def sdk_env(sandbox: RunningSandbox, sdk_toolchain: SdkToolchain, tmp_path: Path) -> SdkEnv:
    """The sandbox's administrator, logged in through `datatailr login` in a private HOME."""
    return SdkEnv(
        sdk_toolchain, sandbox.url, sandbox.admin_user, sandbox.admin_password, tmp_path / "sdk"
    ).prepare()
