"""The demo bank: a deterministic, realistic synthetic rural commercial bank.

``generate(engine, size="county", seed=7)`` fills an empty database. The same
seed gives the same bank. Everything is vectorised with numpy so the county
bank (睢宁县, ~100k households, ~50k active loans, 24 monthly snapshots)
builds in well under a minute on two cores.

How it behaves like a bank (and why models trained on it find signal):

* every household has a latent risk on the log-odds scale built from its
  segment, income, multi-lending, its village's credit grade and its
  manager's quality, plus noise;
* each month a current loan rolls to M1 with a hazard driven by that latent
  risk, months on book (loans season) and farm seasonality; bullet loans also
  fail at maturity more than mid-term;
* delinquent loans cure with probabilities that fall with the bucket and
  rise with a better collection channel, so recovery from M1 is far higher
  than from M3+; loans long in M4+ are written off;
* application scores are a noisy reading of the latent risk, so a scorecard
  fitted on the applications' features and outcomes has real discriminating
  power, but not perfect;
* managers differ in quality, diligence and honesty: a few check in far from
  the customer's home or at impossible speeds.

Personal data is synthetic: names from common Chinese surnames and given
names, phone numbers random, and every ID number carries a deliberately
wrong check digit so that none can be a real person's.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import bcrypt
import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, insert, select

from . import conduct, experiments, geo, schema as s
from .bulk import bulk_insert, sync_sequences

END_MONTH = "2026-10"      # last complete month of the demo bank; fixed so a seed always gives the same bank
WINDOW_MONTHS = 24         # monthly snapshots kept
HISTORY_MONTHS = 48        # loans disbursed up to this many months back, so the book at window start is seasoned
DEMO_PASSWORD = "Demo@2026"
CURRENT_CUTOFF = 540      # the approval cut-off score of the demo bank's current policy
ADMIN_PASSWORD = "Admin@2026"

COUNTY_CODE = "320324"     # 睢宁县, Xuzhou, Jiangsu
PROVINCE_CITIES = ("3203", "3213", "3208")  # 徐州, 宿迁, 淮安

SEGMENTS = np.array(["farmer", "grower", "business", "salaried"])
SEGMENT_P = np.array([0.46, 0.22, 0.16, 0.16])
SEGMENT_RISK = np.array([0.0, -0.05, 0.3, -0.45])
SEGMENT_INCOME = np.array([45_000, 120_000, 180_000, 80_000])
INDUSTRY = {
    "farmer": ["粮食种植", "蔬菜种植", "家禽养殖", "外出务工"],
    "grower": ["规模种植", "生猪养殖", "水产养殖", "林果种植"],
    "business": ["批发零售", "农资经营", "餐饮住宿", "电商物流", "建材加工"],
    "salaried": ["事业单位", "企业职工", "教师", "医务人员"],
}
GRADES = np.array(["AAA", "AA", "A", ""])
GRADE_P = np.array([0.12, 0.22, 0.26, 0.40])
GRADE_RISK = np.array([-0.5, -0.3, -0.12, 0.18])
SOURCES = np.array(["walk_in", "whole_village", "referral", "online", "event"])

# code, name, category, guarantee, term, rate, seasonal, amortising
PRODUCTS = [
    ("NHXY", "农户小额信用贷", "farm_credit", "credit", 12, 0.052, True, False),
    ("NHDB", "农户担保贷", "farm_guarantee", "guarantee", 12, 0.058, True, False),
    ("GTJY", "个体经营贷", "business", "guarantee", 24, 0.060, False, False),
    ("HMXF", "惠民消费贷", "consumer", "credit", 36, 0.048, False, True),
    ("FCDY", "房产抵押贷", "mortgage", "mortgage", 36, 0.042, False, True),
    ("JEDK", "金e贷(线上)", "online", "credit", 12, 0.065, False, True),
]
# product mix by segment, in the order of PRODUCTS
PRODUCT_BY_SEGMENT = np.array([
    [0.62, 0.22, 0.00, 0.06, 0.02, 0.08],
    [0.30, 0.45, 0.10, 0.03, 0.07, 0.05],
    [0.05, 0.10, 0.55, 0.05, 0.15, 0.10],
    [0.05, 0.00, 0.00, 0.55, 0.15, 0.25],
])
AMOUNT_MEDIAN = np.array([50_000, 200_000, 300_000, 80_000])  # by segment

CHANNELS = ["ai_voice", "sms", "phone", "field", "agency", "mediation", "litigation", "write_off"]
CHANNEL_COST = {"ai_voice": 0.6, "sms": 0.1, "phone": 6.0, "field": 85.0, "agency": 0.0,
                "mediation": 300.0, "litigation": 2500.0, "write_off": 0.0}
CONTACT_P = {"ai_voice": 0.48, "sms": 0.25, "phone": 0.62, "field": 0.82, "agency": 0.68,
             "mediation": 0.7, "litigation": 0.5, "write_off": 0.2}
# channel mix by entry bucket (1..4): probabilities over CHANNELS[:7]
CHANNEL_MIX = {
    1: [0.55, 0.25, 0.20, 0.00, 0.00, 0.00, 0.00],
    2: [0.00, 0.00, 0.55, 0.45, 0.00, 0.00, 0.00],
    3: [0.00, 0.00, 0.10, 0.35, 0.55, 0.00, 0.00],
    4: [0.00, 0.00, 0.00, 0.10, 0.55, 0.15, 0.20],
}
# the optimiser's channel mix in the demo's finished champion/challenger test (more phone and field work on early
# buckets, where the channels' effects are largest); the champion arm keeps CHANNEL_MIX (the rules)
CHALLENGER_MIX = {
    1: [0.30, 0.05, 0.65, 0.00, 0.00, 0.00, 0.00],
    2: [0.00, 0.00, 0.35, 0.65, 0.00, 0.00, 0.00],
    3: [0.00, 0.00, 0.10, 0.55, 0.35, 0.00, 0.00],
    4: [0.00, 0.00, 0.00, 0.25, 0.30, 0.15, 0.30],
}
TEST_AGO, TEST_MONTHS, TEST_SHARES, TEST_SEED = 14, 3, (0.5, 0.5), 20250801
# multiplicative effect of a channel on the odds of cure
CHANNEL_EFFECT = np.array([1.0, 0.8, 1.15, 1.35, 1.0, 1.2, 1.4, 1.0])
# code, name, commission on recoveries, new cases a month per 100k households, quality (odds multiplier of cure)
AGENCIES = [
    ("AG01", "徐州信达催收服务有限公司", 0.12, 20, 1.25),
    ("AG02", "江苏恒信资产管理有限公司", 0.15, 24, 1.10),
    ("AG03", "宿迁安和商务咨询有限公司", 0.10, 15, 0.95),
    ("AG04", "淮海诚信信息服务有限公司", 0.13, 18, 1.05),
    ("AG05", "南京同舟法律咨询有限公司", 0.18, 10, 1.30),
    ("AG06", "苏北众联征信服务有限公司", 0.11, 20, 0.80),
]
# agencies (indexes into AGENCIES) whose collectors sometimes break the conduct rules (data_access/conduct.py)
RULE_BREAKERS = (2, 5)
# new cases a month per 100k households each channel can work (None: no limit); about 1.2 times the demo's
# historical intake for the staffed channels, so that the allocation run has real choices to make
CHANNEL_CAPACITY = {"ai_voice": 450, "sms": None, "phone": 180, "field": 100, "agency": None, "mediation": 15,
                    "litigation": 15, "write_off": None}
# the rules in force: which channels may work a case of each entry bucket, in priority order (CHANNEL_MIX)
RULE_MIN_AMOUNT = {"litigation": 20_000, "mediation": 5_000}
RULE_NOTES = {
    (1, "ai_voice"): "早期逾期批量AI外呼提醒", (1, "sms"): "短信提醒(低成本兜底)", (1, "phone"): "人工电话提醒",
    (2, "phone"): "人工电话催收", (2, "field"): "客户经理上门走访",
    (3, "agency"): "委外机构催收", (3, "field"): "客户经理上门催收", (3, "phone"): "人工电话催收(高级坐席)",
    (4, "agency"): "委外机构催收", (4, "litigation"): "诉讼(逾期额2万元以上)", (4, "mediation"): "人民调解(5千元以上)",
    (4, "field"): "上门催收",
}
# days before the as-of date within which new cases still await the allocation run (channel 'pending')
PENDING_DAYS = 6
LEGAL_STAGES = ("filed", "hearing", "judgment", "enforcement")
SIGNAL_TYPES = ["new_overdue", "multi_lending_rise", "external_overdue", "deposit_outflow",
                "income_drop", "court_judgement", "guarantor_risk", "manager_report"]


def month_idx(month: str) -> int:
    y, m = month.split("-")
    return int(y) * 12 + int(m) - 1


def idx_month(idx: int | np.ndarray):
    if isinstance(idx, np.ndarray):
        return np.array([f"{i // 12:04d}-{i % 12 + 1:02d}" for i in idx])
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def month_start(idx: np.ndarray) -> np.ndarray:
    """First day of each month index, as datetime64[D]."""
    y = idx // 12
    m = idx % 12 + 1
    return (np.array(y - 1970, dtype="datetime64[Y]") + np.array(m - 1, dtype="timedelta64[M]")).astype("datetime64[D]")


def month_end(idx: np.ndarray) -> np.ndarray:
    return month_start(idx + 1) - np.timedelta64(1, "D")


def _split(total: float, n: int) -> list[float]:
    """``n`` amounts in cents summing to ``total`` exactly (the last takes the remainder)."""
    each = np.floor(total * 100 / n) / 100
    return [float(each)] * (n - 1) + [round(total - float(each) * (n - 1), 2)]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class DatabaseNotEmpty(RuntimeError):
    """The demo bank is only generated into an empty database."""


@dataclass
class Ids:
    """Running id counters, so several counties can be appended into one bank."""
    branch: int = 2
    manager: int = 1
    customer: int = 1
    member: int = 1
    application: int = 1
    line: int = 1
    loan: int = 1
    repayment: int = 1
    signal: int = 1
    task: int = 1
    case: int = 1
    action: int = 1
    breach: int = 1
    event: int = 1
    plan: int = 1
    branch_seq: dict = field(default_factory=dict)

    def take(self, name: str, n: int) -> np.ndarray:
        start = getattr(self, name)
        setattr(self, name, start + n)
        return np.arange(start, start + n)


@dataclass
class SizeSpec:
    counties: list[str]
    households_per_county: int


def size_spec(size: str) -> SizeSpec:
    if size == "county":
        return SizeSpec([COUNTY_CODE], 100_000)
    if size == "province":
        cs = geo.counties()
        cs = cs[cs["cityCode"].isin(PROVINCE_CITIES) & cs["has_outline"]]
        codes = [c for c in cs["code"] if not geo.townships(c).empty][:20]
        if COUNTY_CODE in codes:
            codes.remove(COUNTY_CODE)
        return SizeSpec([COUNTY_CODE] + codes[:19], 50_000)
    if size == "tiny":  # for tests: the same county, a few thousand households
        return SizeSpec([COUNTY_CODE], 4_000)
    raise ValueError(f"size must be one of county, province, tiny; got {size!r}.")


DEMO_MARK = "demo_bank"  # the data_status row that makes a database the demo bank


def is_demo_bank(conn) -> bool:
    """Demo mode (the login page lists the demo users and their published passwords; every page carries the
    演示模式 banner): ``COCKPIT_DEMO_MODE`` when set, otherwise whether this database is one the demo generator
    made (``generate`` marks it). A deliberate choice either way, never the absence of a setting; it never changes
    the secret key's rules (``secret_key``)."""
    from .config import demo_setting
    explicit = demo_setting()
    if explicit is not None:
        return explicit
    return conn.execute(select(s.data_status.c.key).where(s.data_status.c.key == DEMO_MARK)).first() is not None


def is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(s.customer)).scalar_one() == 0 and \
            conn.execute(select(func.count()).select_from(s.region)).scalar_one() == 0


def generate(engine: Engine, size: str = "county", seed: int = 7, progress: bool = True,
             households: int | None = None) -> dict[str, int]:
    """Fill an empty database with the demo bank; returns row counts per table.

    Runs in one transaction: if anything fails, the database stays empty.
    """
    spec = size_spec(size)
    if households:
        spec.households_per_county = households
    if not is_empty(engine):
        raise DatabaseNotEmpty("the database already holds data; the demo bank is generated only into an empty one")
    from .progress import Steps
    steps = len(spec.counties) * len(CountyBank.STAGES) + 2
    bar = Steps(steps, "demo bank", enabled=progress)
    seeds = np.random.SeedSequence(seed).spawn(len(spec.counties) + 1)
    # repayment plans draw from their own streams (children after the counties'), so adding them left every other
    # figure of a seed's bank as it was
    plan_seeds = np.random.SeedSequence(seed).spawn(2 * len(spec.counties) + 1)[len(spec.counties) + 1:]
    counts: dict[str, int] = {}
    ids = Ids()
    with engine.begin() as conn:
        bar.set_postfix_str("organisation, products, agencies")
        _static(conn, counts, spec.households_per_county * len(spec.counties) / 100_000)
        bar.update(1)
        for i, code in enumerate(spec.counties):
            CountyBank(conn, code, spec.households_per_county, np.random.default_rng(seeds[i + 1]), ids, counts,
                       plan_rng=np.random.default_rng(plan_seeds[i])).build(bar)
        # the plans judged on the payments generated, as the nightly refresh would (their history predates the log)
        from .plans import evaluate
        evaluate(conn, as_of=month_end(np.array([month_idx(END_MONTH)])).astype(object)[0], audited=False)
        _strategy_tests(conn, counts)
        bar.set_postfix_str("users")
        _users(conn, counts)
        sync_sequences(conn)
        conn.execute(insert(s.data_status).values(key=DEMO_MARK, value="generated", row_count=counts.get("customer", 0),
                                                  updated_at=dt.datetime.now().replace(microsecond=0)))
        bar.update(1)
    bar.close("generated")
    return counts


