"""The browser as the attacker (findings 1, 2 and 11): cookies forged, replayed or malformed, set in a real headless
Chromium against `streamlit run`, must give the login form and nothing else.

On the code before, a JWT of ``{"username": "admin"}`` signed with the key the code carried gave a full admin session
on a default install."""
from __future__ import annotations

import os
import subprocess
import sys

import jwt
import pytest

from ..test_browser import CHROMIUM, ROOT, browser, settle, start_app  # noqa: F401 - browser is a fixture

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")]

OLD_DEMO_KEY = "cockpit-demo-cookie-key-not-for-production"
EXAMPLE_KEY = "change-me-to-a-long-random-string"
COOKIE = "credit_cockpit"


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    """A tiny demo bank (the login and admin pages need no models)."""
    d = tmp_path_factory.mktemp("browser_auth")
    env = dict(os.environ, COCKPIT_DATABASE_URL=f"sqlite:///{d / 'cockpit.db'}", COCKPIT_SECRET_FILE=str(d / "secret.key"))
    env.pop("COCKPIT_DEMO_MODE", None)
    env.pop("COCKPIT_COOKIE_KEY", None)
    subprocess.run([sys.executable, "-m", "data_access", "demo", "--size", "tiny", "--seed", "5", "--quiet"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    return env


def _open_with_cookie(browser, base: str, value: str):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    ctx.add_cookies([{"name": COOKIE, "value": value, "url": base}])
    page = ctx.new_page()
    page.goto(base)
    page.wait_for_selector("[data-testid=stMain]", timeout=90_000)
    settle(page)
    page.wait_for_timeout(1500)  # the old code's cookie component reported back after the first run
    settle(page)
    return ctx, page


def _logged_in(page) -> bool:
    return page.locator("[data-testid=stSidebarUserContent] >> text=退出登录").count() > 0


def forged(key: str, username: str = "admin") -> str:
    import warnings
    warnings.filterwarnings("ignore", message="The HMAC key is")  # short keys are the point
    return jwt.encode({"username": username, "exp_date": 1e12}, key, algorithm="HS256")


def test_forged_cookie_with_the_published_keys_gives_the_login_form(bank, browser):
    """A default install (the demo bank, no key set): the key the code once carried, the example file's key and the
    login library's default sign nothing the app accepts."""
    proc, base = start_app(bank)
    try:
        for key in (OLD_DEMO_KEY, EXAMPLE_KEY, "some_key"):
            for user in ("admin", "hq_wang"):
                ctx, page = _open_with_cookie(browser, base, forged(key, user))
                page.wait_for_selector("input[type=password]", timeout=60_000)
                settle(page)
                assert not _logged_in(page), (key, user)
                assert page.locator("[data-testid=stException]").count() == 0
                ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_example_key_configured_outside_demo_mode_is_refused(bank, browser):
    """Outside demo mode with the example file's key configured, the old code signed sessions with it: a forged
    admin cookie logged in. Now the app refuses to run on that key and says how to make one."""
    env = dict(bank, COCKPIT_DEMO_MODE="0", COCKPIT_COOKIE_KEY=EXAMPLE_KEY)
    proc, base = start_app(env)
    try:
        ctx, page = _open_with_cookie(browser, base, forged(EXAMPLE_KEY, "admin"))
        page.wait_for_selector("[data-testid=stAlertContentError]", timeout=60_000)
        assert not _logged_in(page)
        assert page.locator("input[type=password]").count() == 0
        assert "token_urlsafe(48)" in page.locator("[data-testid=stAlertContentError]").first.inner_text()
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ---------------------------------------------------------------- sessions on the server (finding 2, 11)


def test_first_login_on_a_fresh_server_is_not_lost(bank, browser):
    """The first page a fresh server draws takes the first submit, pressed with Enter, with no second try. On the
    code before, that run was in the pages/ folder's multipage mode (the folder's main page's hash in every widget
    id) and the next run in st.navigation's: the submit came back to an empty login form, without a message."""
    proc, base = start_app(bank)
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        page = ctx.new_page()
        navigations = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: navigations.append(f) if b"app_pages" in (
            f if isinstance(f, bytes) else f.encode()) else None))
        page.goto(base)
        page.wait_for_selector("input[type=password]", timeout=90_000)
        page.wait_for_function("() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState"
                               " === 'notRunning'", timeout=90_000)
        page.locator("input[type=text]").first.fill("hq_wang")
        page.locator("input[type=password]").fill("Demo@2026")
        page.locator("input[type=password]").press("Enter")
        page.wait_for_selector("[data-testid=stSidebarUserContent] >> text=退出登录", timeout=60_000)
        # nor did an anonymous visitor's first page carry the list of the pages/ folder's scripts
        assert not any(b"data_admin" in (f if isinstance(f, bytes) else f.encode()) for f in navigations[:1])
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def app(bank):
    proc, base = start_app(bank)
    yield base, bank
    proc.terminate()
    proc.wait(timeout=20)


def _cookie(ctx) -> dict | None:
    return next((c for c in ctx.cookies() if c["name"] == COOKIE), None)


