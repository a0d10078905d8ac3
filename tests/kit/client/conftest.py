from __future__ import annotations

import pytest

from .fakes import FakeTime


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