def _strategy_tests(conn, counts) -> None:
    """One finished test a year ago (the optimiser's mix against the rules, simulated as such in _simulate) with
    every worked case of its months in its arm, and one running on the newest month (arms given by the allocation
    run as its pending cases are allocated)."""
    from .experiments import arms
    end = month_idx(END_MONTH)
    first, last = idx_month(end - TEST_AGO), idx_month(end - TEST_AGO + TEST_MONTHS - 1)
    made = dt.datetime(2025, 7, 25, 9, 0)
    t = s.strategy_test
    base = dict(champion="rules", challengers="optimised", shares="0.5,0.5", measure="cure", created_by="hq_wang")
    done = conn.execute(insert(t).values(
        name="智能分案优化 vs 现行规则", seed=TEST_SEED, first_month=first, last_month=last,
        matures_on=month_start(np.array([end - TEST_AGO + TEST_MONTHS + 3])).astype(object)[0], status="finished",
        created_at=made, **base).returning(t.c.id)).scalar_one()
    k = s.collection_case
    ids = conn.execute(select(k.c.id).where(k.c.entry_month.between(first, last), k.c.channel != "write_off")
                       .order_by(k.c.id)).scalars().all()
    names = ["rules", "optimised"]
    rows = [dict(test_id=done, case_id=c, arm=names[a]) for c, a in zip(ids, arms(ids, TEST_SHARES, TEST_SEED))]
    if rows:
        conn.execute(insert(s.strategy_test_case), rows)
    conn.execute(insert(t).values(
        name="智能分案优化 vs 现行规则(复验)", seed=TEST_SEED + 1, first_month=END_MONTH, last_month=END_MONTH,
        matures_on=month_start(np.array([end + 4])).astype(object)[0], status="running",
        created_at=dt.datetime(2026, 10, 1, 9, 0), **base))
    _add(counts, "strategy_test", 2)
    _add(counts, "strategy_test_case", len(rows))


def _add(counts: dict, table: str, n: int) -> None:
    counts[table] = counts.get(table, 0) + n


def _static(conn, counts, scale: float) -> None:
    end = month_idx(END_MONTH)
    months = pd.DataFrame({"idx": np.arange(end - HISTORY_MONTHS - 12, end + 1)})
    months["month"] = idx_month(months["idx"].to_numpy())
    _add(counts, "dim_month", bulk_insert(conn, s.dim_month, months[["month", "idx"]]))
    conn.execute(insert(s.org_unit), [dict(id=1, code="HO", name="总行", level="head_office", parent_id=None)])
    _add(counts, "org_unit", 1)
    prods = pd.DataFrame([dict(id=i + 1, code=p[0], name=p[1], category=p[2], guarantee_type=p[3],
                               term_months=p[4], annual_rate=p[5], seasonal=p[6]) for i, p in enumerate(PRODUCTS)])
    _add(counts, "product", bulk_insert(conn, s.product, prods))
    ags = pd.DataFrame([dict(id=i + 1, code=a[0], name=a[1], commission_rate=a[2],
                             monthly_capacity=max(1, round(a[3] * scale)), active=True) for i, a in enumerate(AGENCIES)])
    _add(counts, "agency", bulk_insert(conn, s.agency, ags))
    # cost per case: the cost of one attempt times the demo's average attempts per case (see collections())
    chans = [dict(code=c, monthly_capacity=None if CHANNEL_CAPACITY[c] is None else max(1, round(CHANNEL_CAPACITY[c] * scale)),
                  cost_per_case=CHANNEL_COST[c] * (4.0 if i <= 1 else 3.0), active=True) for i, c in enumerate(CHANNELS)]
    chans = pd.DataFrame(chans)
    chans["monthly_capacity"] = chans["monthly_capacity"].astype("Int64")  # whole numbers or NULL, not floats
    _add(counts, "collection_channel", bulk_insert(conn, s.collection_channel, chans))
    rules = []
    for b, mix in CHANNEL_MIX.items():
        order = np.argsort(mix)[::-1]
        for prio, c in enumerate([o for o in order if mix[o] > 0]):
            rules.append(dict(entry_bucket=b, min_amount=RULE_MIN_AMOUNT.get(CHANNELS[c], 0), channel=CHANNELS[c],
                              priority=prio + 1, description=RULE_NOTES[(b, CHANNELS[c])]))
    conn.execute(insert(s.allocation_rule), rules)
    _add(counts, "allocation_rule", len(rules))


def _hash(password: str) -> str:
    # Cost 10 keeps demo setup fast; production users get the library default via the admin page.
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def _users(conn, counts) -> None:
    now = dt.datetime(2026, 11, 1, 8, 0)
    demo = _hash(DEMO_PASSWORD)
    users = [
        dict(username="admin", display_name="系统管理员", role="admin", can_see_pii=False, pw=_hash(ADMIN_PASSWORD)),
        dict(username="hq_wang", display_name="王总(总行风险部)", role="head_office", can_see_pii=True, pw=demo),
        dict(username="hq_li", display_name="李经理(总行零售部)", role="head_office", can_see_pii=False, pw=demo),
        dict(username="strategy_chen", display_name="陈博士(策略团队)", role="strategy", can_see_pii=False, pw=demo),
    ]
    branches = conn.execute(select(s.org_unit.c.id, s.org_unit.c.name).where(s.org_unit.c.level == "branch")
                            .order_by(s.org_unit.c.id)).all()
    for n, (bid, bname) in enumerate(branches[:40], start=1):
        users.append(dict(username=f"branch{n:02d}", display_name=f"{bname}行长", role="branch_leader",
                          can_see_pii=True, pw=demo, branches=[bid]))
    for i, a in enumerate(AGENCIES, start=1):
        users.append(dict(username=f"agency{i}", display_name=a[1], role="agency", can_see_pii=False, pw=demo,
                          agency_id=i))
    rows, links = [], []
    for uid, u in enumerate(users, start=1):
        rows.append(dict(id=uid, username=u["username"], display_name=u["display_name"], password_hash=u["pw"],
                         role=u["role"], agency_id=u.get("agency_id"), can_see_pii=u["can_see_pii"], active=True,
                         failed_logins=0, created_at=now, email=f"{u['username']}@demo-bank.example"))
        links += [dict(user_id=uid, branch_id=b) for b in u.get("branches", [])]
    conn.execute(insert(s.app_user), rows)
    if links:
        conn.execute(insert(s.user_branch), links)
    _add(counts, "app_user", len(rows))


