"""The app under AppTest pointed at a test database: the environment it reads, set and afterwards restored."""
from __future__ import annotations

import os
from contextlib import contextmanager


@contextmanager
def app_on(engine, drop=("COCKPIT_COOKIE_KEY",)):
    """The app reads ``engine``'s database in demo mode while inside; ``drop``: variables unset meanwhile."""
    from data_access.engine import get_engine
    keys = ("COCKPIT_DATABASE_URL", "COCKPIT_DEMO_MODE", *drop)
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(COCKPIT_DATABASE_URL=engine.url.render_as_string(hide_password=False), COCKPIT_DEMO_MODE="1")
    for k in drop:
        os.environ.pop(k, None)
    get_engine.cache_clear()
    try:
        yield engine
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_engine.cache_clear()
