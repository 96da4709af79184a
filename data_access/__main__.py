"""Command line of the cockpit's data layer.

    python -m data_access init                 # upgrade schema; if empty, generate the demo bank and refresh marts
    python -m data_access upgrade              # Alembic upgrade to head
    python -m data_access demo --size county --seed 7
    python -m data_access refresh              # rebuild marts, new data version
    python -m data_access status               # row counts and data version
    python -m data_access plans evaluate [--as-of 2026-10-31]   # judge the active repayment plans (refresh does too)
    python -m data_access user add NAME --role head_office [--branch 2] [--agency 1] [--pii]
    python -m data_access user disable NAME
    python -m data_access import FILE_OR_DIR ... [--dry-run] [--report bad_rows.csv] [--user NAME]
    python -m data_access templates DIR        # empty CSV + Excel template per table, with a 说明 sheet
    python -m data_access export DIR [--month 2026-11]   # the database's rows in the extract format
    python -m data_access audit verify [--anchor ID:HASH] [--record]   # walk the audit log's hash chain
    python -m data_access report g11 --month 2026-10 --out g11.xlsx [--user NAME]   # asset-quality report (audited)

Every failure ends in a one-line message and exit code 1 or 2, never a traceback.
"""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import re
import sys
import time

from sqlalchemy.exc import SQLAlchemyError


def _engine():
    from .engine import check_connection, get_engine
    engine = get_engine()
    check_connection(engine)
    return engine


def cmd_upgrade(args) -> None:
    from .migrate import upgrade
    engine = _engine()
    print("schema upgraded" if upgrade(engine) else "schema already at head")


def cmd_demo(args) -> None:
    from . import demo, marts
    from .migrate import upgrade
    engine = _engine()
    upgrade(engine)
    t = time.perf_counter()
    counts = demo.generate(engine, size=args.size, seed=args.seed, progress=not args.quiet)
    gen = time.perf_counter() - t
    t = time.perf_counter()
    marts.refresh(engine, progress=not args.quiet)
    print(f"demo bank ({args.size}, seed {args.seed}) generated in {gen:.1f} s, marts refreshed in "
          f"{time.perf_counter() - t:.1f} s: {counts.get('customer', 0):,} households, {counts.get('loan', 0):,} loans, "
          f"{counts.get('loan_snapshot', 0):,} snapshots")


def cmd_init(args) -> None:
    from . import demo, marts
    from .migrate import upgrade
    engine = _engine()
    upgrade(engine)
    if demo.is_empty(engine):
        print("empty database: generating the demo bank (about a minute) …")
        args.size, args.quiet = os.environ.get("COCKPIT_DEMO_SIZE", "county"), False
        cmd_demo(args)
    else:
        from sqlalchemy import select
        from .schema import data_status
        with engine.connect() as conn:
            if conn.execute(select(data_status.c.key).where(data_status.c.key == "refresh")).first() is None:
                marts.refresh(engine, progress=True)
        print("database ready")


