"""Screenshots of every page as every role that sees it, in both languages, and a scan of each page's text.

    .venv/bin/python -m bench.screenshots                       # county demo bank under bench/data/shots.db
    .venv/bin/python -m bench.screenshots --roles hq_wang branch01 --langs zh --pages overview grid_map
    .venv/bin/python -m bench.screenshots --url sqlite:///data/cockpit.db

Starts its own `streamlit run serve.py` (as `./cockpit run` does) on a free loopback port against the database
(a county demo bank with its models is built on the first run and kept), logs in through the form in Debian's headless Chromium at
1600 px wide, opens each page of the role's navigation, waits for the script run to finish, saves a full-page
PNG under screenshots/<lang>/<user>_<page>.png and the page's visible text beside it (.txt), and scans that text
for what must never reach a bank's staff (None, nan, NaT, True/False, HTML tags, setting or module names, a
Python traceback). The findings are printed and written to screenshots/findings.txt; exit 1 when there are any.
It is a tool for looking at the product, not a test: the tests assert the same rules on their own fixtures.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
USERS = {"hq_wang": "head_office", "hq_li": "head_office", "branch01": "branch_leader", "strategy_chen": "strategy",
         "agency1": "agency", "admin": "admin"}
PASSWORDS = {"admin": "Admin@2026"}
# Words that mean a raw value, a code or an internal name reached the screen. Matched as whole tokens.
FORBIDDEN = [r"\bNone\b", r"\bnan\b", r"\bNaN\b", r"\bNaT\b", r"\bTrue\b", r"\bFalse\b", r"<br\s*/?>", r"</?(div|span|b|i)>",
             r"COCKPIT_[A-Z_]+", r"\bbootstrap\b", r"python -m", r"Traceback", r"\bdata_access\b", r"\bmodels\.",
             r"\bundefined\b", r"\bnull\b"]
# Streamlit's own English that leaks into the Chinese UI.
ENGLISH_IN_ZH = [r"\bUpload\b", r"200MB per file", r"Choose options?", r"Browse files", r"Drag and drop",
                 r"No results", r"Download as CSV", r"Search\b"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_database(url: str, size: str, models: str = "wait") -> None:
    """A demo bank with its models, as `./cockpit run` makes on a first start (kept for the next run).
    ``models="background"`` trains missing models beside the app as `./cockpit run` does (pages that need one are
    shot saying it is being trained)."""
    from models.bootstrap import training_now
    env = dict(os.environ, COCKPIT_DATABASE_URL=url, COCKPIT_DEMO_MODE="1", COCKPIT_DEMO_SIZE=size)
    subprocess.run([sys.executable, "-m", "data_access", "init"], cwd=ROOT, env=env, check=True)
    if models == "background":
        if not training_now():
            subprocess.Popen([sys.executable, "-m", "models.bootstrap"], cwd=ROOT, env=env)
        return
    subprocess.run([sys.executable, "-m", "models.bootstrap"], cwd=ROOT, env=env, check=True)


def start_server(url: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, COCKPIT_DATABASE_URL=url, COCKPIT_DEMO_MODE="1")
    log = open(ROOT / "screenshots" / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "serve.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("the app did not start within 90 s; see screenshots/server.log")


# the app root's run state: the status widget it replaced is not drawn at all under client.toolbarMode "minimal",
# so waiting for it to go away returned at once, in the middle of a run
SETTLED = ("() => { const app = document.querySelector('[data-testid=stApp]');"
           " return app && app.dataset.testScriptState === 'notRunning'"
           " && !document.querySelector('[data-stale=true], [data-testid=stSkeleton]'); }")


def settle(page, timeout_ms: int = 120_000) -> None:
    """Wait until Streamlit has finished running the script, and still has a second later (a page may rerun
    once at its start, e.g. a stateful tab set): no element left stale or drawn as a placeholder."""
    page.wait_for_timeout(600)
    for _ in range(2):
        page.wait_for_function(SETTLED, timeout=timeout_ms)
        page.wait_for_timeout(1000)


def page_text(page) -> str:
    """The page's visible text plus what its tables hold: a table draws on a canvas, and its accessible copy
    (the text a screen reader reads) is the only text of its cells in the page."""
    text = page.locator("[data-testid=stMain]").inner_text()
    cells = page.evaluate("() => Array.from(document.querySelectorAll('[data-testid=stDataFrame] table'))"
                          ".map(t => Array.from(t.querySelectorAll('th,td')).map(c => c.textContent).join('\\n'))"
                          ".join('\\n')")
    return text + ("\n[tables]\n" + cells if cells else "")


def login(page, base: str, username: str, lang: str) -> None:
    page.goto(f"{base}/?lang={lang}")
    page.wait_for_selector("input[type=password]", timeout=90_000)
    settle(page)
    shot = ROOT / "screenshots" / lang / "login.png"  # the login page (with the demo banner in demo mode), once
    if not shot.exists():
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    for attempt in range(3):  # a cold server's first run can rerun once more and clear a form filled too early
        page.locator("input[type=text]").first.fill(username)
        page.locator("input[type=password]").fill(PASSWORDS.get(username, "Demo@2026"))
        page.locator("button[kind=primaryFormSubmit], [data-testid=stFormSubmitButton] button").first.click()
        try:
            page.locator("[data-testid=stSidebarUserContent]").get_by_role(
                "button", name=re.compile("退出登录|Sign out")).wait_for(timeout=30_000)
            break
        except Exception:  # noqa: BLE001 - tried again; the third failure is reported
            if attempt == 2:
                raise
            settle(page)
    for _ in range(60):  # the server sets the login cookie right after the login run; the next page load needs it
        if any(c["name"] == "credit_cockpit" for c in page.context.cookies()):
            break
        page.wait_for_timeout(250)
    settle(page)


def scan(text: str, lang: str) -> list[str]:
    found = []
    for pattern in FORBIDDEN + (ENGLISH_IN_ZH if lang == "zh" else []):
        for m in re.finditer(pattern, text):
            line = text[max(0, text.rfind("\n", 0, m.start()) + 1): text.find("\n", m.end()) % (len(text) + 1)]
            found.append(f"{m.group(0)!r} in: {line.strip()[:140]}")
    return found


def main(argv: list[str] | None = None) -> int:
    from components.navigation import pages_for
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="database URL (default: a county demo bank under bench/data/shots.db)")
    ap.add_argument("--size", default="county")
    ap.add_argument("--roles", nargs="*", default=list(USERS), help="usernames to log in as")
    ap.add_argument("--langs", nargs="*", default=["zh", "en"])
    ap.add_argument("--pages", nargs="*", help="page keys (default: every page of the role)")
    ap.add_argument("--models", choices=["wait", "background"], default="wait",
                    help="train missing models first (default) or beside the app, as ./cockpit run does")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=2400, help="viewport height: Streamlit scrolls inside the page")
    ap.add_argument("--all-tabs", action="store_true", help="also open every tab of each page (<page>_tab<n>.png)")
    args = ap.parse_args(argv)
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    url = args.url
    if not url:
        (ROOT / "bench" / "data").mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{ROOT / 'bench' / 'data' / 'shots.db'}"
    build_database(url, args.size, args.models)
    proc, base = start_server(url)
    findings: list[str] = []
    from playwright.sync_api import sync_playwright
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for lang in args.langs:
                (out / lang).mkdir(exist_ok=True)
                for username in args.roles:
                    ctx = browser.new_context(viewport={"width": args.width, "height": args.height},
                                              locale="zh-CN" if lang == "zh" else "en-US")
                    page = ctx.new_page()
                    try:
                        login(page, base, username, lang)
                    except Exception as exc:  # noqa: BLE001 - reported, the other users still run
                        page.screenshot(path=str(out / lang / f"{username}_login_failed.png"), full_page=True)
                        findings.append(f"[{lang}] {username}: login failed: {exc}")
                        ctx.close()
                        continue
                    role = USERS.get(username) or ("agency" if username.startswith("agency") else username)
                    specs = [s for s in pages_for(role) if not args.pages or s.key in args.pages]
                    for i, spec in enumerate(specs):
                        started = time.perf_counter()
                        # the role's first page is the default one, served at the root
                        first = spec.key == pages_for(role)[0].key
                        page.goto(f"{base}/?lang={lang}" if first else f"{base}/{spec.url_path}?lang={lang}")
                        try:
                            page.wait_for_selector("h1", timeout=90_000)
                            settle(page)
                        except Exception as exc:  # noqa: BLE001
                            findings.append(f"[{lang}] {username} {spec.key}: did not finish: {exc}")
                        took = time.perf_counter() - started
                        name = f"{username}_{spec.key}"
                        try:  # a slow machine may take long to paint a tall page: say so, go on with the next one
                            page.screenshot(path=str(out / lang / f"{name}.png"), full_page=True, timeout=120_000)
                            text = page_text(page)
                        except Exception as exc:  # noqa: BLE001 - reported, the other pages still run
                            findings.append(f"[{lang}] {name}: no screenshot: {exc}".splitlines()[0])
                            continue
                        (out / lang / f"{name}.txt").write_text(text, encoding="utf-8")
                        for f in scan(text, lang):
                            findings.append(f"[{lang}] {name}: {f}")
                        if page.locator("[data-testid=stException]").count():
                            findings.append(f"[{lang}] {name}: an exception is shown")
                        print(f"{lang} {name}: {took:.1f} s", flush=True)
                        tabs = page.locator("[data-testid=stMain] [role=tab]")
                        for n in range(1, tabs.count() if args.all_tabs else 0):
                            tabs.nth(n).click()
                            settle(page)
                            page.screenshot(path=str(out / lang / f"{name}_tab{n}.png"), full_page=True)
                            text = page.locator("[data-testid=stMain]").inner_text()
                            (out / lang / f"{name}_tab{n}.txt").write_text(text, encoding="utf-8")
                            findings += [f"[{lang}] {name} tab {n}: {f}" for f in scan(text, lang)]
                    ctx.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    (out / "findings.txt").write_text("\n".join(findings) + "\n", encoding="utf-8")
    print(f"\n{len(findings)} findings (screenshots/findings.txt)")
    for f in findings[:200]:
        print(" ", f)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
