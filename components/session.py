"""The app's connection to the data layer: cached engine, data version, scoped cached reads, error guard."""
from __future__ import annotations

import importlib
import logging
import uuid
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from data_access import marts, queries
from data_access.config import database_url
from data_access.engine import DatabaseUnavailable, get_engine
from data_access.scope import NOBODY, Scope

log = logging.getLogger("cockpit")


@st.cache_resource(show_spinner=False)
def _engine(url: str):
    return get_engine(url)


def engine():
    """One engine per configured URL per process (pool_pre_ping lets it recover after an outage)."""
    return _engine(database_url())


def is_outage(exc: BaseException) -> bool:
    """A lost or refused connection; a constraint or SQL error is a bug and is reported as one, not as an outage."""
    return isinstance(exc, DatabaseUnavailable) or (
        isinstance(exc, DBAPIError) and (isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated))


@contextmanager
def connect_or_raise():
    """A connection for the cached reads below: an outage raises DatabaseUnavailable (a cached function may not
    draw the panel, which has a button)."""
    try:
        with engine().connect() as conn:
            yield conn
    except DBAPIError as exc:
        if not is_outage(exc):
            raise
        engine().dispose()  # drop the pool's dead connections: the next run reconnects when the server is back
        raise DatabaseUnavailable(db_reason(exc)) from exc


def _stop_for_outage(exc: BaseException) -> None:
    from .panels import unavailable
    log.warning("database unavailable: %s", db_reason(exc))
    unavailable(db_reason(exc))
    st.stop()


def _outage_stops(fn):
    """Where a page reads the database: an outage draws the unavailable panel and stops the page there, so that
    pages need no error handling of their own however they were started (through the shell's navigation, or by
    Streamlit running a pages/ file directly on a fresh process)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DatabaseUnavailable as exc:
            _stop_for_outage(exc)
    return wrapper


@contextmanager
def connect():
    """A connection for a page's own reads and writes; an outage shows the panel and stops the page."""
    try:
        with connect_or_raise() as conn:
            yield conn
    except DatabaseUnavailable as exc:
        _stop_for_outage(exc)


@st.cache_data(ttl=5, show_spinner=False)
def _data_version(url: str) -> str:
    with connect_or_raise() as conn:
        return marts.data_version(conn)


@_outage_stops
def data_version() -> str:
    """The data version of the configured database (cached a few seconds)."""
    return _data_version(database_url())


def scope() -> Scope:
    """The logged-in user's scope (NOBODY before login)."""
    return st.session_state.get("scope", NOBODY)


@st.cache_data(ttl=3600, show_spinner=False, max_entries=2000)
def _cached(module: str, fn_name: str, version: str, sc: Scope, args: tuple, kwargs: tuple):
    if not module.startswith("data_access."):
        raise ValueError(f"only data_access read functions are cached; got {module}.{fn_name}")
    fn = getattr(importlib.import_module(module), fn_name)
    with connect_or_raise() as conn:
        return fn(conn, sc, *args, **dict(kwargs))


@_outage_stops
def read(fn, *args, **kwargs):
    """Call a scoped ``data_access`` read function ``fn(conn, scope, ...)`` with the user's scope, cached per
    data version, scope and arguments."""
    return _cached(fn.__module__, fn.__name__, data_version(), scope(), args, tuple(sorted(kwargs.items())))


@_outage_stops
def read_scoped(sc: Scope, fn, *args, **kwargs):
    """``read`` under ``sc``, a narrowing of the user's scope (components.pii: the same scope without the PII
    right until a purpose is chosen); never wider than the user's own."""
    own = scope()
    if sc.username != own.username or sc.role != own.role or sc.branch_ids != own.branch_ids \
            or sc.agency_id != own.agency_id or (sc.can_see_pii and not own.can_see_pii):
        raise PermissionError("a read may narrow the user's scope, never widen it")
    return _cached(fn.__module__, fn.__name__, data_version(), sc, args, tuple(sorted(kwargs.items())))


@st.cache_data(ttl=3600, show_spinner=False)
def _months(version: str) -> list[str]:
    with connect_or_raise() as conn:
        return queries.available_months(conn)


@_outage_stops
def months() -> list[str]:
    return _months(data_version())


@st.cache_data(ttl=3600, show_spinner=False)
def _products(version: str):
    with connect_or_raise() as conn:
        return queries.products(conn)


@_outage_stops
def products():
    return _products(data_version())


def db_reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def guarded(body) -> None:
    """Run a page body; a database outage gets the unavailable panel, anything else a logged error panel."""
    from .panels import error_panel, unavailable
    try:
        body()
    except Exception as exc:  # noqa: BLE001 - an outage gets its panel; anything else a reference, the log the trace
        if not is_outage(exc):
            ref = uuid.uuid4().hex[:8]
            log.exception("page error ref=%s user=%s", ref, scope().username)
            error_panel(ref)
            return
        log.warning("database unavailable: %s", db_reason(exc))
        engine().dispose()
        unavailable(db_reason(exc))
