"""Load test: concurrent browser sessions log in and click through their pages for a few minutes (loopback only).

    .venv/bin/python -m bench.load                       # 20 sessions, 3 minutes, on bench/data/county.db
    .venv/bin/python -m bench.load --sessions 5 --minutes 1 --url http://127.0.0.1:8501   # a running app

Starts ``streamlit run app.py`` on a free loopback port (unless --url), then one headless Chromium with one
context per session; each session logs in as a demo user of a different role and keeps opening its role's pages
from the sidebar, as a person would. A page counts as open when Streamlit has finished the run (no running
indicator, no skeleton left). Prints p50 / p95 / max page time, errors (exceptions or error boxes) and the
server's memory: resident size with one session, with all of them, and the difference per session.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
USERS = ["agency1", "hq_li", "branch01", "branch02", "branch03", "strategy_chen", "hq_wang", "agency2", "branch04",
         "branch05", "branch06", "branch07", "branch08", "branch09", "branch10", "branch11", "branch12", "agency3",
         "agency4", "agency5", "agency6", "admin"]
# the app root's run state (the status widget is not drawn under client.toolbarMode "minimal")
SETTLED = ("() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning' && "
           "!document.querySelector('[data-testid=stSkeleton]')")


def rss_kb(pid: int) -> int:
    """Resident memory of a process and its children (Streamlit runs in one process)."""
    total = 0
    for p in [pid] + _children(pid):
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))
        except (OSError, StopIteration):
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


async def settle(page) -> None:
    await page.wait_for_timeout(300)
    await page.wait_for_function(SETTLED, timeout=120_000)


async def session(browser, base: str, user: str, clock: dict, times: list, errors: list, ready: asyncio.Event,
                  go: asyncio.Event) -> None:
    """Log in as ``user``, say ``ready``, wait for ``go``, then open the role's pages in turn until clock["end"]."""
    from components.i18n import translate
    from components.navigation import pages_for
    role = _roles()[user]
    titles = [translate(f"page.{p.key}", "zh") for p in pages_for(role)]
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    password = "Admin@2026" if user == "admin" else "Demo@2026"
    try:
        await page.goto(base, wait_until="commit", timeout=180_000)
        await page.wait_for_selector("input[type=password]", timeout=120_000)
        await settle(page)
        await page.locator("input[type=text]").first.fill(user)
        await page.locator("input[type=password]").fill(password)
        t0 = time.perf_counter()
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_selector("text=退出登录", timeout=120_000)
        await settle(page)
        times.append(("login", time.perf_counter() - t0))
    except Exception as exc:  # noqa: BLE001 - a failed session is a reported error, not a crash of the run
        errors.append((user, "login", str(exc)[:120]))
        ready.set()
        await ctx.close()
        return
    ready.set()
    await go.wait()
    i = 0
    while time.perf_counter() < clock["end"]:
        title = titles[i % len(titles)]
        i += 1
        try:
            t0 = time.perf_counter()
            if len(titles) > 1:
                await page.get_by_role("link", name=title).first.click()
            else:  # a one-page role (agencies) has no navigation: open the next case on the page
                await page.locator(".st-key-agency_case input").first.click()
                await page.keyboard.press("ArrowDown")
                await page.keyboard.press("Enter")
            await settle(page)
            times.append((title, time.perf_counter() - t0))
            if await page.locator("[data-testid=stException]").count() or \
                    await page.locator("[data-testid=stAlertContentError]").count():
                errors.append((user, title, "error shown"))
        except Exception as exc:  # noqa: BLE001
            errors.append((user, title, str(exc)[:120]))
    await ctx.close()


_ROLE_CACHE: dict = {}


def _roles() -> dict[str, str]:
    if not _ROLE_CACHE:
        from sqlalchemy import select
        from data_access.engine import get_engine
        from data_access.schema import app_user
        with get_engine().connect() as conn:
            _ROLE_CACHE.update(dict(conn.execute(select(app_user.c.username, app_user.c.role)).all()))
    return _ROLE_CACHE


async def run(base: str, n: int, minutes: float, server_pid: int | None) -> dict:
    from playwright.async_api import async_playwright
    _roles()
    times, errors, clock = [], [], {"end": float("inf")}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        go = asyncio.Event()
        readies = [asyncio.Event() for _ in range(n)]
        # one session first: the server's memory with a single user logged in
        tasks = [asyncio.create_task(session(browser, base, USERS[0], clock, times, errors, readies[0], go))]
        await readies[0].wait()
        rss_one = rss_kb(server_pid) if server_pid else None
        for u, ev in zip(USERS[1:n], readies[1:]):
            # people arrive over a minute or so, not in the same millisecond
            tasks.append(asyncio.create_task(session(browser, base, u, clock, times, errors, ev, go)))
            await asyncio.sleep(3)
        for ev in readies:
            await ev.wait()
        clock["end"] = time.perf_counter() + minutes * 60  # everyone is in: all click for the same few minutes
        go.set()
        peak = rss_kb(server_pid) if server_pid else 0
        while any(not t.done() for t in tasks):
            if server_pid:
                peak = max(peak, rss_kb(server_pid))
            await asyncio.sleep(2)
        await browser.close()
    return {"times": times, "errors": errors, "rss_one": rss_one, "rss_peak": peak}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--url", help="a running app; default: start one on bench/data/county.db")
    ap.add_argument("--db", default=str(ROOT / "bench" / "data" / "county.db"))
    args = ap.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print("error: /usr/bin/chromium is needed (apt-get install chromium)", file=sys.stderr)
        return 2
    proc = None
    base = args.url
    if not base:
        os.environ["COCKPIT_DATABASE_URL"] = f"sqlite:///{args.db}"
        os.environ["COCKPIT_DEMO_MODE"] = "1"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                 "--server.headless", "true", "--server.address", "127.0.0.1"],
                                cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
    try:
        out = asyncio.run(run(base, min(args.sessions, len(USERS)), args.minutes, proc.pid if proc else None))
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # sessions still open on its side: stop it hard
                proc.kill()
    report(out, args)
    return 1 if out["errors"] else 0


def report(out: dict, args) -> None:
    pages = [d for name, d in out["times"] if name != "login"]
    logins = [d for name, d in out["times"] if name == "login"]
    q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")  # noqa: E731
    print(f"\n### Load test: {args.sessions} sessions × {args.minutes:g} min\n")
    print(f"- page opens: {len(pages):,}; p50 {statistics.median(pages) if pages else float('nan'):.2f} s, "
          f"p95 {q(pages, 0.95):.2f} s, max {max(pages) if pages else float('nan'):.2f} s")
    print(f"- logins: {len(logins)}; p95 {q(logins, 0.95):.2f} s")
    print(f"- errors: {len(out['errors'])}")
    for e in out["errors"][:10]:
        print(f"  - {e}")
    if out["rss_one"]:
        per = (out["rss_peak"] - out["rss_one"]) / max(1, args.sessions - 1) / 1024
        print(f"- server memory: {out['rss_one'] / 1024:.0f} MB with one session, peak {out['rss_peak'] / 1024:.0f} MB "
              f"with {args.sessions}: about {per:.0f} MB per additional session")
    by_page: dict[str, list] = {}
    for name, d in out["times"]:
        by_page.setdefault(name, []).append(d)
    print("\n| page | opens | p50 s | p95 s |\n|---|---|---|---|")
    for name, xs in sorted(by_page.items()):
        print(f"| {name} | {len(xs)} | {statistics.median(xs):.2f} | {q(xs, 0.95):.2f} |")


if __name__ == "__main__":
    sys.exit(main())
