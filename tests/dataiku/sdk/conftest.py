"""The vendor's own SDK (`dataiku-api-client==15.2.0`, module `dataikuapi`) against a sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dataiku.sandbox.conftest import DSS, DSSFactory, dss, dss_factory  # noqa: F401  (fixtures)

dataikuapi = pytest.importorskip("dataikuapi")


def sdk_client(server: DSS, key: str | None = None, **kwargs: Any) -> Any:
    client = dataikuapi.DSSClient(server.url, server.admin_key if key is None else key, **kwargs)
    client._session.trust_env = False  # contract §0 item 10: never through an HTTP(S)_PROXY
    return client


@pytest.fixture
def client(dss: DSS) -> Any:  # noqa: F811
    return sdk_client(dss)
