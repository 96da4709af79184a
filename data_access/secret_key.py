"""The install's own secret: the key under which login session tokens are kept (HMAC-SHA256, ``sessions``).

Nothing in the repository is a valid key. Where it comes from, in order:

1. ``COCKPIT_COOKIE_KEY`` (environment, then ``.streamlit/secrets.toml``): what a deployment with several app
   processes sets, the same in each;
2. otherwise the file ``COCKPIT_SECRET_FILE`` (default ``data/secret.key``), generated on the first start from
   ``secrets.token_urlsafe(48)`` (384 bits), created with mode 600 and refused later if others may read it.

Either way the key is refused, in demo mode exactly as outside it (demo mode publishes demo passwords; it never
weakens the key), when it is shorter than ``MIN_LENGTH`` characters, when its characters carry less than
``MIN_BITS`` bits by their observed frequencies (``aaaa…``, ``abcabc…``, a word repeated), or when it is one that
has been published (the example file's, the old demo key, the login library's default). The message says how to
make one. Kept free of streamlit so the CLI and the tests share it.
"""
from __future__ import annotations

import math
import os
import secrets
import stat
from collections import Counter
from pathlib import Path

from . import config

MIN_LENGTH = 32
MIN_BITS = 128
# keys that have been in this repository or its login library at some time: known to anyone, never accepted
KNOWN_KEYS = frozenset({
    "some_key",                                     # streamlit-authenticator's default
    "cockpit-demo-cookie-key-not-for-production",   # the demo key the code once carried
    "change-me-to-a-long-random-string",            # .streamlit/secrets.toml.example before it held none
})
DEFAULT_FILE = config.PROJECT_ROOT / "data" / "secret.key"
HOW_TO_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
HOW_TO = ("leave COCKPIT_COOKIE_KEY unset to let the app generate data/secret.key, or set it to the output of "
          f"`{HOW_TO_COMMAND}` (the same value in every app process)")


class SecretRefused(config.ConfigError):
    """The configured or stored key is unusable; ``reason`` is short | low_entropy | known | readable | unreadable |
    unwritable,
    ``source`` says where it came from (the setting's name or the file's path). The message says how to fix it."""

    def __init__(self, reason: str, source: str):
        self.reason, self.source = reason, source
        why = {"short": f"shorter than {MIN_LENGTH} characters", "low_entropy": "too regular to be random",
               "known": "a published key", "readable": "readable by other users of the machine (chmod 600 it)",
               "unreadable": "not readable", "unwritable": "missing and cannot be created there"}[reason]
        super().__init__(f"the secret key in {source} is refused: {why}. To make one, {HOW_TO}.")


def estimated_bits(key: str) -> float:
    """Length × the Shannon entropy of the key's own character frequencies: an upper bound on how random it is
    (0 for one character repeated, about 6 bits a character for ``token_urlsafe``)."""
    if not key:
        return 0.0
    n = len(key)
    return -sum(c / n * math.log2(c / n) for c in Counter(key).values()) * n


def weakness(key: str | None) -> str | None:
    """Why ``key`` is not acceptable (short | low_entropy | known), None when it is."""
    key = (key or "").strip()
    if key in KNOWN_KEYS:
        return "known"
    if len(key) < MIN_LENGTH:
        return "short"
    steps = sum(abs(ord(b) - ord(a)) <= 1 for a, b in zip(key, key[1:]))  # runs such as abcdef… or 123456…
    if estimated_bits(key) < MIN_BITS or len(set(key)) < 12 or steps > len(key) / 2:
        return "low_entropy"
    return None


def secret_file() -> Path:
    value = config.setting("COCKPIT_SECRET_FILE")
    return Path(value) if value else DEFAULT_FILE


def _read_or_create(path: Path) -> str:
    if not path.exists():
        # written whole to a private temporary file, then linked into place: two first starts at once both end up
        # reading the one key that won, never a half-written file
        import tempfile
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-")  # mode 600
        except OSError as exc:
            raise SecretRefused("unwritable", str(path)) from exc
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48) + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretRefused("readable", str(path))
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretRefused("unreadable", str(path)) from exc


def secret() -> bytes:
    """The install's key (module docstring); raises ``SecretRefused`` with what to do when it is unusable."""
    key = config.setting("COCKPIT_COOKIE_KEY")
    source = "COCKPIT_COOKIE_KEY"
    if not key:
        path = secret_file()
        key, source = _read_or_create(path), str(path)
    why = weakness(key)
    if why:
        raise SecretRefused(why, source)
    return key.strip().encode("utf-8")
