"""Finding 1 and "no shared secret anywhere": the login key is the install's own. A fresh install generates it (a file
with mode 600); a short, regular or published key is refused in every mode with a message saying how to make one;
nothing in the repository is a valid key; demo mode is a deliberate choice, shown as a banner on every page.

On the code before: demo mode took a key written in the code, and outside it the example file's key and any
16 characters (``aaaaaaaaaaaaaaaa``) were accepted."""
from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data_access import secret_key

from ..test_app import APP, app_env, errors, logged_in  # noqa: F401 - app_env is a fixture

ROOT = Path(__file__).resolve().parents[2]
OLD_DEMO_KEY = "cockpit-demo-cookie-key-not-for-production"  # what components/auth.py carried
EXAMPLE_KEY = "change-me-to-a-long-random-string"             # what .streamlit/secrets.toml.example carried


@pytest.fixture
def env(monkeypatch):
    """Settings changed for one test and put back after it."""
    return monkeypatch


@pytest.mark.parametrize("key,reason", [(OLD_DEMO_KEY, "known"), (EXAMPLE_KEY, "known"), ("some_key", "known"),
                                        ("aaaaaaaaaaaaaaaa", "short"), ("a" * 64, "low_entropy"),
                                        ("abcd" * 10, "low_entropy"), ("abcdefghijklmnopqrstuvwxyz0123456789", "low_entropy"),
                                        ("0123456789abcdef" * 2, "low_entropy"), (secrets.token_urlsafe(12), "short")])
def test_weak_and_published_keys_are_refused(key, reason):
    assert secret_key.weakness(key) == reason


def test_generated_keys_are_accepted():
    # token_urlsafe(48) is what the app writes and the message tells people to run; hex of 32 bytes is openssl's
    for _ in range(200):
        assert secret_key.weakness(secrets.token_urlsafe(48)) is None
        assert secret_key.weakness(secrets.token_hex(32)) is None


def test_first_start_generates_a_private_key_of_its_own(tmp_path, env):
    env.delenv("COCKPIT_COOKIE_KEY", raising=False)
    one, two = tmp_path / "a" / "secret.key", tmp_path / "b" / "secret.key"
    env.setenv("COCKPIT_SECRET_FILE", str(one))
    key = secret_key.secret()
    assert stat.S_IMODE(one.stat().st_mode) == 0o600
    assert one.read_text().strip().encode() == key and secret_key.weakness(key.decode()) is None
    assert secret_key.secret() == key  # the next start reads the same one
    env.setenv("COCKPIT_SECRET_FILE", str(two))
    assert secret_key.secret() != key  # another install, another key
    assert not list(one.parent.glob(".secret-*"))  # no temporary file left behind
    one.chmod(0o644)
    env.setenv("COCKPIT_SECRET_FILE", str(one))
    with pytest.raises(secret_key.SecretRefused) as exc:
        secret_key.secret()
    assert exc.value.reason == "readable" and "chmod 600" in str(exc.value)


def test_a_weak_setting_is_refused_even_with_a_file(tmp_path, env):
    env.setenv("COCKPIT_SECRET_FILE", str(tmp_path / "secret.key"))
    env.setenv("COCKPIT_COOKIE_KEY", EXAMPLE_KEY)
    with pytest.raises(secret_key.SecretRefused) as exc:
        secret_key.secret()
    assert exc.value.source == "COCKPIT_COOKIE_KEY" and "token_urlsafe(48)" in str(exc.value)


def test_nothing_in_the_repository_is_an_acceptable_key():
    """Every value assigned to something called a key or secret in the tracked text files (code, settings, docs,
    the example secrets file): none is a key the app would take, so no published file can ever sign a session."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assigned = re.compile(r"""(?i)\b[\w.]*(?:key|secret)[\w.]*["']?\s*[=:]\s*[bf]?["']([^"'\n]+)["']""")
    offenders, seen = [], 0
    for name in files:
        path = ROOT / name
        if path.suffix not in {".py", ".toml", ".example", ".md", ".sql", ".json", ".ini", ".cfg", ".txt"}:
            continue
        for m in assigned.finditer(path.read_text(encoding="utf-8", errors="ignore")):
            seen += 1
            # a key is made of the characters of base64, urlsafe base64 or hex (not a label, path or message)
            if re.fullmatch(r"[A-Za-z0-9_\-+/=.~]+", m.group(1)) and secret_key.weakness(m.group(1)) is None:
                offenders.append((name, m.group(1)[:12]))
    assert not offenders, offenders
    assert seen > 20  # the scan does find the assignments (DEMO_MARK, STATUS_KEY, the known keys, …)


def test_example_secrets_file_sets_no_key():
    text = (ROOT / ".streamlit" / "secrets.toml.example").read_text(encoding="utf-8")
    set_lines = [ln for ln in text.splitlines() if ln.strip().startswith("COCKPIT_COOKIE_KEY")]
    assert not set_lines, set_lines


# ---------------------------------------------------------------- the app


@pytest.mark.parametrize("demo", ["0", "1"])
@pytest.mark.parametrize("key", [EXAMPLE_KEY, OLD_DEMO_KEY, "aaaaaaaaaaaaaaaa"])
def test_app_refuses_a_weak_key_in_either_mode(app_env, env, demo, key):
    env.setenv("COCKPIT_DEMO_MODE", demo)
    env.setenv("COCKPIT_COOKIE_KEY", key)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("token_urlsafe(48)" in e and "COCKPIT_COOKIE_KEY" in e for e in errors(at)), errors(at)
    assert not at.text_input  # no login form under a refused key


def test_app_without_a_key_generates_one_and_shows_the_form(app_env, env, tmp_path):
    path = tmp_path / "fresh" / "secret.key"
    env.setenv("COCKPIT_SECRET_FILE", str(path))
    env.setenv("COCKPIT_DEMO_MODE", "0")
    env.delenv("COCKPIT_COOKIE_KEY", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and not errors(at)
    assert any(ti.key == "login_username" for ti in at.text_input)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600


def _banner(at) -> bool:
    return any("演示模式" in m.value for m in at.markdown)


def test_demo_banner_on_the_login_page_and_every_page(app_env, env):
    env.delenv("COCKPIT_DEMO_MODE", raising=False)  # the demo generator's mark decides
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert _banner(at) and any("演示账号" in e.label for e in at.expander)
    for user, page in [("hq_wang", None), ("admin", "pages/data_admin.py"), ("agency1", None)]:
        assert _banner(logged_in(user, page)), (user, page)
    env.setenv("COCKPIT_DEMO_MODE", "0")  # a deliberate "off" wins over the mark
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not _banner(at) and not at.expander


def test_a_database_the_demo_generator_did_not_make_is_not_in_demo_mode(empty_engine, env):
    from data_access import demo
    env.delenv("COCKPIT_DEMO_MODE", raising=False)
    with empty_engine.connect() as conn:
        assert demo.is_demo_bank(conn) is False
    env.setenv("COCKPIT_DEMO_MODE", "1")
    with empty_engine.connect() as conn:
        assert demo.is_demo_bank(conn) is True
