"""The vendor's own SDK (`dtlpy==1.126.5`) against a sandbox, through a custom environment
(contract §3.2): `dl.add_environment(environment=<url>/api/v1, gate_url=<url>)`, then
`dl.login_m2m(e-mail, password)`, which is `POST /token?default`.

dtlpy keeps its state under `$DATALOOP_PATH` (its cookie, logs) and `~/.dataloop` (its object
cache), both read once, when it is imported. So the SDK is imported here with both pointing
into a temporary folder of this test process (each `pytest -n` worker has its own), and the
user's own `~/.dataloop` is never read or written.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dataloop.sandbox.conftest import Dataloop, DataloopFactory, dataloop_factory  # noqa: F401  (fixtures)

_HOME = Path(tempfile.mkdtemp(prefix="platforge-dtlpy-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)


def _import_isolated() -> Any:
    import sys

    if "dtlpy" in sys.modules:
        dl = sys.modules["dtlpy"]
    else:
        saved = {name: os.environ.get(name) for name in ("HOME", "DATALOOP_PATH")}
        os.environ["HOME"] = str(_HOME)
        os.environ["DATALOOP_PATH"] = str(_HOME / ".dataloop")
        try:
            import dtlpy as dl
        except ImportError:
            pytest.skip("dtlpy is not installed", allow_module_level=True)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    from dtlpy.services import service_defaults

    if not service_defaults.DATALOOP_PATH.startswith(str(_HOME)):
        pytest.fail("dtlpy was imported before the SDK tests could isolate its state (DATALOOP_PATH); "
                    "run tests/dataloop/sdk in a process of its own")
    return dl


dl = _import_isolated()


def connect(server: Dataloop, email: str | None = None, password: str | None = None) -> Any:
    """dtlpy pointed at `server` and logged in (the administrator unless told otherwise)."""
    environment = f"{server.url}/api/v1"
    dl.add_environment(environment=environment, alias=f"sandbox-{server.url.rsplit(':', 1)[1]}",
                       gate_url=server.url, url=server.url + "/")
    dl.setenv(environment)
    assert dl.login_m2m(email=email or server.admin_email, password=password or server.admin_password,
                        client_id="unused", client_secret="unused") is True
    assert dl.token_expired() is False
    return dl


@pytest.fixture
def sandbox(dataloop_factory: DataloopFactory) -> Iterator[Dataloop]:  # noqa: F811
    server = dataloop_factory()
    yield server


@pytest.fixture
def sdk(sandbox: Dataloop) -> Any:
    return connect(sandbox)
