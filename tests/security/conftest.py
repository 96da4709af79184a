"""Fixtures of the security tests."""
from __future__ import annotations

import pytest

from ..conftest import BACKENDS, _new_database


@pytest.fixture(scope="module", params=BACKENDS)
def own_bank(request, tmp_path_factory):
    """A tiny demo bank of the test module's own, per backend: its users are disabled, changed and locked out here,
    which the shared demo bank's other readers must not see."""
    from data_access import demo
    from data_access.engine import make_engine
    from data_access.migrate import upgrade
    url, drop = _new_database(request.param, tmp_path_factory)
    engine = make_engine(url)
    upgrade(engine)
    demo.generate(engine, size="tiny", seed=4, progress=False)
    yield engine
    engine.dispose()
    drop()
