"""Benchmark: time every page-level read and the mart refresh at several bank sizes.

    .venv/bin/python -m bench.run                              # county bank, SQLite, built under bench/data/
    .venv/bin/python -m bench.run --sizes county province      # both sizes (province takes ~10 min to build)
    .venv/bin/python -m bench.run --url postgresql+psycopg://postgres@127.0.0.1:5432/bench_county --sizes county
    .venv/bin/python -m bench.run --sizes county province --refresh --import-month   # + refresh and import timing

For each size the bank is generated once (kept for the next run), then each read is timed cold (first call
on a fresh engine) and warm (median of --repeat calls). Prints a Markdown table; the README quotes it.
Goal: every page read <= 0.2 s warm at province size, and province / county <= 2 for each.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from sqlalchemy import func, select

from data_access import collections, customer360, demo, grid, managers, marts, queries, schema as s, strategy
from data_access.engine import make_engine
from data_access.migrate import upgrade
from data_access.scope import Scope, scope_for_user
from models import approval, rollrate

DATA = Path(__file__).resolve().parent / "data"


def build(url: str, size: str) -> dict:
    engine = make_engine(url)
    upgrade(engine)
    info = {}
    if demo.is_empty(engine):
        t = time.perf_counter()
        demo.generate(engine, size=size, seed=7, progress=True)
        info["generate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        marts.refresh(engine)
        info["refresh_s"] = time.perf_counter() - t
    with engine.connect() as conn:
        scored = conn.execute(select(func.count()).select_from(s.application_score)).scalar()
    if not scored:  # the approval simulator reads the scorecard's scores: train it as a first start does
        from models import train_scorecard
        t = time.perf_counter()
        train_scorecard.run(engine, trained_by="bench")
        info["scorecard_s"] = time.perf_counter() - t
    from models import allocation
    if allocation.active_model(engine) is None:  # the collection simulator's model, as a first start trains it
        with engine.connect() as conn:
            last = conn.execute(select(func.max(s.collection_case.c.entry_month))).scalar()
        t = time.perf_counter()
        allocation.train(engine, last, "bench")
        info["propensity_s"] = time.perf_counter() - t
    engine.dispose()
    return info


def _map(conn, scope, month, level, county=None):
    """What the grid map page does on a render: read the grids, build the pydeck map, serialise it."""
    from components.map_layers import grid_deck
    df = grid.grid(conn, scope, month, level, None, county)
    return grid_deck(df, "npl_ratio", "zh")[0].to_json()


def reads(conn) -> dict:
    """The reads each page makes, as (label, callable) with realistic arguments."""
    hq = Scope(username="bench", role="head_office", can_see_pii=True)
    lab = Scope(username="bench", role="strategy")
    leader = scope_for_user(conn, "branch01")
    agency = scope_for_user(conn, "agency1")
    month = queries.available_months(conn)[-1]
    f = queries.Filters(month=month)
    prev, ago = queries.shift_month(month, -1), queries.shift_month(month, -12)
    cust = conn.execute(select(func.max(s.customer.c.id))).scalar() // 2
    county = demo.COUNTY_CODE
    cno = conn.execute(select(s.customer.c.customer_no).where(s.customer.c.id == cust)).scalar()
    return {
        "overview (head office)": lambda c: queries.overview(c, hq, f),
        "overview (branch leader)": lambda c: queries.overview(c, leader, f),
        "branch league": lambda c: queries.branch_league(c, hq, month, prev, ago),
        "village hotspots": lambda c: queries.village_hotspots(c, hq, month),
        "collection by bucket": lambda c: queries.collection_summary(c, hq, f, by=("entry_bucket",)),
        "agency league": lambda c: queries.agency_league(c, hq),
        "managers (branch)": lambda c: queries.managers(c, leader, month),
        "grid map: top level (data + deck)": lambda c: _map(c, hq, month, "county"),
        "grid map: a county's ~400 villages (data + deck)": lambda c: _map(c, hq, month, "village", county),
        "customer 360 (all sections)": lambda c: customer360.customer_360(c, hq, cust),
        "customer 360 profile": lambda c: queries.customer_profile(c, hq, cust),
        "customer loans": lambda c: queries.customer_loans(c, hq, cust),
        "customer search by number": lambda c: queries.search_customers(c, hq, cno),
        "collections: performance by bucket": lambda c: collections.performance(c, hq, f, ("entry_bucket",), 12),
        "collections: allocation board + today": lambda c: (collections.allocation_board(c, hq, f),
                                                            collections.day_board(c, hq), collections.pending_summary(c, hq)),
        "collections: agency work list": lambda c: collections.my_cases(c, agency),
        "managers: team (branch)": lambda c: managers.team(c, leader, month),
        "managers: alerts (month)": lambda c: managers.flag_list(c, hq, month),
        "strategy lab: NPL simulation (inputs + 12 months)": lambda c: rollrate.simulate_inputs(
            strategy.rollrate_inputs(c, hq, f), month, 12, 1.5),
        "strategy lab: approval simulation (inputs + policy + curve + backtest year)": lambda c: _approval(c, lab, f),
        "strategy lab: collection allocation what-if (one change of a slider)": _collection_what_if(conn, lab, f),
    }


def _collection_what_if(conn, scope, f):
    """What a slider change in the collection tab costs: the optimiser on the month's intake with the model's
    predictions already made (the page makes them once per model and month)."""
    from models import allocation
    inp = strategy.allocation_inputs(conn, scope, f)
    loaded = allocation.active_model(conn.engine)
    if loaded is None or inp["cases"].empty:
        raise RuntimeError("no propensity model or no cases: the bench build trains one")
    prepared = allocation.prepare(loaded[1], inp["cases"], inp["options"])
    return lambda c: allocation.what_if(prepared, inp["cases"], inp["options"], inp["rules"], {"phone": 1.5, "agency": 0.8},
                                        1.2)


def _approval(conn, scope, f):
    """What the approval tab computes on a render: this year's population and the matured year's, the proposal
    against the current policy on both, the trade-off curve."""
    cells = strategy.approval_inputs(conn, scope, f, 12)
    back = strategy.approval_inputs(conn, scope, f, 12, 12)
    if cells.empty:
        raise RuntimeError("the approval mart is empty: the bank's applications have not been scored")
    policy = approval.Policy(cutoff=approval.equal_rate_cutoff(cells) + 10, segment_cutoffs={"business": 640},
                             limit_multiplier={"AAA": 1.3})
    return approval.simulate(cells, policy), approval.simulate(back, policy), approval.tradeoff(cells)


def time_reads(url: str, repeat: int) -> dict[str, tuple[float, float]]:
    out = {}
    engine = make_engine(url)
    with engine.connect() as conn:
        labels = reads(conn)
    for label, fn in labels.items():
        fresh = make_engine(url)
        with fresh.connect() as conn:
            t = time.perf_counter()
            fn(conn)
            cold = time.perf_counter() - t
            warm = []
            for _ in range(repeat):
                t = time.perf_counter()
                fn(conn)
                warm.append(time.perf_counter() - t)
        fresh.dispose()
        out[label] = (cold, statistics.median(warm))
    engine.dispose()
    return out


def time_import(url: str) -> dict:
    """Re-import the newest month's files of the monthly tables (exported from the bank itself): validation and
    load, then the mart refresh the import ends with, timed apart. The rows exist already, so the load updates
    them; a new month costs the same (the incremental refresh rebuilds that month: its snapshots count as touched
    whether or not they changed)."""
    import tempfile
    from data_access import importer
    from data_access.extract_format import export
    engine = make_engine(url)
    with engine.connect() as conn:
        month = queries.available_months(conn)[-1]
        with tempfile.TemporaryDirectory() as d:
            counts = export(conn, Path(d), month)
            files = importer.read_folder([d])
    marks = {}
    result = importer.run(engine, files, "bench", progress=lambda f, what: marks.setdefault(what, time.perf_counter()))
    end = time.perf_counter()
    engine.dispose()
    if not result.ok:
        raise RuntimeError(f"import failed: {result.error or result.problems.head(3).to_dict('records')}")
    start = end - result.seconds
    rebuilt = result.refreshed.get("rebuilt", {})  # (mart, month) pairs the incremental refresh rebuilt; 0: full
    return {"import_rows": sum(counts.values()), "import_validate_s": marks["validated"] - start,
            "import_load_s": marks["marts"] - marks["validated"], "import_refresh_s": end - marks["marts"],
            "import_mart_months": sum(len(v) for v in rebuilt.values())}


def time_pages(url: str, pages: list[str], user: str = "strategy_chen", repeat: int = 3) -> dict[str, tuple]:
    """Server time to open each page as ``user`` (Streamlit's AppTest: the script run that draws the page, without
    the browser): the first open in a fresh process, then the median of ``repeat`` opens that find the session's
    caches warm. The Strategy lab opens with its first simulator only (the others run when their tab is opened)."""
    import os
    from streamlit.testing.v1 import AppTest
    os.environ.update(COCKPIT_DATABASE_URL=url, COCKPIT_DEMO_MODE="1")
    app = str(Path(__file__).resolve().parent.parent / "app.py")
    out = {}
    from data_access import sessions
    from data_access.engine import get_engine
    for page in pages:
        times = []
        for _ in range(repeat + 1):
            at = AppTest.from_file(app, default_timeout=300)
            # logged in as a browser is: a server-side session whose token the run carries (components.auth)
            with get_engine(url).begin() as conn:
                at.session_state["session_token"] = sessions.start(conn, user, user_agent="bench")[0]
            at.run()
            t = time.perf_counter()
            at.switch_page(f"pages/{page}.py").run()
            times.append(time.perf_counter() - t)
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception}")
        out[f"page open: {page} ({user})"] = (times[0], statistics.median(times[1:]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["county"], choices=["tiny", "county", "province"])
    p.add_argument("--url", help="database URL (one size only); default SQLite files under bench/data/")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--refresh", action="store_true", help="also time a full mart refresh on the existing bank")
    p.add_argument("--import-month", action="store_true", help="also time the import of the newest month's files")
    p.add_argument("--pages", nargs="*", metavar="PAGE",
                   help="also time opening these pages (e.g. strategy_lab overview) through AppTest")
    p.add_argument("--page-user", default="strategy_chen",
                   help="who opens the --pages (e.g. hq_wang or branch01 for managers, which strategy cannot see)")
    args = p.parse_args()
    DATA.mkdir(exist_ok=True)
    results, builds = {}, {}
    for size in args.sizes:
        url = args.url or f"sqlite:///{DATA / f'{size}.db'}"
        builds[size] = build(url, size)
        if args.refresh and "refresh_s" not in builds[size]:
            t = time.perf_counter()
            marts.refresh(make_engine(url))
            builds[size]["refresh_s"] = time.perf_counter() - t
        if args.import_month:
            builds[size].update(time_import(url))
        results[size] = time_reads(url, args.repeat)
        if args.pages:
            results[size].update(time_pages(url, args.pages, args.page_user))
        e = make_engine(url)
        with e.connect() as conn:
            builds[size]["loans"] = conn.execute(select(func.count()).select_from(s.loan)).scalar()
            builds[size]["snapshots"] = conn.execute(select(func.count()).select_from(s.loan_snapshot)).scalar()
        e.dispose()
    backend = (args.url or "sqlite").split(":")[0]
    print(f"\n### Benchmark ({backend})\n")
    for size, b in builds.items():
        extra = ", ".join(f"{k} {v:.1f} s" if k.endswith("_s") else f"{k} {v:,}" for k, v in b.items())
        print(f"- {size}: {extra}")
    head = "| read | " + " | ".join(f"{sz} cold ms | {sz} warm ms" for sz in args.sizes)
    if len(args.sizes) > 1:
        head += f" | {args.sizes[-1]}/{args.sizes[0]} warm"
    print("\n" + head + " |")
    print("|" + "---|" * (1 + 2 * len(args.sizes) + (len(args.sizes) > 1)))
    for label in results[args.sizes[0]]:
        row = [label]
        for sz in args.sizes:
            cold, warm = results[sz][label]
            row += [f"{cold * 1000:.1f}", f"{warm * 1000:.1f}"]
        if len(args.sizes) > 1:
            row.append(f"{results[args.sizes[-1]][label][1] / max(results[args.sizes[0]][label][1], 1e-9):.2f}")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