class CountyBank:
    """Generates one county's slice of the bank and writes it through ``conn``."""

    def __init__(self, conn, county_code: str, households: int, rng: np.random.Generator, ids: Ids, counts: dict,
                 plan_rng: np.random.Generator | None = None):
        self.conn, self.code, self.n_hh, self.rng, self.ids, self.counts = conn, county_code, households, rng, ids, counts
        self.plan_rng = plan_rng if plan_rng is not None else np.random.default_rng(int(county_code))
        self.end = month_idx(END_MONTH)
        self.w0 = self.end - WINDOW_MONTHS + 1
        self.asof = month_end(np.array([self.end]))[0]

    def write(self, table, df: pd.DataFrame) -> None:
        _add(self.counts, table.name, bulk_insert(self.conn, table, df))

    # ------------------------------------------------------------ build
    STAGES = ("regions", "organisation", "managers", "customers", "loans", "collections", "signals_and_tasks",
              "activity", "fact_history")

    def build(self, bar=None) -> None:
        for stage in self.STAGES:
            if bar is not None:
                bar.set_postfix_str(f"county {self.code}: {stage.replace('_', ' ')}")
            getattr(self, stage)()
            if bar is not None:
                bar.update(1)

    def regions(self) -> None:
        rng = self.rng
        grid = geo.draw_county_grid(self.code, rng)
        df = grid.regions.copy()
        vil = df["level"] == "village"
        n_v = int(vil.sum())
        grade = np.full(len(df), None, dtype=object)
        g = rng.choice(len(GRADES), n_v, p=GRADE_P)
        grade[vil.to_numpy()] = np.where(GRADES[g] == "", None, GRADES[g])
        wvc = np.full(len(df), None, dtype=object)
        wvc[vil.to_numpy()] = np.where(g <= 1, "done", np.where(g == 2, rng.choice(["done", "in_progress"], n_v),
                                                             rng.choice(["in_progress", "not_started"], n_v, p=[.3, .7])))
        df["credit_village_grade"] = grade
        df["whole_village_credit"] = wvc
        df["schematic"] = df["level"] != "county"
        # households per village: uneven, as villages are
        weights = rng.lognormal(0, 0.45, n_v)
        hh = np.maximum(20, np.round(weights / weights.sum() * self.n_hh)).astype(int)
        reg = np.full(len(df), None, dtype=object)
        reg[vil.to_numpy()] = (hh * rng.uniform(1.8, 2.6, n_v)).astype(int)
        df["registered_households"] = reg
        self.write(s.region, df[["code", "name", "level", "parent_code", "county_code", "geometry", "centroid_lon",
                                 "centroid_lat", "schematic", "credit_village_grade", "whole_village_credit",
                                 "registered_households"]])
        self.polys = grid.polygons
        self.village = df[vil].reset_index(drop=True).assign(households=hh, grade_idx=g,
                                                                 v_risk=rng.normal(0, 0.25, n_v))
        self.township = df[df["level"] == "township"].reset_index(drop=True)
        self.county_name = df.loc[df["level"] == "county", "name"].iloc[0]
        self.city_name = {"3203": "徐州市", "3213": "宿迁市", "3208": "淮安市"}.get(self.code[:4], "")

    def organisation(self) -> None:
        rng = self.rng
        tw = self.township
        # a branch for each township, or for a pair of small neighbouring ones
        vcount = self.village.groupby("parent_code").size().reindex(tw["code"]).fillna(0).to_numpy()
        order = np.argsort(tw["centroid_lon"].to_numpy() + tw["centroid_lat"].to_numpy())
        groups, pending = [], []
        for i in order:
            pending.append(i)
            if vcount[pending].sum() >= 18 or len(pending) == 2:
                groups.append(pending)
                pending = []
        if pending:
            groups.append(pending)
        branch_rows, links, outlets = [], [], []
        self.branch_of_township = {}
        for grp in groups:
            bid = int(self.ids.take("branch", 1)[0])
            main = tw.iloc[grp[0]]
            short = main["name"].replace("街道", "").replace("镇", "").replace("乡", "").replace("经济开发区", "开发区")
            branch_rows.append(dict(id=bid, code=f"B{bid:04d}", name=f"{short}支行", level="branch", parent_id=1,
                                    county_code=self.code, lon=main["centroid_lon"], lat=main["centroid_lat"]))
            for i in grp:
                t = tw.iloc[i]
                links.append(dict(branch_id=bid, township_code=t["code"]))
                self.branch_of_township[t["code"]] = bid
                oid = int(self.ids.take("branch", 1)[0])
                tshort = t["name"].replace("街道", "").replace("镇", "")
                outlets.append(dict(id=oid, code=f"O{oid:04d}", name=f"{tshort}分理处", level="outlet", parent_id=bid,
                                    county_code=self.code, lon=t["centroid_lon"] + rng.normal(0, 0.004),
                                    lat=t["centroid_lat"] + rng.normal(0, 0.004)))
        self.write(s.org_unit, pd.DataFrame(branch_rows))
        self.write(s.org_unit, pd.DataFrame(outlets))
        self.write(s.branch_township, pd.DataFrame(links))
        self.branches = pd.DataFrame(branch_rows)
        self.outlets = pd.DataFrame(outlets)
        self.village["branch_id"] = self.village["parent_code"].map(self.branch_of_township).astype(int)

    def managers(self) -> None:
        rng = self.rng
        v = self.village
        rows = []
        village_manager = np.zeros(len(v), dtype=int)
        for bid, grp in v.groupby("branch_id"):
            # about 330 households per manager, so 120-200 borrowers each
            n_m = int(max(1, min(len(grp), round(grp["households"].sum() / 330))))
            mids = self.ids.take("manager", n_m)
            outlet_ids = self.outlets.loc[self.outlets["parent_id"] == bid, "id"].to_numpy()
            for j, mid in enumerate(mids):
                rows.append(dict(id=int(mid), code=f"M{mid:05d}", branch_id=int(bid),
                                 outlet_id=int(outlet_ids[j % len(outlet_ids)]),
                                 hired_on=dt.date(2026 - int(rng.integers(1, 15)), int(rng.integers(1, 13)), 1),
                                 active=True))
            # split the branch's villages among its managers by size, largest first
            load = np.zeros(n_m)
            for idx in grp.sort_values("households", ascending=False).index:
                k = int(load.argmin())
                load[k] += v.at[idx, "households"]
                village_manager[idx] = mids[k]
        m = pd.DataFrame(rows)
        n = len(m)
        m["name"] = _names(rng, n)
        m["phone"] = _phones(rng, n)
        self.write(s.manager, m[["id", "code", "name", "phone", "branch_id", "outlet_id", "hired_on", "active"]])
        self.village["manager_id"] = village_manager
        self.write(s.grid_assignment, pd.DataFrame({"village_code": v["code"], "manager_id": village_manager,
                                                     "since": dt.date(2023, 1, 1), "until": None}))
        # latent traits: quality lowers risk, diligence drives task timeliness, a few are dishonest
        self.mgr = m.assign(quality=rng.normal(0, 1, n), diligence=rng.beta(8, 2, n),
                            dishonest=rng.random(n) < 0.06, effort=rng.lognormal(0, 0.3, n))
        self.mgr_index = {mid: i for i, mid in enumerate(m["id"])}

    def customers(self) -> None:
        rng = self.rng
        v = self.village
        vi = np.repeat(np.arange(len(v)), v["households"].to_numpy())
        n = len(vi)
        ids = self.ids.take("customer", n)
        seg = rng.choice(4, n, p=SEGMENT_P)
        income = np.round(SEGMENT_INCOME[seg] * rng.lognormal(0, 0.5, n), -2)
        size = np.clip(rng.poisson(2.4, n) + 1, 1, 8)
        multi = rng.poisson(np.where(seg == 2, 0.9, 0.45))
        birth = rng.integers(1956, 2001, n)
        mgr_idx = np.array([self.mgr_index[m] for m in v["manager_id"].to_numpy()])[vi]
        quality = self.mgr["quality"].to_numpy()[mgr_idx]
        latent = (SEGMENT_RISK[seg] - 0.35 * np.log(income / SEGMENT_INCOME[seg]) + 0.38 * multi
                  + GRADE_RISK[v["grade_idx"].to_numpy()[vi]] + v["v_risk"].to_numpy()[vi]
                  - 0.22 * quality + rng.normal(0, 0.55, n) + 0.012 * (birth - 1980).clip(0, None))
        deposits = np.round(income * rng.lognormal(-0.6, 0.9, n) * np.exp(-0.3 * latent), -1)
        assets = np.round(income * rng.lognormal(1.2, 0.6, n), -3)
        liabilities = np.round(assets * rng.beta(1.5, 5, n) * (1 + 0.3 * multi), -3)
        age = 2026 - birth
        ebank = rng.random(n) < _sigmoid(1.2 - 0.05 * (age - 40) + 0.4 * np.log(income / 60_000))
        third = rng.random(n) < _sigmoid(1.6 - 0.06 * (age - 40))
        sscard = rng.random(n) < 0.78
        grade = v["grade_idx"].to_numpy()[vi]
        credit_hh = (grade <= 2) & (rng.random(n) < _sigmoid(1.0 - 1.2 * latent))
        created_days = rng.integers(0, 3650, n)
        created = self.asof - created_days.astype("timedelta64[D]")
        source = np.where(created_days < 900, rng.choice(5, n, p=[0.3, 0.3, 0.15, 0.15, 0.1]),
                          rng.choice(5, n, p=[0.6, 0.2, 0.15, 0.0, 0.05]))
        pts = np.zeros((n, 2))
        for k, code in enumerate(v["code"]):
            sel = vi == k
            pts[sel] = geo.jitter_in(self.polys[code], int(sel.sum()), rng)
        tw_name = v["parent_code"].map(self.township.set_index("code")["name"]).to_numpy()[vi]
        address = [f"江苏省{self.city_name}{self.county_name}{t}{vn}{g}组{h}号" for t, vn, g, h in
                   zip(tw_name, v["name"].to_numpy()[vi], rng.integers(1, 12, n), rng.integers(1, 80, n))]
        gender = rng.choice(["M", "F"], n, p=[0.72, 0.28])
        surnames, names = _names(rng, n, split=True)
        cust = pd.DataFrame(dict(
            id=ids, customer_no=[f"C{self.code[-4:]}{i:08d}" for i in ids], name=names,
            id_number=_id_numbers(rng, self.code, birth, gender), phone=_phones(rng, n), address=address,
            gender=gender, birth_year=birth, village_code=v["code"].to_numpy()[vi],
            branch_id=v["branch_id"].to_numpy()[vi], manager_id=v["manager_id"].to_numpy()[vi],
            segment=SEGMENTS[seg], industry=[INDUSTRY[sg][j % len(INDUSTRY[sg])] for sg, j in
                                             zip(SEGMENTS[seg], rng.integers(0, 5, n))],
            household_size=size, annual_income=income, assets=assets, liabilities=liabilities,
            deposit_balance=deposits, multi_lending_count=multi, has_ebank=ebank, has_third_party_pay=third,
            has_social_security_card=sscard, credit_household=credit_hh, source=SOURCES[source],
            created_on=pd.to_datetime(created), lon=np.round(pts[:, 0], 6), lat=np.round(pts[:, 1], 6)))
        # written in loans(), once the customer's first line and application are known: a customer is registered
        # before either (see _register)
        self.members = self._members(cust, size, surnames, birth)
        self.cust = cust.assign(latent=latent, seg_idx=seg, grade_idx=grade, age=age, mgr_idx=mgr_idx,
                                surname=surnames)
        self._tags(cust, latent, multi)

    def fact_history(self) -> None:
        """The changing attributes' history (data_access.facts): each customer's income, deposits, other lenders,
        household size and credit-household flag changed at two months of the window (today's values from the
        second); a quarter of the graded villages were one grade lower before a month of the window. Its own
        random stream, so the rest of the bank is the one the seed always gave."""
        rng = np.random.default_rng([int(self.code), 17])
        c = self.cust
        n = len(c)
        first = idx_month(self.end - HISTORY_MONTHS - 12)
        cut0 = rng.integers(self.w0 + 1, self.end, n)
        cuts = np.stack([cut0, cut0 + rng.integers(1, self.end - cut0 + 1)], axis=1)
        income2 = c["annual_income"].to_numpy(float)
        income1 = np.round(income2 / rng.lognormal(0.05, 0.08, n), -2)
        income0 = np.round(income1 / rng.lognormal(0.05, 0.08, n), -2)
        dep2 = c["deposit_balance"].to_numpy(float)
        dep1 = np.round(dep2 * rng.lognormal(0, 0.35, n), -1)
        dep0 = np.round(dep1 * rng.lognormal(0, 0.35, n), -1)
        multi2 = c["multi_lending_count"].to_numpy(int)
        multi1 = np.maximum(0, multi2 - (rng.random(n) < 0.25))
        multi0 = np.maximum(0, multi1 - (rng.random(n) < 0.2))
        size2 = c["household_size"].to_numpy(int)
        size1 = np.clip(size2 - (rng.random(n) < 0.08), 1, 8)
        ch2 = c["credit_household"].to_numpy(bool)
        ch1 = ch2 & (rng.random(n) > 0.1)
        ch0 = ch1 & (rng.random(n) > 0.1)
        starts = [np.full(n, first, dtype=object), idx_month(cuts[:, 0]), idx_month(cuts[:, 1])]
        ends = [starts[1], starts[2], np.full(n, None, dtype=object)]
        parts = [pd.DataFrame(dict(customer_id=c["id"].to_numpy(), valid_from=a, valid_to=b, annual_income=inc,
                                   deposit_balance=dep, multi_lending_count=mu, household_size=sz, credit_household=ch))
                 for a, b, inc, dep, mu, sz, ch in zip(starts, ends, (income0, income1, income2), (dep0, dep1, dep2),
                                                      (multi0, multi1, multi2), (size1, size1, size2), (ch0, ch1, ch2))]
        self.write(s.customer_fact, pd.concat(parts, ignore_index=True))
        v = self.village
        grade = v["credit_village_grade"].to_numpy(object) if "credit_village_grade" in v else np.full(len(v), None)
        lower = {"AAA": "AA", "AA": "A", "A": None}
        changed = np.array([g in lower for g in grade]) & (rng.random(len(v)) < 0.25)
        cut = idx_month(rng.integers(self.w0 + 1, self.end + 1, len(v)))
        rows = [dict(code=code, valid_from=first, valid_to=None if not ch else m, credit_village_grade=lower[g] if ch else g)
                for code, g, ch, m in zip(v["code"], grade, changed, cut)]
        rows += [dict(code=code, valid_from=m, valid_to=None, credit_village_grade=g)
                 for code, g, ch, m in zip(v["code"], grade, changed, cut) if ch]
        self.write(s.region_fact, pd.DataFrame(rows))

    # the members listed of a household of n: the spouse, then children and parents in turn
    MEMBER_ORDER = np.array(["spouse", "child", "parent", "child", "parent", "child", "child"])

    def _members(self, cust, size, surnames, birth) -> pd.DataFrame:
        """Every other member of each household (household_size − 1 of them), born when a spouse, child or parent
        of the customer can be, with an occupation that fits the age in the as-of year."""
        rng = self.rng
        k = np.clip(size - 1, 0, len(self.MEMBER_ORDER))
        owner = np.repeat(np.arange(len(cust)), k)
        pos = np.concatenate([np.arange(x) for x in k]) if len(k) else np.array([], dtype=int)
        relation = self.MEMBER_ORDER[pos]
        year = int(str(self.asof)[:4])
        by = birth[owner] + np.where(relation == "spouse", rng.integers(-3, 4, len(owner)),
                                     np.where(relation == "child", rng.integers(22, 34, len(owner)),
                                              -rng.integers(22, 32, len(owner))))
        # a parent over 92 is listed as a child instead; no child born after the as-of year
        old = (relation == "parent") & (year - by > 92)
        relation = np.where(old, "child", relation)
        by = np.where(old, birth[owner] + rng.integers(22, 34, len(owner)), by)
        by = np.minimum(by, year - 1)
        given = _names(rng, len(owner), given_only=True)
        name = np.where(relation == "spouse", _names(rng, len(owner)), np.char.add(surnames[owner].astype(str), given.astype(str)))
        age = year - by
        work = rng.choice(["务农", "务工", "个体经营", "教师", "家务"], len(owner), p=[.38, .32, .14, .04, .12])
        senior = rng.choice(["退休", "务农", "家务"], len(owner), p=[.35, .45, .2])
        occ = np.select([age < 6, age <= 22, age >= 62], ["学龄前", "学生", senior], work)
        # size matches the members listed (households above 8 are not drawn)
        cust["household_size"] = k + 1
        return pd.DataFrame(dict(id=self.ids.take("member", len(owner)), customer_id=cust["id"].to_numpy()[owner],
                                 name=name, relation=relation, birth_year=by, occupation=occ))

    def _register(self, first_event: np.ndarray) -> None:
        """Write the customers and their households: each registered (created_on) no later than a few days to
        months before its first credit line or application (``first_event``, datetime64[D] a customer, NaT when
        none)."""
        c = self.cust
        created = c["created_on"].to_numpy().astype("datetime64[D]")
        lead = self.rng.integers(3, 200, len(c)).astype("timedelta64[D]")
        has = ~np.isnat(first_event)
        created = np.where(has, np.minimum(created, first_event - lead), created)
        c["created_on"] = pd.to_datetime(created)
        cols = [col.name for col in s.customer.c if col.name in c.columns]
        self.write(s.customer, c[cols])
        self.write(s.household_member, self.members)

    def _tags(self, cust, latent, multi) -> None:
        tags = []
        c = cust
        tags.append(pd.DataFrame({"customer_id": c["id"][c["credit_household"]], "tag_type": "fact", "tag": "信用户"}))
        tags.append(pd.DataFrame({"customer_id": c["id"][c["segment"] == "grower"], "tag_type": "fact",
                                  "tag": "种养大户"}))
        tags.append(pd.DataFrame({"customer_id": c["id"][c["segment"] == "business"], "tag_type": "fact",
                                  "tag": "个体工商户"}))
        tags.append(pd.DataFrame({"customer_id": c["id"][c["has_ebank"]], "tag_type": "fact", "tag": "手机银行"}))
        tags.append(pd.DataFrame({"customer_id": c["id"][c["deposit_balance"] > 200_000], "tag_type": "fact",
                                  "tag": "存款大户"}))
        tags.append(pd.DataFrame({"customer_id": c["id"][multi >= 3], "tag_type": "risk", "tag": "多头借贷"}))
        tags.append(pd.DataFrame({"customer_id": c["id"][c["liabilities"] > c["assets"] * 0.6], "tag_type": "risk",
                                  "tag": "负债率高"}))
        tags.append(pd.DataFrame({"customer_id": c["id"][latent > np.quantile(latent, 0.995)], "tag_type": "risk",
                                  "tag": "涉诉记录"}))
        self.tags_extra: list[pd.DataFrame] = []
        self.tags_base = pd.concat(tags, ignore_index=True)

    # ------------------------------------------------------------ lines, applications, loans
    def loans(self) -> None:
        rng = self.rng
        c = self.cust
        n = len(c)
        latent = c["latent"].to_numpy()
        seg = c["seg_idx"].to_numpy()
        grade = c["grade_idx"].to_numpy()
        # 授信: about 60 % of households, more in graded and whole-village-credit villages, less for risky ones
        p_line = _sigmoid(0.55 - 0.9 * latent + np.where(grade <= 1, 0.6, np.where(grade == 2, 0.2, -0.35)))
        has_line = rng.random(n) < p_line
        li = np.flatnonzero(has_line)
        n_l = len(li)
        prod_line = np.array([rng.choice(6, p=PRODUCT_BY_SEGMENT[sg]) for sg in seg[li]]) if n_l else np.array([], int)
        limit = np.round(AMOUNT_MEDIAN[seg[li]] * rng.lognormal(0.15, 0.45, n_l) * np.exp(-0.2 * latent[li]), -4)
        limit = np.maximum(limit, 10_000)
        line_ids = self.ids.take("line", n_l)

        # loan chains: each line holder borrows, renews at maturity (续贷) with some probability, and so on
        active_p = _sigmoid(2.4 - 0.3 * latent[li])
        borrower = rng.random(n_l) < active_p
        cand_line = np.flatnonzero(borrower)
        # a second concurrent chain for some business and grower customers
        second = cand_line[(seg[li[cand_line]] >= 1) & (seg[li[cand_line]] <= 2) & (rng.random(len(cand_line)) < 0.25)]
        chain_line = np.concatenate([cand_line, second])
        chain_prod = prod_line[chain_line].copy()
        chain_prod[len(cand_line):] = np.where(seg[li[second]] == 2, 2, 1)
        terms = np.array([p[4] for p in PRODUCTS])
        seasonal = np.array([p[6] for p in PRODUCTS])
        first = self.end - HISTORY_MONTHS + 1
        # seasonal products start in spring (Feb-Apr) or autumn (Sep-Oct) planting seasons
        # most chains run since before the history window; the rest are new borrowers joining over time
        early = rng.random(len(chain_line)) < 0.6
        start = first + np.where(early, rng.integers(-terms[chain_prod] + 1, 12), rng.integers(12, HISTORY_MONTHS, len(chain_line)))
        season_month = rng.choice([1, 2, 3, 8, 9], len(chain_line), p=[.25, .3, .2, .15, .1])
        start = np.where(seasonal[chain_prod], start - (start % 12) + season_month, start)
        rows_line, rows_prod, rows_start = [], [], []
        cur = start.copy()
        alive = np.ones(len(chain_line), bool)
        for _gen in range(8):
            ok = alive & (cur <= self.end)
            rows_line.append(chain_line[ok]); rows_prod.append(chain_prod[ok]); rows_start.append(cur[ok])
            cur = cur + terms[chain_prod] + rng.choice([0, 0, 1, 2, 4], len(cur))
            alive = alive & (rng.random(len(cur)) < _sigmoid(2.3 - 0.5 * latent[li[chain_line]]))
        L_line = np.concatenate(rows_line)
        L_prod = np.concatenate(rows_prod)
        L_start = np.concatenate(rows_start)
        keep = L_start + terms[L_prod] + 18 >= first  # drop chains that ended long before the history window
        L_line, L_prod, L_start = L_line[keep], L_prod[keep], L_start[keep]
        L_cust = li[L_line]
        # a line is granted before its first loan and stays valid past its last one (renewed at review);
        # lines without loans were granted over the last five years, many in whole-village campaigns
        terms_l = terms[L_prod]
        first_use = np.full(n_l, 10**9)
        np.minimum.at(first_use, L_line, L_start)
        last_end = np.full(n_l, -1)
        np.maximum.at(last_end, L_line, L_start + terms_l)
        used = first_use < 10**9
        # granted in a month before the first loan's (granted on the 10th, the loan disbursed from the 1st)
        granted = np.where(used, first_use - rng.integers(1, 4, n_l), self.end - rng.integers(0, 60, n_l))
        expires = np.maximum(granted + 36, np.where(used, last_end + 12, 0))
        whole_village = self.village["whole_village_credit"].to_numpy()
        vpos = pd.Series(np.arange(len(self.village)), index=self.village["code"]).loc[c["village_code"].to_numpy()[li]]
        lines = pd.DataFrame(dict(id=line_ids, customer_id=c["id"].to_numpy()[li], product_id=prod_line + 1,
                                  limit_amount=limit, granted_on=pd.to_datetime(month_start(granted) + 9),
                                  expires_on=pd.to_datetime(month_start(expires) + 8),
                                  status=np.where(expires > self.end, "active", "expired"),
                                  whole_village=whole_village[vpos.to_numpy()] == "done"))

        # applications: a noisy reading of latent risk; rejected ones create no loan
        score = _score(rng, latent[L_cust])
        approved = score >= CURRENT_CUTOFF
        # applicants without a line: mostly riskier, mostly rejected
        outsiders = np.flatnonzero(~has_line)
        o = rng.choice(outsiders, min(len(outsiders), int(0.5 * len(outsiders))), replace=False) if len(outsiders) else np.array([], int)
        o_score = _score(rng, latent[o] + 0.6)
        o_prod = np.array([rng.choice(6, p=PRODUCT_BY_SEGMENT[sg]) for sg in seg[o]]) if len(o) else np.array([], int)
        o_start = self.end - rng.integers(0, HISTORY_MONTHS, len(o))
        o_app = o_score >= CURRENT_CUTOFF + 20
        # an approved outsider gets a loan without a standing line (e.g. a one-off business loan)
        loan_cust = np.concatenate([L_cust[approved], o[o_app]])
        loan_prod = np.concatenate([L_prod[approved], o_prod[o_app]])
        loan_start = np.concatenate([L_start[approved], o_start[o_app]])
        loan_line = np.concatenate([line_ids[L_line[approved]], np.full(int(o_app.sum()), -1)])
        app_cust = np.concatenate([L_cust, o])
        app_prod = np.concatenate([L_prod, o_prod])
        app_start = np.concatenate([L_start, o_start])
        app_score = np.concatenate([score, o_score])
        app_ok = np.concatenate([approved, o_app])
        app_ids = self.ids.take("application", len(app_cust))
        app_loan_pos = np.full(len(app_cust), -1)
        # the customer is registered before its first line and its first application (a loan follows both)
        first_event = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        ev = pd.Series(np.concatenate([lines["granted_on"].to_numpy().astype("datetime64[D]"), month_start(app_start)]),
                       index=np.concatenate([li, app_cust])).groupby(level=0).min()
        first_event[ev.index.to_numpy()] = ev.to_numpy().astype("datetime64[D]")
        self._register(first_event)
        self.write(s.credit_line, lines)
        app_loan_pos[np.flatnonzero(app_ok)] = np.arange(int(app_ok.sum()))

        # loan amounts and terms
        nL = len(loan_cust)
        amount = np.round(AMOUNT_MEDIAN[seg[loan_cust]] * rng.lognormal(0, 0.5, nL) * np.exp(-0.15 * latent[loan_cust]), -3)
        amount = np.clip(amount, 5_000, 3_000_000)
        has_l = loan_line > 0
        line_limit = pd.Series(limit, index=line_ids)
        amount[has_l] = np.minimum(amount[has_l], line_limit.loc[loan_line[has_l]].to_numpy())
        term = terms[loan_prod]
        rate = np.array([p[5] for p in PRODUCTS])[loan_prod] + np.where(c["credit_household"].to_numpy()[loan_cust], -0.004, 0.0)
        amort = np.array([p[7] for p in PRODUCTS])[loan_prod]

        # the finished champion/challenger test: cases entering in its months get an arm from their (future) ids
        test = (self.end - TEST_AGO, self.end - TEST_AGO + TEST_MONTHS - 1, self.ids.case)
        sim = _simulate(rng, latent[loan_cust], loan_start, term, amount, amort, seasonal[loan_prod],
                        self.w0, self.end, self.agency_quality(), self._lenient()[c["mgr_idx"].to_numpy()[loan_cust]],
                        test)
        self.sim = sim
        loan_ids = self.ids.take("loan", nL)
        day = rng.integers(1, 28, nL)
        disb = month_start(loan_start) + day.astype("timedelta64[D]")
        status = np.where(sim.written_off_at >= 0, "written_off", np.where(sim.closed_at >= 0, "paid_off", "active"))
        closed_idx = np.where(sim.written_off_at >= 0, sim.written_off_at, sim.closed_at)
        closed_on = np.where(closed_idx >= 0, month_start(np.maximum(closed_idx, 0)) + np.minimum(day, 27).astype("timedelta64[D]"),
                             np.datetime64("NaT"))
        cc = c.iloc[loan_cust]
        loans = pd.DataFrame(dict(
            id=loan_ids, loan_no=[f"L{self.code[-4:]}{i:09d}" for i in loan_ids], customer_id=cc["id"].to_numpy(),
            product_id=loan_prod + 1, credit_line_id=np.where(has_l, loan_line, None),
            application_id=app_ids[app_ok], branch_id=cc["branch_id"].to_numpy(), manager_id=cc["manager_id"].to_numpy(),
            village_code=cc["village_code"].to_numpy(), segment=cc["segment"].to_numpy(), disbursed_on=pd.to_datetime(disb),
            disbursed_month=idx_month(loan_start), maturity_on=pd.to_datetime(month_start(loan_start + term) + day.astype("timedelta64[D]")),
            amount=amount, annual_rate=np.round(rate, 4), term_months=term,
            guarantee_type=np.array([p[3] for p in PRODUCTS])[loan_prod], status=status,
            closed_on=pd.to_datetime(closed_on),
            restructured_on=pd.to_datetime(np.where(sim.restructured_at >= 0, month_start(np.maximum(sim.restructured_at, 0))
                                                    + np.minimum(day, 27).astype("timedelta64[D]"), np.datetime64("NaT")))))
        # outcome: ever 90+ (M4+) within 12 months on book
        first_bad_mob = np.where(sim.first_m4 >= 0, sim.first_m4 - loan_start, 9999)
        known = (self.end - loan_start >= 12) | (first_bad_mob <= 12)
        bad = first_bad_mob <= 12
        ca = c.iloc[app_cust]
        v_grade = GRADES[ca["grade_idx"].to_numpy()]
        apps = pd.DataFrame(dict(
            id=app_ids, customer_id=ca["id"].to_numpy(), product_id=app_prod + 1, branch_id=ca["branch_id"].to_numpy(),
            applied_on=pd.to_datetime(month_start(app_start) + np.maximum(rng.integers(1, 28, len(app_cust)) - 5, 0).astype("timedelta64[D]")),
            month=idx_month(app_start),
            amount_requested=np.round(AMOUNT_MEDIAN[ca["seg_idx"].to_numpy()] * rng.lognormal(0, 0.5, len(app_cust)), -3),
            score=app_score.astype(int), decision=np.where(app_ok, "approved", "rejected"),
            reject_reason=np.where(app_ok, None, rng.choice(["评分不足", "多头借贷", "负债过高", "征信不良"], len(app_cust))),
            approved_amount=np.where(app_ok, amount[np.maximum(app_loan_pos, 0)], np.nan),
            age=(ca["age"].to_numpy() - (self.end - app_start) // 12), annual_income=ca["annual_income"].to_numpy(),
            multi_lending_count=ca["multi_lending_count"].to_numpy(), deposit_balance=ca["deposit_balance"].to_numpy(),
            household_size=ca["household_size"].to_numpy(), segment=ca["segment"].to_numpy(),
            credit_village_grade=np.where(v_grade == "", None, v_grade), credit_household=ca["credit_household"].to_numpy(),
            outcome_known=np.where(app_ok, known[np.maximum(app_loan_pos, 0)], False),
            bad_12m=np.where(app_ok & known[np.maximum(app_loan_pos, 0)], bad[np.maximum(app_loan_pos, 0)], None)))
        apps["approved_amount"] = apps["approved_amount"].where(app_ok, None)
        self.write(s.application, apps)
        self.write(s.loan, loans)
        self.loan_df = loans.assign(start=loan_start, day=day, cust_pos=loan_cust, amort=amort, term=term)
        self._snapshots_and_repayments()
        risk_tag = cc["id"].to_numpy()[sim.first_m4 >= 0]
        self.tags_extra.append(pd.DataFrame({"customer_id": np.unique(cc["id"].to_numpy()[sim.ever_delinquent]),
                                             "tag_type": "risk", "tag": "曾逾期"}))
        self.tags_extra.append(pd.DataFrame({"customer_id": np.unique(risk_tag), "tag_type": "risk", "tag": "不良记录"}))
        self.write(s.customer_tag, pd.concat([self.tags_base] + self.tags_extra).drop_duplicates())

    def _lenient(self) -> np.ndarray:
        """Per manager, the chance that a loan of theirs is reported one class better than the rules allow when
        it turns NPL or is restructured: in two branches half the managers under-classify most such loans, a
        few elsewhere do; everyone else slips rarely."""
        rng = self.rng
        m = self.mgr
        branches = m["branch_id"].unique()
        soft = rng.choice(branches, min(2, len(branches)), replace=False)
        bad = np.where(np.isin(m["branch_id"], soft), rng.random(len(m)) < 0.5, rng.random(len(m)) < 0.04)
        return np.where(bad, rng.uniform(0.5, 0.8, len(m)), 0.01)

    def agency_quality(self) -> np.ndarray:
        return np.array([a[4] for a in AGENCIES])

    def _snapshots_and_repayments(self) -> None:
        """The month-end snapshots and the scheduled repayments the simulation gives; written by :meth:`_ledger` once
        the collected payments are known, which lower the balances too."""
        sim, L = self.sim, self.loan_df
        rows = sim.snap
        li = rows["loan"]
        month = rows["t"]
        snap = pd.DataFrame(dict(loan_id=L["id"].to_numpy()[li], month=idx_month(month),
                                 mob=month - L["start"].to_numpy()[li], balance=np.round(rows["balance"], 2),
                                 overdue_amount=np.round(rows["overdue"], 2), dpd=rows["dpd"],
                                 bucket=np.minimum(rows["m"], 4), class5=rows["class5"], floor_class5=rows["floor"],
                                 floor_reasons=rows["reasons"]))
        for dim in s.SNAPSHOT_DIMS:  # point in time: a demo loan never moves, so its own row's
            snap[dim] = L[dim].to_numpy()[li]
        # scheduled repayments: monthly for amortising loans, quarterly interest plus principal at maturity otherwise
        cur = rows["m"] == 0
        mob = month - L["start"].to_numpy()[li]
        amort = L["amort"].to_numpy()[li]
        due = cur & (mob >= 1) & (amort | (mob % 3 == 0) | rows["paid_off"])
        amt = L["amount"].to_numpy()[li]
        rate = L["annual_rate"].to_numpy()[li]
        term = L["term"].to_numpy()[li]
        principal = np.where(amort, amt / term, np.where(rows["paid_off"], amt, 0.0))
        principal = np.where(rows["paid_off"] & amort, rows["balance_before"], principal)
        interest = np.where(amort, rows["balance_before"] * rate / 12, amt * rate / 4)
        d = np.flatnonzero(due)
        day = L["day"].to_numpy()[li[d]]
        rep = pd.DataFrame(dict(id=self.ids.take("repayment", len(d)), loan_id=L["id"].to_numpy()[li[d]],
                                paid_on=pd.to_datetime(month_start(month[d]) + (day - 1).astype("timedelta64[D]")),
                                month=idx_month(month[d]), principal=np.round(principal[d], 2),
                                interest=np.round(interest[d], 2), case_id=None))
        # what collected payments leave owing at a month end: the balance the contract schedules (principal paid on
        # time, none in advance), and past maturity one instalment's principal (the loan is still on the book)
        instalment = np.round(amt / term, 2)
        contract = np.where(mob >= term, instalment, np.where(amort, amt - np.maximum(mob, 0) * instalment, amt))
        self.scheduled = (snap, rep, d, contract)

    def _ledger(self, collected: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
        """Writes the snapshots and the scheduled repayments with the balances following every repayment: month by
        month, balance(m) − balance(m + 1) = the principal repaid in m + 1 (#16: collected principal never lowered
        the balance, and a cure after maturity paid the loan twice).

        A collected payment is principal for its usual share (``collected``'s principal) as far as the loan owes it:
        while on the book, what is overdue beyond the contract's schedule (no principal in advance through a case,
        so a bullet loan's overdue before maturity is interest; past maturity a loan the simulation keeps on the book
        keeps owing one instalment's principal); the month it is paid off or written off, its balance; after a
        write-off, what was written off (recoveries); after a payoff, nothing. The rest of the payment is interest
        and penalty, so every payment's amount stays what the case collected. The month a loan is paid off (an M4+
        case settled after maturity too: its discount is on what the case collected, as before), its scheduled
        repayment takes what the collected ones left; a loan written off keeps the balance left as its write-off
        (核销). Returns ``collected`` with its principal and interest so split, the month-end balances by (loan id,
        month) and the amounts written off by loan id."""
        sim, L = self.sim, self.loan_df
        snap, sched, d, contract = self.scheduled
        rows = sim.snap
        n = len(L)
        pos = pd.Series(np.arange(n), index=L["id"].to_numpy())
        li, month, payoff = rows["loan"], rows["t"], rows["paid_off"]
        cents = lambda x: np.round(np.asarray(x, dtype=float) * 100).astype(np.int64)  # noqa: E731
        before = cents(rows["balance_before"])
        due = np.zeros(len(li), np.int64)
        due[d] = cents(sched["principal"].to_numpy())
        floor = cents(contract)
        total = cents(collected["principal"].to_numpy() + collected["interest"].to_numpy())
        asked = np.minimum(cents(collected["principal"].to_numpy()), total)
        c_loan = pos.loc[collected["loan_id"].to_numpy()].to_numpy()
        c_month = np.array([month_idx(x) for x in collected["month"]], dtype=int)
        wo_at = sim.written_off_at
        balance = np.full(n, -1, np.int64)    # the month before's balance; -1 before the loan's first month here
        written = np.zeros(n, np.int64)       # written off and not yet recovered
        write_off = np.full(n, -1, np.int64)  # the amount written off
        state = np.zeros(n, np.int8)          # 0 not seen, 1 on the book, 2 paid off, 3 written off
        out_balance = np.zeros(len(li), np.int64)
        out_due = np.zeros(len(li), np.int64)
        out_paid = np.zeros(len(collected), np.int64)
        order = np.lexsort((np.arange(len(collected)), c_loan, c_month))
        for t in range(min(self.w0, int(c_month.min(initial=self.w0))), self.end + 1):
            r = np.flatnonzero(month == t)
            lr = li[r]
            first = balance[lr] < 0
            balance[lr[first]] = before[r[first]]
            on, off = ~payoff[r], payoff[r]
            # what collected payments may repay of each loan this month
            cap = np.where(state == 2, 0, np.where(state == 3, written, np.iinfo(np.int64).max))
            pay = np.where(on, np.minimum(due[r], balance[lr]), 0)
            cap[lr] = np.where(on, np.maximum(balance[lr] - pay - floor[r], 0), balance[lr])
            gone = np.flatnonzero((wo_at == t) & (state == 1))
            cap[gone] = balance[gone]
            k = order[c_month[order] == t]
            if len(k):
                kl = c_loan[k]
                ask = asked[k]
                # within a loan's month, its payments repay in turn until the cap is reached
                cum = pd.Series(ask).groupby(kl).cumsum().to_numpy()
                got = np.clip(cap[kl] - (cum - ask), 0, ask)
                out_paid[k] = got
                repaid = np.bincount(kl, weights=got, minlength=n).astype(np.int64)
            else:
                repaid = np.zeros(n, np.int64)
            pay[off] = balance[lr[off]] - repaid[lr[off]]
            out_due[r] = pay
            out_balance[r] = np.where(on, balance[lr] - pay - repaid[lr], 0)
            recovered = state == 3
            written[recovered] -= repaid[recovered]
            written[gone] = balance[gone] - repaid[gone]
            write_off[gone] = written[gone]
            state[gone] = 3
            balance[lr] = out_balance[r]
            state[lr] = np.where(on, 1, 2)
        snap["balance"] = out_balance / 100
        snap["overdue_amount"] = np.minimum(cents(snap["overdue_amount"].to_numpy()), out_balance) / 100
        self.write(s.loan_snapshot, snap[~payoff])
        # a payoff the collected payments made has no scheduled repayment left
        sched["principal"] = out_due[d] / 100
        self.write(s.repayment, sched[(out_due[d] > 0) | ~payoff[d]])
        collected = collected.copy()
        collected["principal"] = out_paid / 100
        collected["interest"] = np.round((total - out_paid) / 100, 2)
        book = snap[~payoff]
        balance_at = pd.Series(book["balance"].to_numpy(), index=pd.MultiIndex.from_arrays([book["loan_id"], book["month"]]))
        gone = write_off >= 0
        return collected, balance_at, pd.Series(write_off[gone] / 100, index=L["id"].to_numpy()[gone])

    # ------------------------------------------------------------ collections
    def collections(self) -> None:
        rng = self.rng
        sim, L = self.sim, self.loan_df
        e = sim.entries  # one per (loan, month) when the loan enters a new delinquency bucket within the window
        n = len(e["loan"])
        li = e["loan"]
        ids = self.ids.take("case", n)
        ch = e["channel"]
        agency_id = np.where(e["agency"] >= 0, e["agency"] + 1, None)
        outcome = e["outcome"]  # cured | rolled | written_off | open | settled
        recovered = np.round(e["recovered"], 2)
        n_actions = np.clip(rng.poisson(np.where(ch <= 1, 3, 2)) + 1, 1, 8)
        cost_actions = np.array([CHANNEL_COST[CHANNELS[k]] for k in ch]) * n_actions
        commission = np.where(e["agency"] >= 0, np.array([a[2] for a in AGENCIES] + [0])[e["agency"]] * recovered, 0)
        cost = np.round(cost_actions + commission, 2)
        complaints = rng.poisson(np.where(e["agency"] >= 0, 0.03 * (2.2 - np.array([a[4] for a in AGENCIES] + [1])[e["agency"]]), 0.004))
        breaches = rng.poisson(np.where(e["agency"] >= 0, 0.01 * (2.4 - np.array([a[4] for a in AGENCIES] + [1])[e["agency"]]), 0.0))
        entry_date = month_start(e["t"]) + np.minimum(L["day"].to_numpy()[li], 27).astype("timedelta64[D]")
        closed = np.where(e["closed_t"] >= 0, month_start(np.maximum(e["closed_t"], 0)) + 20, np.datetime64("NaT"))
        # the newest open cases have not been through the allocation run yet: no channel, no work, no cost
        pending = (outcome == "open") & (entry_date > self.asof - np.timedelta64(PENDING_DAYS, "D")) & (ch != 7)
        channel_names = np.where(pending, "pending", np.array(CHANNELS)[ch])
        agency_id = np.where(pending, None, agency_id)
        n_actions = np.where(pending, 0, n_actions)
        cost = np.where(pending, 0.0, cost)
        complaints = np.where(pending, 0, complaints)
        breaches = np.where(pending, 0, breaches)
        # litigation moves through its stages over months; a closed suit is 'closed'
        age = self.end - e["t"]
        stage = np.array(LEGAL_STAGES)[np.clip(np.searchsorted([2, 4, 7], age, side="right"), 0, 3)]
        legal_stage = np.where((ch == 6) & ~pending, np.where(outcome == "open", stage, "closed"), None)
        cases = pd.DataFrame(dict(
            id=ids, case_no=[f"CS{self.code[-4:]}{i:08d}" for i in ids], loan_id=L["id"].to_numpy()[li],
            customer_id=L["customer_id"].to_numpy()[li], branch_id=L["branch_id"].to_numpy()[li],
            entry_month=idx_month(e["t"]), entry_date=pd.to_datetime(entry_date), entry_bucket=e["bucket"],
            entry_dpd=e["dpd"], overdue_at_entry=np.round(e["overdue"], 2), balance_at_entry=np.round(e["balance"], 2),
            channel=channel_names, agency_id=agency_id, status=outcome,
            closed_on=pd.to_datetime(closed), recovered_amount=recovered, cost=cost, complaints=complaints,
            compliance_breaches=breaches, legal_stage=legal_stage))
        # actions: each case's attempts; contact, promise and kept follow the channel and the outcome
        ci = np.repeat(np.arange(n), n_actions)
        k = np.concatenate([np.arange(x) for x in n_actions])
        chan = np.array(CHANNELS)[ch[ci]]
        contact_p = np.array([CONTACT_P[c] for c in CHANNELS])[ch[ci]]
        contacted = rng.random(len(ci)) < contact_p
        paid = outcome[ci] != "rolled"
        promise = contacted & (rng.random(len(ci)) < np.where(paid, 0.55, 0.25)) & (np.array(CHANNELS)[ch[ci]] != "sms")
        kept = np.where(promise, np.where(paid, rng.random(len(ci)) < 0.8, rng.random(len(ci)) < 0.12), None)
        action_on = entry_date[ci] + (k * rng.integers(2, 6, len(ci))).astype("timedelta64[D]")
        action_on = np.minimum(action_on, self.asof)
        # a promise falling due after the data end is not kept or broken yet
        kept = np.where(action_on + 7 > self.asof, None, kept)
        p_amount = np.where(promise, np.round(cases["overdue_at_entry"].to_numpy()[ci] * rng.uniform(0.5, 1.0, len(ci)), 0), np.nan)
        result = np.where(~contacted, "no_answer", np.where(promise, "promise_to_pay",
                                                            rng.choice(["refused", "hardship", "wrong_party", "will_call_back"], len(ci), p=[.3, .4, .05, .25])))
        acts = pd.DataFrame(dict(
            id=self.ids.take("action", len(ci)), case_id=ids[ci], action_on=pd.to_datetime(action_on), channel=chan,
            agency_id=agency_id[ci], contacted=contacted, promise_amount=p_amount,
            promise_date=pd.to_datetime(np.where(promise, action_on + 7, np.datetime64("NaT"))),
            promise_kept=kept, result=result, note=None,
            created_by=np.where(agency_id[ci] != None, "agency", "system")))  # noqa: E711
        acts["month"] = acts["action_on"].dt.strftime("%Y-%m")
        acts, breaches = self._contacts(acts, e["agency"][ci], cases)
        # the case's breach count is its contacts' breaches (the mart and the league sum it)
        per_case = breaches.groupby("case_id").size()
        cases["compliance_breaches"] = cases["id"].map(per_case).fillna(0).astype(int)
        # collected payments, linked to their case
        paid_i = np.flatnonzero(recovered > 0)
        rep = pd.DataFrame(dict(
            id=self.ids.take("repayment", len(paid_i)), loan_id=cases["loan_id"].to_numpy()[paid_i],
            paid_on=pd.to_datetime(np.where(e["closed_t"][paid_i] >= 0, closed[paid_i], entry_date[paid_i] + 15)),
            month=idx_month(np.where(e["closed_t"][paid_i] >= 0, e["closed_t"][paid_i], e["t"][paid_i])),
            principal=np.round(recovered[paid_i] * 0.9, 2), interest=np.round(recovered[paid_i] * 0.1, 2),
            case_id=ids[paid_i]))
        rep["paid_on"] = rep["paid_on"].clip(upper=pd.Timestamp(self.asof))
        plan_rows, inst_rows, rep = self._plans(cases, rep)
        rep, balance_at, written_off = self._ledger(rep)
        # a case's balance at entry is the loan's balance that month end after what was collected on it (a write-off
        # case's, what was written off)
        at_entry = balance_at.reindex(pd.MultiIndex.from_arrays([cases["loan_id"], cases["entry_month"]])).to_numpy(copy=True)
        wo_case = cases["channel"].to_numpy() == "write_off"
        at_entry[wo_case] = written_off.reindex(cases["loan_id"].to_numpy()[wo_case]).to_numpy()
        cases["balance_at_entry"] = np.where(np.isnan(at_entry), cases["balance_at_entry"], at_entry)
        self.write(s.collection_case, cases)
        self.write(s.collection_action, acts)
        self.write(s.contact_breach, breaches)
        self.write(s.repayment, rep)
        self.write(s.repayment_plan, plan_rows)
        self.write(s.repayment_plan_instalment, inst_rows)

    PLAN_NOTES = ("卖粮后分期还款", "外出务工工资到账后还款", "家庭困难，协商分期", "经营周转困难，分期偿还", "养殖出栏后还款", None, None)

    def _plans(self, cases: pd.DataFrame, rep: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Negotiated repayment plans (协商还款) on some worked cases, with the payments that follow them: a cured or
        settled case paid its plan (instalments on or a few days before their dates, now and then in the grace days);
        a case that rolled on or was written off paid some instalments, perhaps part of the next, then stopped; an
        open case pays as it goes (or has paid nothing: broken, back in collection). The payments are the case's
        recovered amount split over the plan, replacing its one collected payment, so the collection figures stay as
        they were; statuses come from judging them (:func:`data_access.plans.evaluate`). Own random stream."""
        rng, grace = self.plan_rng, 3
        asof = pd.Timestamp(self.asof).date()
        ch = cases["channel"].to_numpy()
        bucket = cases["entry_bucket"].to_numpy()
        chosen = np.flatnonzero(np.isin(ch, ("phone", "field", "agency", "mediation"))
                                & (rng.random(len(cases)) < np.where(bucket >= 2, 0.22, 0.06)))
        seen: set = set()
        plans_out, inst_out, pays = [], [], []
        for ix in chosen:
            c = cases.iloc[ix]
            if c["loan_id"] in seen:
                continue
            entry = pd.Timestamp(c["entry_date"]).date()
            agreed = entry + dt.timedelta(days=int(rng.integers(3, 11)))
            if agreed > asof - dt.timedelta(days=5):
                continue
            rec, over, status = round(float(c["recovered_amount"]), 2), float(c["overdue_at_entry"]), c["status"]
            closed = None if pd.isna(c["closed_on"]) else pd.Timestamp(c["closed_on"]).date()
            paid: list[tuple[dt.date, float]] = []
            if status in ("cured", "settled"):
                span = (closed - agreed).days if closed else 0
                if span < 10 or rec <= 0:
                    continue
                n = int(np.clip(span // 30, 1, 6))
                dues = [agreed + dt.timedelta(days=round(span * i / n)) for i in range(1, n + 1)]
                amounts = _split(rec, n)
                for due, a in zip(dues, amounts):
                    late = rng.random() < 0.2 and due < closed
                    day = due + dt.timedelta(days=int(rng.integers(1, grace + 1))) if late else \
                        due - dt.timedelta(days=int(rng.integers(0, 5)))
                    paid.append((min(max(day, agreed), asof), a))
            elif status in ("rolled", "written_off"):
                if closed is None or rec >= over - 1:
                    continue
                n = int(rng.integers(3, 7))
                amounts = _split(round(over, 2), n)
                k = int(np.searchsorted(np.cumsum(amounts), rec + 0.005, side="right"))  # instalments paid in full
                avail = (closed.replace(day=1) - agreed).days - grace - 1  # the break before the month it rolled
                if k >= n or avail < 7 * (k + 1):
                    continue
                spacing = min(30, avail // (k + 1))
                dues = [agreed + dt.timedelta(days=spacing * i) for i in range(1, n + 1)]
                paid = [(dues[i] - dt.timedelta(days=int(rng.integers(0, 4))), amounts[i]) for i in range(k)]
                rest = round(rec - sum(amounts[:k]), 2)
                if rest >= 0.01:
                    paid.append((dues[k] - dt.timedelta(days=int(rng.integers(0, 4))), rest))
            elif status == "open":
                if rec <= 0 and rng.random() < 0.6:  # agreed lately, nothing due yet (the others have broken theirs)
                    agreed = max(agreed, asof - dt.timedelta(days=int(rng.integers(5, 28))))
                n = int(rng.integers(3, 9))
                dues = [agreed + dt.timedelta(days=30 * i) for i in range(1, n + 1)]
                k_due = sum(d + dt.timedelta(days=grace) < asof for d in dues)
                if k_due >= n:
                    n = k_due + int(rng.integers(1, 4))
                    dues = [agreed + dt.timedelta(days=30 * i) for i in range(1, n + 1)]
                if rec > 0 and k_due >= 1:
                    each = rec / (k_due + rng.uniform(0.2, 0.8))
                    amounts = [round(each, 2)] * n
                    paid = [(dues[i] - dt.timedelta(days=int(rng.integers(0, 4))), amounts[i]) for i in range(k_due)]
                    rest = round(rec - sum(amounts[:k_due]), 2)
                    if rest >= 0.01:
                        paid.append((min(asof, dues[k_due] - dt.timedelta(days=int(rng.integers(0, 10)))), rest))
                else:
                    amounts = _split(round(over, 2), n)
                    if rec > 0:
                        paid = [(min(asof, agreed + dt.timedelta(days=int(rng.integers(0, 10)))), rec)]
                if sum(amounts) > float(c["balance_at_entry"]) + over:
                    continue
            else:
                continue
            seen.add(c["loan_id"])
            pid = int(self.ids.take("plan", 1)[0])
            agency = c["agency_id"]
            ag = None if agency is None or pd.isna(agency) else int(agency)
            plans_out.append(dict(
                id=pid, case_id=int(c["id"]), status="active", start_on=agreed, instalments=len(dues),
                total_amount=round(sum(amounts), 2), grace_days=grace,
                agreed_by=f"agency{ag}" if ag else "collector",
                agreed_at=dt.datetime.combine(agreed, dt.time(int(rng.integers(9, 18)), int(rng.integers(0, 60)))),
                debtor_party="guarantor" if rng.random() < 0.1 else "debtor", agency_id=ag,
                note=self.PLAN_NOTES[int(rng.integers(0, len(self.PLAN_NOTES)))], paid_amount=0.0, source="demo"))
            inst_out += [dict(plan_id=pid, seq=i, due_on=d, amount=a, paid_amount=0.0, status="pending")
                         for i, (d, a) in enumerate(zip(dues, amounts), start=1)]
            pays += [dict(loan_id=int(c["loan_id"]), paid_on=min(max(d, agreed), asof), amount=a, case_id=int(c["id"]))
                     for d, a in paid]
        planned = {p["case_id"] for p in plans_out}
        rep = rep[~rep["case_id"].isin(planned)]
        if pays:
            pay = pd.DataFrame(pays)
            principal = (pay["amount"] * 0.9).round(2)
            more = pd.DataFrame(dict(id=self.ids.take("repayment", len(pay)), loan_id=pay["loan_id"],
                                     paid_on=pd.to_datetime(pay["paid_on"]), month=pd.to_datetime(pay["paid_on"]).dt.strftime("%Y-%m"),
                                     principal=principal, interest=(pay["amount"] - principal).round(2),
                                     case_id=pay["case_id"]))
            rep = pd.concat([rep, more], ignore_index=True)
        cols_p = [c.name for c in s.repayment_plan.c]
        cols_i = [c.name for c in s.repayment_plan_instalment.c if c.name != "covered_on"]
        plan_df = pd.DataFrame(plans_out, columns=cols_p).drop(columns=["evaluated_on", "closed_on", "broken_seq"])
        # whole numbers and NULL (PostgreSQL's COPY refuses the float a None makes of the column)
        plan_df["agency_id"] = pd.Series([None if pd.isna(x) else int(x) for x in plan_df["agency_id"]], dtype=object,
                                         index=plan_df.index)
        return (plan_df,
                pd.DataFrame(inst_out, columns=cols_i), rep)

    def _contacts(self, acts: pd.DataFrame, agency_ix: np.ndarray, cases: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Each action's time, party, way, duration and recording, then the conduct breaches among them.

        Most collectors keep the rules: calls 08:30–20:30, family only after three failed debtor attempts in a row,
        every call recorded. The agencies in RULE_BREAKERS do not always: some calls late at night or early in the
        morning, bursts of calls on one day, unrelated third parties, a missing recording."""
        rng = self.rng
        n = len(acts)
        ch = acts["channel"].to_numpy()
        bad = np.isin(agency_ix, RULE_BREAKERS)
        way = np.array([conduct.CHANNEL_WAY[c] for c in ch], dtype=object)
        way = np.where((ch == "agency") & (rng.random(n) < 0.15), "visit", way)
        minute = rng.integers(8 * 60 + 30, 20 * 60 + 30, n)
        late = bad & (rng.random(n) < 0.06)
        minute = np.where(late, np.where(rng.random(n) < 0.6, rng.integers(22 * 60, 23 * 60 + 40, n),
                                         rng.integers(7 * 60, 8 * 60, n)), minute)
        day = pd.to_datetime(acts["action_on"]).to_numpy()
        acts["contact_at"] = pd.to_datetime(day + (minute * 60 + rng.integers(0, 60, n)).astype("timedelta64[s]"))
        # in time order within each case (actions clipped to the as-of date share a day), as the rules read them
        acts["_way"], acts["_bad"], acts["_ag"] = way, bad, agency_ix
        acts = acts.sort_values(["case_id", "contact_at"], kind="stable").reset_index(drop=True)
        way, bad, agency_ix = acts.pop("_way").to_numpy(), acts.pop("_bad").to_numpy(dtype=bool), acts.pop("_ag").to_numpy()
        contacted = acts["contacted"].to_numpy(dtype=bool)
        party = np.where(rng.random(n) < 0.04, "guarantor", "debtor").astype(object)
        # a call or visit to the family once the debtor has failed three attempts in a row (actions are in order)
        ask_family = np.isin(way, ("call", "visit")) & (rng.random(n) < 0.35)
        run, prev = 0, None
        for i, c in enumerate(acts["case_id"].to_numpy()):
            if c != prev:
                run, prev = 0, c
            if party[i] != "debtor":
                continue
            if run >= 3 and ask_family[i]:
                party[i] = "family"
                continue
            run = 0 if contacted[i] else run + 1
        u = rng.random(n)
        party = np.where(bad & (u < 0.03), "other", np.where(bad & (u < 0.07), "family", party))
        acts["party"], acts["way"] = party, way
        acts["duration_s"] = np.select(
            [way == "sms", ~contacted, way == "visit", way == "ai_voice"],
            [0, rng.integers(0, 40, n), rng.integers(900, 2700, n), rng.integers(30, 150, n)], rng.integers(60, 600, n))
        acts["recording_ref"] = [f"REC{i:010d}" for i in acts["id"]]
        acts.loc[(way == "sms") | (bad & (rng.random(n) < 0.03)), "recording_ref"] = None
        acts["consented"] = False
        # bursts: a breaking agency calls a few cases again and again on one day
        first = acts.drop_duplicates("case_id")
        pick = first[np.isin(agency_ix[first.index], RULE_BREAKERS) & (rng.random(len(first)) < 0.05)]
        if len(pick):
            reps = rng.integers(7, 10, len(pick))
            burst = pick.loc[pick.index.repeat(reps)].copy()
            step = np.concatenate([np.arange(r) for r in reps])
            burst["contact_at"] = burst["contact_at"] + pd.to_timedelta(step * 17 + 3, unit="m")
            burst["contact_at"] = burst["contact_at"].where(burst["contact_at"].dt.date == burst["action_on"].dt.date,
                                                            burst["contact_at"].dt.normalize() + pd.Timedelta(hours=23, minutes=50))
            burst = burst.assign(contacted=False, result="no_answer", promise_amount=np.nan, promise_date=pd.NaT,
                                 promise_kept=None, duration_s=rng.integers(0, 40, len(burst)), way="call", party="debtor")
            burst["id"] = self.ids.take("action", len(burst))
            burst["recording_ref"] = [f"REC{i:010d}" for i in burst["id"]]
            acts = pd.concat([acts, burst], ignore_index=True).sort_values(["case_id", "contact_at"], kind="stable")
            acts = acts.reset_index(drop=True)
        found = conduct.check(acts.rename(columns={"id": "key"}), conduct.Limits())
        a = acts.set_index("id")
        k = found["key"].to_numpy()
        case = a.loc[k, "case_id"].to_numpy()
        ci = cases.set_index("id")
        breaches = pd.DataFrame(dict(
            id=self.ids.take("breach", len(found)), action_id=k, case_id=case,
            branch_id=ci.loc[case, "branch_id"].to_numpy(), agency_id=a.loc[k, "agency_id"].fillna(0).astype(int).to_numpy(),
            month=a.loc[k, "contact_at"].dt.strftime("%Y-%m").to_numpy(), contact_at=a.loc[k, "contact_at"].to_numpy(),
            way=a.loc[k, "way"].to_numpy(), rule=found["rule"].to_numpy(), value=found["value"].to_numpy(), source="demo"))
        return acts, breaches

    # ------------------------------------------------------------ warnings and post-loan tasks
    def signals_and_tasks(self) -> None:
        rng = self.rng
        sim, L = self.sim, self.loan_df
        e = sim.entries
        lat = self.cust["latent"].to_numpy()[L["cust_pos"].to_numpy()]
        parts = []
        # new overdue: every entry into M1
        m1 = e["bucket"] == 1
        parts.append((e["loan"][m1], e["t"][m1], np.zeros(m1.sum(), int), np.full(m1.sum(), "high")))
        # leading signals one or two months before half of the M1 entries: what an early-warning model learns from
        lead = m1 & (rng.random(len(m1)) < 0.5)
        lt = e["t"][lead] - rng.integers(1, 3, lead.sum())
        parts.append((e["loan"][lead], lt, rng.choice([1, 2, 3, 4, 6], lead.sum()), rng.choice(["high", "medium"], lead.sum(), p=[.4, .6])))
        # background signals on current loans, more for riskier borrowers (many are false alarms)
        cur = sim.snap["m"] == 0
        p = 0.004 * np.exp(0.8 * lat[sim.snap["loan"]])
        bg = cur & (rng.random(len(cur)) < p)
        parts.append((sim.snap["loan"][bg], sim.snap["t"][bg], rng.choice([1, 2, 3, 4, 5, 6, 7], bg.sum()),
                      rng.choice(["high", "medium", "low"], bg.sum(), p=[.15, .45, .4])))
        loan_i = np.concatenate([p_[0] for p_ in parts])
        t = np.concatenate([p_[1] for p_ in parts])
        typ = np.concatenate([p_[2] for p_ in parts])
        sev = np.concatenate([p_[3] for p_ in parts])
        ok = t >= self.w0
        loan_i, t, typ, sev = loan_i[ok], t[ok], typ[ok], sev[ok]
        raised = month_start(t) + rng.integers(0, 28, len(t)).astype("timedelta64[D]")
        # a signal is worked off within days to weeks; those not yet closed by the as-of date are open
        closes = raised + rng.integers(3, 45, len(t))
        is_open = closes > self.asof
        closed = np.where(is_open, np.datetime64("NaT"), closes)
        sig_ids = self.ids.take("signal", len(t))
        detail = np.array(["借据逾期", "近3月新增他行授信", "征信显示他行逾期", "存款余额较上月下降超50%", "代发工资收入下降",
                           "涉诉被执行", "担保人出现逾期", "客户经理上报经营异常"])[typ]
        sig = pd.DataFrame(dict(id=sig_ids, loan_id=L["id"].to_numpy()[loan_i], customer_id=L["customer_id"].to_numpy()[loan_i],
                                branch_id=L["branch_id"].to_numpy()[loan_i], signal_type=np.array(SIGNAL_TYPES)[typ],
                                severity=sev, raised_on=pd.to_datetime(raised), month=idx_month(t),
                                status=np.where(is_open, "open", "closed"), closed_on=pd.to_datetime(closed), detail=detail))
        self.write(s.warning_signal, sig)

        # tasks: risk-driven ones from high and medium signals, periodic annual inspections at six months on book
        mgr_i = np.array([self.mgr_index[m] for m in L["manager_id"].to_numpy()])
        risk_sel = sev != "low"
        r_loan = loan_i[risk_sel]
        r_type = np.where(sev[risk_sel] == "high", "on_site", "off_site")
        r_created = raised[risk_sel] + 1
        r_due = r_created + np.where(r_type == "on_site", 7, 15)
        mob6 = L["start"].to_numpy() + 6
        per = np.flatnonzero((mob6 >= self.w0) & (mob6 <= self.end) & (sim.closed_at_or_end >= mob6))
        p_created = month_start(mob6[per]) + rng.integers(0, 20, len(per)).astype("timedelta64[D]")
        p_due = p_created + 30
        t_loan = np.concatenate([r_loan, per])
        t_type = np.concatenate([r_type, np.full(len(per), "annual")])
        trigger = np.concatenate([np.full(len(r_loan), "risk"), np.full(len(per), "periodic")])
        created = np.concatenate([r_created, p_created])
        due = np.concatenate([r_due, p_due])
        dil = self.mgr["diligence"].to_numpy()[mgr_i[t_loan]]
        u = rng.random(len(t_loan))
        # diligent managers finish early or on time; the others late, and some very late
        lag = np.where(u < dil, -rng.integers(0, 6, len(u)),
                       np.where(rng.random(len(u)) < 0.7, rng.integers(1, 25, len(u)), rng.integers(30, 120, len(u))))
        done_on = due + lag
        done = done_on <= self.asof
        results = rng.choice(["经营正常", "已核实风险", "已发起催收", "建议压降额度", "客户失联"], len(u), p=[.62, .15, .1, .08, .05])
        task_ids = self.ids.take("task", len(t_loan))
        tasks = pd.DataFrame(dict(
            id=task_ids, loan_id=L["id"].to_numpy()[t_loan], customer_id=L["customer_id"].to_numpy()[t_loan],
            manager_id=L["manager_id"].to_numpy()[t_loan], branch_id=L["branch_id"].to_numpy()[t_loan], task_type=t_type,
            trigger=trigger, risk_score=None, created_on=pd.to_datetime(created),
            month=pd.to_datetime(created).strftime("%Y-%m"), due_on=pd.to_datetime(due),
            completed_on=pd.to_datetime(np.where(done, done_on, np.datetime64("NaT"))),
            status=np.where(done, "done", "pending"), result=np.where(done, results, None)))
        tasks = tasks[tasks["created_on"] <= pd.Timestamp(self.asof)]
        self.write(s.postloan_task, tasks)
        self.tasks = tasks

    # ------------------------------------------------------------ manager activity
    def activity(self) -> None:
        rng = self.rng
        m = self.mgr
        c = self.cust
        start = month_start(np.array([self.end - 5]))[0]
        days = np.arange(start, self.asof + 1)
        wd = ((days.astype("datetime64[D]").view("int64") - 4) % 7)  # 0 Monday
        work = days[(wd < 5) | (rng.random(len(days)) < 0.15)]
        cust_by_mgr = c.groupby("mgr_idx").indices
        outlet_xy = self.outlets.set_index("id")[["lon", "lat"]]
        frames = []
        for j in range(len(m)):
            n_day = rng.poisson(2.6 * m["effort"].iat[j], len(work))
            day = np.repeat(work, n_day)
            k = len(day)
            if k == 0:
                continue
            pool = cust_by_mgr.get(j, np.array([], int))
            typ = rng.choice(["visit", "check_in", "marketing"], k, p=[0.62, 0.28, 0.10])
            # times spread over each working day, in order within the day
            minutes = rng.integers(8 * 60 + 30, 17 * 60 + 30, k)
            minutes = minutes[np.lexsort((minutes, day))]
            # at least 20 minutes between two events of a day: the time to ride to the next household
            for d0 in np.flatnonzero(np.r_[True, day[1:] != day[:-1]]):
                d1 = d0 + 1
                while d1 < k and day[d1] == day[d0]:
                    minutes[d1] = max(minutes[d1], minutes[d1 - 1] + 20)
                    d1 += 1
            cust_pos = rng.choice(pool, k) if len(pool) else np.full(k, -1)
            lon = np.where(typ == "visit", c["lon"].to_numpy()[cust_pos] + rng.normal(0, 0.0008, k), np.nan)
            lat = np.where(typ == "visit", c["lat"].to_numpy()[cust_pos] + rng.normal(0, 0.0008, k), np.nan)
            ox, oy = outlet_xy.loc[m["outlet_id"].iat[j]]
            lon = np.where(typ != "visit", ox + rng.normal(0, 0.002, k), lon)
            lat = np.where(typ != "visit", oy + rng.normal(0, 0.002, k), lat)
            no_gps = rng.random(k) < 0.02
            if m["dishonest"].iat[j]:
                far = (typ == "visit") & (rng.random(k) < 0.25)
                ang = rng.uniform(0, 2 * np.pi, k)
                dist = rng.uniform(0.03, 0.08, k)
                lon = np.where(far, lon + dist * np.cos(ang), lon)
                lat = np.where(far, lat + dist * np.sin(ang), lat)
                # bursts: several "visits" logged from one spot within minutes
                spot = (typ == "visit") & (rng.random(k) < 0.12)
                lon = np.where(spot, ox, lon)
                lat = np.where(spot, oy, lat)
                jump = rng.random(k) < 0.03
                lon = np.where(jump, lon + 0.3, lon)
                minutes = np.where(rng.random(k) < 0.04, rng.integers(21 * 60, 23 * 60, k), minutes)
                no_gps |= rng.random(k) < 0.15
            lon = np.where(no_gps, np.nan, lon)
            lat = np.where(no_gps, np.nan, lat)
            frames.append(pd.DataFrame(dict(
                manager_id=m["id"].iat[j], event_at=pd.to_datetime(day) + pd.to_timedelta(minutes, unit="m"),
                event_type=typ, lon=np.round(lon, 6), lat=np.round(lat, 6),
                customer_id=np.where(typ == "visit", c["id"].to_numpy()[cust_pos], None))))
        ev = pd.concat(frames, ignore_index=True)
        ev.insert(0, "id", self.ids.take("event", len(ev)))
        ev["month"] = ev["event_at"].dt.strftime("%Y-%m")
        ev["task_id"] = None
        self.write(s.activity_event, ev)


@dataclass
class SimResult:
    snap: dict            # arrays over loan-months in the window
    entries: dict         # arrays over bucket entries in the window
    closed_at: np.ndarray
    written_off_at: np.ndarray
    first_m4: np.ndarray
    ever_delinquent: np.ndarray
    closed_at_or_end: np.ndarray
    restructured_at: np.ndarray   # month index of the loan's restructuring, -1 if never


def _score(rng, latent: np.ndarray) -> np.ndarray:
    """Application score: higher is safer; 40 points double the odds, a noisy view of latent risk."""
    return np.round(600 - 40 / np.log(2) * (latent + rng.normal(0, 0.55, len(latent))) * 0.8)


def _simulate(rng, latent, start, term, amount, amort, seasonal, w0, end, agency_q, lenient=None,
              test=None) -> SimResult:
    """Month-by-month delinquency of every loan, vectorised over loans.

    State ``m`` is months delinquent, capped at 4 (0 current); bucket = m; dpd = 30 (m - 1) + a fixed day
    offset in 1..30, plus 30 for every further month spent in M4+. A few loans 31+ days overdue are restructured
    (重组: current again on a new schedule). Each month the classification engine sets every loan's floor
    (:mod:`data_access.classification`, so a cured NPL stays 次级 through its observation period and a
    restructured loan 关注 for a year); the bank's class is the floor, except on loans whose manager
    under-classifies (``lenient``: the chance a loan's NPL or restructuring is reported one class better).
    """
    from . import classification as cls
    n = len(start)
    t0 = int(start.min())
    m = np.zeros(n, int)
    months_m4 = np.zeros(n, int)
    balance = amount.astype(float).copy()
    closed_at = np.full(n, -1)
    wo_at = np.full(n, -1)
    first_m4 = np.full(n, -1)
    ever = np.zeros(n, bool)
    offset = rng.integers(1, 31, n)
    restr_at = np.full(n, -1)
    # under-classified by its manager when its floor is an NPL or a restructuring (drawn once a loan)
    understated = rng.random(n) < (np.zeros(n) if lenient is None else lenient)
    cstate = cls.State.new(n)
    channel = np.full(n, -1)
    ag = np.full(n, -1)
    case_open = np.full(n, -1)    # index into entry arrays of the loan's open case
    snap = {k: [] for k in ("loan", "t", "m", "balance", "balance_before", "overdue", "dpd", "class5", "floor",
                            "reasons", "paid_off")}
    ent = {k: [] for k in ("loan", "t", "bucket", "dpd", "overdue", "balance", "channel", "agency")}
    n_ent = 0
    outcome: list = []
    recovered: list = []
    closed_t: list = []
    installment = np.where(amort, amount / term, 0) + amount * 0.055 / 12
    for t in range(t0, end + 1):
        mob = t - start
        live = (mob >= 0) & (closed_at < 0) & (wo_at < 0)
        started = live & (mob == 0)
        run = live & (mob > 0)
        bal_before = balance.copy()
        prev_m = m.copy()
        # 1. current loans: default hazard; bullet loans also at maturity
        cal = t % 12
        season = np.where(seasonal & np.isin(cal, [0, 1, 2, 6]), 0.35, 0.0)
        seasoning = np.where(mob <= 2, -0.7, np.where(mob <= 9, 0.25, 0.0))
        h = _sigmoid(-5.0 + 0.75 * latent + season + seasoning)
        maturity = mob == term
        h = np.where(maturity & ~amort, _sigmoid(-3.6 + 0.9 * latent), h)
        cur = run & (m == 0)
        to_m1 = cur & (rng.random(n) < h)
        # prepayment and normal pay-off
        prepay = cur & ~to_m1 & (rng.random(n) < 0.008)
        payoff = cur & ~to_m1 & (maturity | prepay | (mob > term))
        # 2. delinquent loans: cure, stay, roll forward; channel effect on the odds of cure
        dl = run & (m > 0)
        base = np.array([0, 0.62, 0.38, 0.20, 0.035])[np.minimum(m, 4)]
        eff = np.where(channel >= 0, CHANNEL_EFFECT[np.maximum(channel, 0)], 1.0)
        eff = np.where(ag >= 0, eff * agency_q[np.maximum(ag, 0)], eff)
        odds = base / (1 - base + 1e-9) * eff * np.exp(-0.45 * latent)
        p_cure = np.where(dl, odds / (1 + odds), 0)
        u = rng.random(n)
        cure = dl & (u < p_cure)
        stay = dl & ~cure & (u < p_cure + np.where(m >= 4, 1.0, 0.06))
        roll = dl & ~cure & ~stay
        # restructuring: a loan 31+ days overdue before its maturity put on a new schedule, current again
        restructure = (stay | roll) & (m >= 2) & (mob < term) & (restr_at < 0) & (rng.random(n) < 0.006)
        restr_at = np.where(restructure, t, restr_at)
        cure, stay, roll = cure | restructure, stay & ~restructure, roll & ~restructure
        write_off = dl & (m >= 4) & (months_m4 >= 8) & ~cure & (rng.random(n) < 0.14)
        # apply transitions
        m = np.where(to_m1, 1, m)
        m = np.where(cure, 0, m)
        m = np.where(roll, m + 1, m)
        months_m4 = np.where(m >= 4, months_m4 + 1, 0)
        cured_after_maturity = cure & (mob >= term)
        payoff = payoff | cured_after_maturity
        # balance: amortising loans repay principal while current
        pay_principal = run & (m == 0) & amort & ~payoff
        balance = np.where(pay_principal, np.maximum(balance - amount / term, 0), balance)
        balance = np.where(payoff, 0.0, balance)
        closed_at = np.where(payoff, t, closed_at)
        wo_at = np.where(write_off, t, wo_at)
        first_m4 = np.where((m >= 4) & (first_m4 < 0), t, first_m4)
        ever |= m > 0
        # in M4+ the days keep counting: 91+ in the first month there, 30 more each further month
        dpd_all = np.where(m > 0, 30 * (m - 1 + np.maximum(months_m4 - 1, 0)) + offset, 0)
        floor, reasons, nxt = cls.classify(cstate, dpd_all, np.where(restr_at >= 0, t - restr_at, -1))
        cstate = cls.State(*(np.where(live, a, b) for a, b in ((nxt.npl_hold, cstate.npl_hold),
                                                                (nxt.clean_months, cstate.clean_months),
                                                                (nxt.effective, cstate.effective))))
        # 3. collection cases: a new case whenever a loan enters a new bucket within the window
        entered = (run | started) & (m > prev_m) & (prev_m < 4)
        if t >= w0:
            closing = (case_open >= 0) & (cure | roll | write_off | payoff)
            for i in np.flatnonzero(closing):
                k = case_open[i]
                # what a case collects, spread as real cases do: a cure pays the overdue and its penalty
                # interest; a restructuring only the interest due; an M4+ case settles at a discount; a case
                # that rolls on has often paid part first
                if restructure[i]:
                    outcome[k] = "cured"
                    recovered[k] += ent["overdue"][k] * rng.uniform(0.05, 0.3)
                elif cure[i] or payoff[i]:
                    outcome[k] = "cured" if ent["bucket"][k] < 4 else "settled"
                    recovered[k] = ent["overdue"][k] * (rng.uniform(1.0, 1.08) if ent["bucket"][k] < 4
                                                        else rng.uniform(0.55, 1.0))
                elif write_off[i]:
                    outcome[k] = "written_off"
                    recovered[k] += ent["overdue"][k] * rng.uniform(0, 0.05)
                else:
                    outcome[k] = "rolled"
                    recovered[k] += ent["overdue"][k] * (0.9 * rng.beta(1.6, 3.0) if rng.random() < 0.5 else 0.0)
                closed_t[k] = t
                case_open[i] = -1
            # M4+ cases collect small partial payments while open
            partial = (case_open >= 0) & (m >= 4) & (rng.random(n) < 0.1)
            for i in np.flatnonzero(partial):
                recovered[case_open[i]] += ent["overdue"][case_open[i]] * rng.uniform(0.03, 0.15)
            # write-offs after the window starts keep being collected as write-off cases
            new_i = np.flatnonzero(entered | (write_off & (t >= w0)))
            b = np.minimum(m[new_i], 4)
            # in the test's months the challenger arm's cases are allocated by the optimiser's mix (CHALLENGER_MIX):
            # their outcomes then follow from the channels' effects, so the test's lift is real in the data
            arm = np.zeros(len(new_i), int)
            if test is not None and test[0] <= t <= test[1] and len(new_i):
                arm = experiments.arms(test[2] + n_ent + np.arange(len(new_i)), TEST_SHARES, TEST_SEED)
            ch = np.array([rng.choice(7, p=(CHALLENGER_MIX if a else CHANNEL_MIX)[int(bb)]) for bb, a in zip(b, arm)],
                          dtype=int) if len(new_i) else np.array([], int)
            ch = np.where(write_off[new_i], 7, ch)
            agency = np.where(ch == 4, rng.choice(len(agency_q), len(new_i)), -1)
            channel[new_i] = ch
            ag[new_i] = agency
            dpd_now = np.where(m[new_i] > 0, 30 * (m[new_i] - 1) + offset[new_i], 0)
            over = np.where(mob[new_i] >= term[new_i], balance[new_i] + installment[new_i] * m[new_i],
                            installment[new_i] * np.maximum(m[new_i], 1))
            for key, val in (("loan", new_i), ("t", np.full(len(new_i), t)), ("bucket", np.maximum(b, 1)),
                             ("dpd", dpd_now), ("overdue", over), ("balance", balance[new_i]), ("channel", ch),
                             ("agency", agency)):
                ent[key].extend(val.tolist())
            case_open[new_i] = np.arange(n_ent, n_ent + len(new_i))
            outcome.extend(["open"] * len(new_i))
            recovered.extend([0.0] * len(new_i))
            closed_t.extend([-1] * len(new_i))
            n_ent += len(new_i)
            # 4. snapshot of the loans on the book at month end
            on_book = (live & ~payoff & ~write_off) | (payoff & run)
            idx = np.flatnonzero(on_book)
            mm = m[idx]
            dpd = dpd_all[idx]
            past_mat = (t - start[idx]) >= term[idx]
            overdue = np.where(mm > 0, np.where(past_mat, balance[idx], np.minimum(installment[idx] * mm, balance[idx])), 0.0)
            f, why = floor[idx], reasons[idx]
            restr_floor = (why & cls.REASON_BITS["restructured"]) > 0
            class5 = np.where(understated[idx] & (((f >= 3) & (f <= 4)) | ((f == 2) & restr_floor)), f - 1, f)
            for key, val in (("loan", idx), ("t", np.full(len(idx), t)), ("m", mm), ("balance", balance[idx]),
                             ("balance_before", bal_before[idx]), ("overdue", overdue), ("dpd", dpd),
                             ("class5", class5), ("floor", f), ("reasons", why), ("paid_off", payoff[idx])):
                snap[key].append(val)
        # written-off loans drop their open case into the later-recovery pool
        balance = np.where(write_off, 0.0, balance)
        channel = np.where(m == 0, -1, channel)
        ag = np.where(m == 0, -1, ag)
    # write-off cases get modest later recoveries; cases still open in M1-M3 have often paid part already
    for k in range(n_ent):
        if outcome[k] == "open" and ent["channel"][k] != 7 and ent["bucket"][k] < 4 and rng.random() < 0.4:
            recovered[k] += ent["overdue"][k] * 0.8 * rng.beta(1.6, 3.0)
        if ent["channel"][k] == 7 and outcome[k] == "open":
            outcome[k] = "written_off"
            recovered[k] = ent["balance"][k] * (rng.uniform(0.02, 0.2) if rng.random() < 0.35 else 0.0)
            ent["overdue"][k] = max(ent["overdue"][k], ent["balance"][k])
    # rows of loans paid off in the month stay here for their final repayment; snapshots leave them out
    snap_arr = {k: np.concatenate(v) for k, v in snap.items()}
    entries = {k: np.asarray(v) for k, v in ent.items()}
    entries["outcome"] = np.asarray(outcome, dtype=object)
    entries["recovered"] = np.asarray(recovered, dtype=float)
    entries["closed_t"] = np.asarray(closed_t, dtype=int)
    end_state = np.where(closed_at >= 0, closed_at, np.where(wo_at >= 0, wo_at, end))
    return SimResult(snap_arr, entries, closed_at, wo_at, first_m4, ever, end_state, restr_at)


# ---------------------------------------------------------------- synthetic personal data
def _name_tables():
    from faker.providers.person.zh_CN import Provider
    last = Provider.last_names
    surn = np.array(list(last.keys()))
    w = np.array(list(last.values()), dtype=float)
    given = np.array(list(Provider.first_names))
    return surn, w / w.sum(), given


def _names(rng, n, split=False, given_only=False):
    surn, w, given = _name_tables()
    g = given[rng.integers(0, len(given), n)]
    if given_only:
        return g
    sn = surn[rng.choice(len(surn), n, p=w)]
    full = np.char.add(sn.astype(str), g.astype(str))
    return (sn, full) if split else full


def _phones(rng, n) -> np.ndarray:
    pre = np.array(["134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "182",
                    "187", "188", "133", "153", "177", "180", "189", "130", "131", "132", "155", "156", "186"])
    p = pre[rng.integers(0, len(pre), n)]
    return np.char.add(p, np.char.zfill(rng.integers(0, 100_000_000, n).astype(str), 8))


_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.array(list("10X98765432"))


def _id_numbers(rng, county_code: str, birth_year: np.ndarray, gender: np.ndarray) -> np.ndarray:
    """18-digit ID numbers whose check digit is deliberately wrong, so none is a real person's."""
    n = len(birth_year)
    mm = rng.integers(1, 13, n)
    dd = rng.integers(1, 29, n)
    seq = rng.integers(0, 100, n) * 10 + rng.integers(0, 5, n) * 2 + (gender == "M")
    body = np.char.add(np.char.add(np.char.add(np.full(n, county_code), birth_year.astype(str)),
                                   np.char.add(np.char.zfill(mm.astype(str), 2), np.char.zfill(dd.astype(str), 2))),
                       np.char.zfill(seq.astype(str), 3))
    digits = np.array([list(b) for b in body], dtype=int)
    right = _ID_CHECK[(digits * _ID_WEIGHTS).sum(1) % 11]
    wrong = _ID_CHECK[((digits * _ID_WEIGHTS).sum(1) % 11 + 1 + rng.integers(0, 10, n)) % 11]
    assert not (wrong == right).any()
    return np.char.add(body, wrong)


def id_checksum_valid(id_number: str) -> bool:
    """True when an 18-digit ID number carries the correct GB 11643 check digit."""
    if len(id_number) != 18 or not id_number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(id_number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == id_number[17].upper()


def summary(engine: Engine) -> dict[str, int]:
    """Row counts of the main tables, for the CLI."""
    out = {}
    with engine.connect() as conn:
        for t in (s.region, s.org_unit, s.manager, s.customer, s.credit_line, s.application, s.loan, s.loan_snapshot,
                  s.repayment, s.collection_case, s.collection_action, s.repayment_plan, s.warning_signal, s.postloan_task,
                  s.activity_event, s.app_user):
            out[t.name] = conn.execute(select(func.count()).select_from(t)).scalar_one()
    return out


__all__ = ["generate", "summary", "DatabaseNotEmpty", "DEMO_PASSWORD", "ADMIN_PASSWORD", "END_MONTH"]