def _login(browser, base: str, username: str, password: str = "Demo@2026"):
    from ..test_browser import login
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = ctx.new_page()
    login(page, base, username, password)
    for _ in range(40):  # the page hands the token to the cookie route right after the login run
        if _cookie(ctx):
            break
        page.wait_for_timeout(250)
    return ctx, page


def _logout(page) -> None:
    page.locator("[data-testid=stSidebarUserContent]").get_by_role("button", name="退出登录").click()
    page.wait_for_selector("input[type=password]", timeout=60_000)
    settle(page)


def _shows_login_form(browser, base: str, value: str) -> bool:
    ctx, page = _open_with_cookie(browser, base, value)
    try:
        page.wait_for_selector("input[type=password]", timeout=60_000)
        settle(page)
        return not _logged_in(page) and page.locator("[data-testid=stException]").count() == 0 \
            and page.locator("[data-testid=stAlertContentError]").count() == 0
    finally:
        ctx.close()


def test_cookie_is_http_only_strict_and_only_a_token(app, browser):
    base, env = app
    ctx, page = _login(browser, base, "hq_li")
    c = _cookie(ctx)
    assert c and c["httpOnly"] and c["sameSite"] == "Strict" and c["path"] == "/"
    assert COOKIE not in page.evaluate("document.cookie")  # no script in the page can read it
    assert len(c["value"]) == 43 and "." not in c["value"]  # a random token, no JWT with a name in it
    # a refresh and a new tab come back in through the cookie, and each such start is audited
    page.reload()
    page.wait_for_selector("[data-testid=stSidebarUserContent] >> text=退出登录", timeout=90_000)
    tab = ctx.new_page()
    tab.goto(base)
    tab.wait_for_selector("[data-testid=stSidebarUserContent] >> text=退出登录", timeout=90_000)
    ctx.close()
    from sqlalchemy import select
    from data_access.engine import make_engine
    from data_access.schema import audit_log
    engine = make_engine(env["COCKPIT_DATABASE_URL"])
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.detail).where(audit_log.c.username == "hq_li")
                            .order_by(audit_log.c.id)).all()
    engine.dispose()
    assert [r.action for r in rows[-3:]] == ["login", "session_resume", "session_resume"], rows
    import json
    # the client's address reached the audit (and the back-off) through serve.py's middleware
    assert all(json.loads(r.detail)["client"] == "127.0.0.1" for r in rows[-3:])


def test_replay_after_logout_and_second_tab(app, browser):
    base, _ = app
    ctx, page = _login(browser, base, "hq_wang")
    stolen = _cookie(ctx)["value"]
    tab = ctx.new_page()
    tab.goto(base)
    tab.wait_for_selector("[data-testid=stSidebarUserContent] >> text=退出登录", timeout=90_000)
    settle(tab)
    _logout(page)
    assert _cookie(ctx) is None  # the browser dropped it
    # the other tab's next click finds the session ended
    tab.locator("[data-testid=stSidebarUserContent]").get_by_role("button", name="退出登录").click()
    tab.wait_for_selector("input[type=password]", timeout=60_000)
    assert not _logged_in(tab)
    ctx.close()
    # the old cookie in a fresh browser
    assert _shows_login_form(browser, base, stolen)


def test_replay_after_password_reset(app, browser):
    base, env = app
    from data_access import admin
    from data_access.engine import make_engine
    from data_access.scope import scope_for_user
    ctx, page = _login(browser, base, "branch02")
    stolen = _cookie(ctx)["value"]
    engine = make_engine(env["COCKPIT_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            admin.reset_password(conn, scope_for_user(conn, "admin"), "branch02", "Reset@2026x")
    finally:
        engine.dispose()
    page.reload()
    page.wait_for_selector("input[type=password]", timeout=60_000)
    settle(page)
    assert not _logged_in(page)
    ctx.close()
    assert _shows_login_form(browser, base, stolen)


@pytest.mark.parametrize("value", ["not-a-token", "%%%", "e30.e30.e30", "a" * 43, "x" * 3000, '"quoted"'])
def test_malformed_cookie_shows_the_login_form(app, browser, value):
    base, _ = app
    assert _shows_login_form(browser, base, value)


@pytest.mark.parametrize("path", ["/", "/_stcore/health", "/api/session", "/media/nothing.csv", "/static/x.js"])
def test_every_answer_forbids_framing_and_outside_sources(app, path):
    """Finding 11 (clickjacking): the page, Streamlit's own routes, the cookie routes and a 404 all carry the
    Content-Security-Policy (frame-ancestors 'none', nothing from another origin) and X-Frame-Options DENY."""
    import urllib.error
    import urllib.request
    base, _ = app
    try:
        with urllib.request.urlopen(base + path, timeout=30) as resp:
            headers = resp.headers
    except urllib.error.HTTPError as exc:  # a 404 or 405 answers with the headers too
        headers = exc.headers
    csp = headers.get("Content-Security-Policy") or ""
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "http" not in csp, csp
    assert headers.get("X-Frame-Options") == "DENY" and headers.get("X-Content-Type-Options") == "nosniff"