def cmd_refresh(args) -> None:
    from . import marts
    t = time.perf_counter()
    counts = marts.refresh(_engine(), progress=True)
    print(f"marts refreshed in {time.perf_counter() - t:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


def cmd_reclassify(args) -> None:
    """Recompute every snapshot's classification floor (after a COCKPIT_CLASS_* setting changed), then the marts,
    in one transaction; audited."""
    from . import classification, marts, users
    if args.from_month and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", args.from_month):
        raise ValueError(f"--from must be a month YYYY-MM; got {args.from_month!r}")
    t = time.perf_counter()
    with _engine().begin() as conn:
        found = classification.reclassify(conn, args.from_month or "0000-00")
        marts.refresh_in(conn)
        marts.stamp(conn, "reclassify")
        users.audit(conn, args.user, "reclassify", detail={"from": args.from_month, "class_deviations": found})
    print(f"{len(found)} months reclassified in {time.perf_counter() - t:.1f} s; marts refreshed; "
          f"{sum(found.values()):,} snapshots classed better than their floor")


def cmd_plans(args) -> None:
    """Judge the active repayment plans on the payments loaded (the mart refresh does this too, every night)."""
    from . import plans
    as_of = None
    if args.as_of:
        try:
            as_of = dt.date.fromisoformat(args.as_of)
        except ValueError:
            raise ValueError(f"--as-of must be a date YYYY-MM-DD; got {args.as_of!r}") from None
    with _engine().begin() as conn:
        day = as_of or plans.data_date(conn)
        counts = plans.evaluate(conn, day, username=args.user)
    print(f"repayment plans judged as of {day}: {counts['evaluated']} active before, {counts['kept']} kept, "
          f"{counts['broken']} broken, {counts['active']} still active")


def cmd_status(args) -> None:
    from . import demo, marts
    engine = _engine()
    for k, v in demo.summary(engine).items():
        print(f"{k:20s} {v:>12,}")
    with engine.connect() as conn:
        print(f"{'data version':20s} {marts.data_version(conn):>12}")


def cmd_user(args) -> None:
    from .users import create_user, set_active
    engine = _engine()
    with engine.begin() as conn:
        if args.action == "add":
            password = os.environ.get("COCKPIT_NEW_PASSWORD") or getpass.getpass(f"password for {args.name}: ")
            create_user(conn, args.name, password, args.role, args.display_name, args.branch, args.agency, args.pii)
            print(f"user {args.name} created")
        else:
            set_active(conn, args.name, args.action == "enable")
            print(f"user {args.name} {args.action}d")


def cmd_import(args) -> None:
    from tqdm import tqdm
    from . import importer
    files = importer.read_folder(args.paths)
    if not files:
        raise ValueError("no CSV or Excel files found in " + ", ".join(args.paths))
    engine = _engine()
    bar = tqdm(total=100, desc="import", unit="%", disable=args.quiet)

    def progress(fraction: float, what: str) -> None:
        bar.n = int(fraction * 100)
        bar.set_postfix_str(what)
        bar.refresh()

    result = importer.run(engine, files, username=args.user, progress=progress, dry_run=args.dry_run)
    bar.close()
    for name, table in result.files.items():
        print(f"  {name} → {table or '?'}: {result.rows.get(table, 0):,} rows")
    if not result.problems.empty:
        if args.report:
            with open(args.report, "wb") as fh:
                fh.write(importer.report_bytes(result.problems))
        head = result.problems.head(20)
        for r in head.itertuples():
            print(f"  {r.file}:{r.line} {r.column} {r.value!r}: {importer.REASONS.get(r.reason, r.reason)}"
                  f"{' (' + r.detail + ')' if r.detail else ''}", file=sys.stderr)
        more, kept = result.problem_count - len(head), len(result.problems)
        raise ValueError(f"import refused, nothing written: {result.problem_count:,} problems"
                         + (f" ({more:,} more{' in ' + args.report if args.report else ''})" if more else "")
                         + ("" if args.report or not more else "; --report FILE writes them")
                         + (f"; the report keeps the first {kept:,} (COCKPIT_IMPORT_MAX_PROBLEMS)"
                            if kept < result.problem_count else ""))
    if args.dry_run:
        print(f"dry run: all {sum(result.rows.values()):,} rows valid; nothing written")
        return
    new = sum(result.new_rows.values())
    print(f"imported {sum(result.rows.values()):,} rows ({new:,} new) in {result.seconds:.1f} s; "
          f"marts refreshed; data version {result.version}")
    if result.refreshed.get("full"):
        print(f"marts rebuilt in full: {result.refreshed['full']}")
    else:
        rebuilt = result.refreshed.get("rebuilt", {})
        print("marts rebuilt incrementally: " + (", ".join(f"{m.removeprefix('mart_')} {', '.join(k)}"
                                                          for m, k in rebuilt.items()) or "nothing"))
    if result.deviations:
        print(f"note: {sum(result.deviations.values()):,} snapshots classed better than the classification rules "
              f"allow (months {', '.join(sorted(result.deviations))}); loaded, listed on Portfolio risk")


def cmd_templates(args) -> None:
    from pathlib import Path
    from .extract_format import templates
    paths = templates(Path(args.dir))
    print(f"{len(paths)} templates written to {args.dir}")


def cmd_export(args) -> None:
    from pathlib import Path
    from .extract_format import export
    engine = _engine()
    with engine.connect() as conn:
        counts = export(conn, Path(args.dir), args.month)
    for name, n in counts.items():
        print(f"  {name}: {n:,} rows")


def cmd_report(args) -> None:
    import re
    from pathlib import Path
    from . import g11
    from .scope import Scope
    from .users import audit
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", args.month or ""):
        raise ValueError(f"--month must be a month like 2026-10; got {args.month!r}")
    out = Path(args.out)
    if out.suffix.lower() != ".xlsx":
        raise ValueError(f"--out must name an .xlsx file; got {args.out!r}")
    if not out.parent.is_dir():
        raise ValueError(f"the folder of --out does not exist: {out.parent}")
    engine = _engine()
    scope = Scope(username=args.user, role="head_office")  # the command line is the head office's, whole bank
    with engine.connect() as conn:
        data = g11.build(conn, scope, args.month, args.user)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out)  # never a half-written report under the asked name
    with engine.begin() as conn:
        audit(conn, args.user, "export", target=f"g11_{args.month}", detail={"format": "xlsx", "via": "cli",
                                                                            "bytes": len(data)})
    print(f"G11 asset-quality report for {args.month} written to {out} ({len(data):,} bytes)")


