"""Where the database is: one setting, ``COCKPIT_DATABASE_URL``.

Looked up in the environment first, then in ``.streamlit/secrets.toml``
(the file Streamlit itself reads), then defaulting to an embedded SQLite
file under ``data/``. Kept free of streamlit so the CLI and tests share it.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "data" / "cockpit.db"
SECRETS_PATH = PROJECT_ROOT / ".streamlit" / "secrets.toml"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says how to fix it."""


def _secrets() -> dict:
    if not SECRETS_PATH.exists():
        return {}
    try:
        with SECRETS_PATH.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{SECRETS_PATH} is not valid TOML: {exc}") from exc


def setting(name: str, default: str | None = None) -> str | None:
    """Read a setting from the environment, then from secrets.toml."""
    if os.environ.get(name):
        return os.environ[name]
    value = _secrets().get(name)
    return str(value) if value is not None else default


def database_url() -> str:
    """The SQLAlchemy URL of the cockpit database."""
    url = setting("COCKPIT_DATABASE_URL")
    if url:
        return url
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def demo_setting() -> bool | None:
    """``COCKPIT_DEMO_MODE`` when it is set (on or off), None when it is not: then the database decides
    (``demo.is_demo_bank``: the demo generator marks the bank it made)."""
    value = setting("COCKPIT_DEMO_MODE")
    if value is None or not value.strip():
        return None
    return value.strip().lower() in {"1", "true", "yes", "on"}
