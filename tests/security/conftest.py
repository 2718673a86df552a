from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._apps import Factory, clients


@pytest.fixture(params=["asgi", "wsgi"])
def make(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """Build a client for an echo app wrapped by integrate(), under ASGI and WSGI."""
    yield from clients(request.param)