class ChainBroken(ValueError):
    """The audit chain does not verify: exit 2 with its one line."""


def cmd_audit(args) -> None:
    from . import audit_chain
    anchor = audit_chain.parse_anchor(args.anchor) if args.anchor else None
    engine = _engine()
    with engine.connect() as conn:
        result = audit_chain.verify(conn, anchor)
    if args.record:
        with engine.begin() as conn:
            audit_chain.record(conn, result, args.user)
    if not result.ok:
        raise ChainBroken(result.line())
    print(result.line())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data_access", description="Credit cockpit data layer")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="upgrade; fill an empty database with the demo bank").set_defaults(fn=cmd_init, seed=7)
    sub.add_parser("upgrade", help="upgrade the schema to the newest version").set_defaults(fn=cmd_upgrade)
    d = sub.add_parser("demo", help="generate the demo bank into an empty database")
    d.add_argument("--size", choices=["county", "province", "tiny"], default="county")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(fn=cmd_demo)
    sub.add_parser("refresh", help="rebuild all marts").set_defaults(fn=cmd_refresh)
    sub.add_parser("status", help="row counts and data version").set_defaults(fn=cmd_status)
    pl = sub.add_parser("plans", help="judge the active repayment plans on the payments loaded")
    pl.add_argument("action", choices=["evaluate"])
    pl.add_argument("--as-of", help="judge as of this date (default: the newest payment loaded, never after today)")
    pl.add_argument("--user", default="system", help="user named in the audit log for kept and broken plans")
    pl.set_defaults(fn=cmd_plans)
    rc = sub.add_parser("reclassify", help="recompute the classification floors (after a rule setting changed)")
    rc.add_argument("--from", dest="from_month", help="first month to recompute (default: all)")
    rc.add_argument("--user", default="cli", help="user named in the audit log")
    rc.set_defaults(fn=cmd_reclassify)
    u = sub.add_parser("user", help="create, disable or enable a user")
    u.add_argument("action", choices=["add", "disable", "enable"])
    u.add_argument("name")
    u.add_argument("--role", default="head_office")
    u.add_argument("--display-name")
    u.add_argument("--branch", type=int, action="append")
    u.add_argument("--agency", type=int)
    u.add_argument("--pii", action="store_true")
    u.set_defaults(fn=cmd_user)
    im = sub.add_parser("import", help="validate and load the bank's extract files (one transaction)")
    im.add_argument("paths", nargs="+", help="CSV / Excel files or folders of them")
    im.add_argument("--dry-run", action="store_true", help="validate only")
    im.add_argument("--report", help="write every bad row to this CSV")
    im.add_argument("--user", default=os.environ.get("USER", "cli"), help="name written to the audit log")
    im.add_argument("--quiet", action="store_true")
    im.set_defaults(fn=cmd_import)
    tp = sub.add_parser("templates", help="write the extract templates (CSV and Excel)")
    tp.add_argument("dir")
    tp.set_defaults(fn=cmd_templates)
    ex = sub.add_parser("export", help="write the database's rows in the extract format")
    ex.add_argument("dir")
    ex.add_argument("--month", help="only this month's rows of the monthly tables")
    ex.set_defaults(fn=cmd_export)
    au = sub.add_parser("audit", help="verify the audit log's hash chain")
    au.add_argument("action", choices=["verify"])
    au.add_argument("--anchor", help="ROW_ID:SHA256 printed by an earlier verify: check that row is unchanged")
    au.add_argument("--record", action="store_true", help="write the result to the audit log (shown on the Data "
                                                          "admin page)")
    au.add_argument("--user", default=os.environ.get("USER", "cli"), help="name written with --record")
    au.set_defaults(fn=cmd_audit)
    rp = sub.add_parser("report", help="write a regulatory report (audited)")
    rp.add_argument("kind", choices=["g11"], help="g11: asset quality by class, overdue bands, migration, provisions")
    rp.add_argument("--month", required=True, help="the month, e.g. 2026-10")
    rp.add_argument("--out", required=True, help="the .xlsx file to write")
    rp.add_argument("--user", default=os.environ.get("USER", "cli"), help="name written to the audit log")
    rp.set_defaults(fn=cmd_report)
    args = p.parse_args(argv)
    from .config import ConfigError
    from .demo import DatabaseNotEmpty
    from .engine import DatabaseUnavailable
    from .users import UserError
    try:
        args.fn(args)
    except (DatabaseUnavailable, ConfigError, DatabaseNotEmpty, UserError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        print(f"error: database operation failed: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was committed", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
