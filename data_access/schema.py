"""The cockpit's schema, defined once (SQLAlchemy Core), shared by Alembic, marts and queries.

Months are stored as ``'YYYY-MM'`` strings: sortable, readable and identical
on SQLite and PostgreSQL; ``dim_month`` maps each to a running index so that
months-on-book and month pairs are plain integer joins.

Codes kept exact (DESIGN.md "Terms"):

* ``class5``: 1 正常 pass, 2 关注 special mention, 3 次级 substandard,
  4 可疑 doubtful, 5 损失 loss. NPL = class5 >= 3.
* ``bucket``: 0 M0 current, 1 M1 (1–30 dpd), 2 M2 (31–60), 3 M3 (61–90),
  4 M4+ (over 90). Closed loans appear in roll marts as 5 paid off, 6 written off.
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer,
    LargeBinary, MetaData, Numeric, PrimaryKeyConstraint, String, Table, Text,
)

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# Exact NUMERIC in the database; floats in Python, where every figure is an aggregate or a display.
MONEY = Numeric(18, 2, asdecimal=False)

# ---------------------------------------------------------------- organisation and geography
region = Table(
    "region", metadata,
    Column("code", String(12), primary_key=True, comment="statistical code (县 6, 乡镇 9, 村 12 digits)"),
    Column("name", String(64), nullable=False),
    Column("level", String(10), nullable=False, comment="province | city | county | township | village"),
    Column("parent_code", String(12), ForeignKey("region.code"), index=True),
    Column("county_code", String(6), index=True),
    Column("geometry", Text, comment="GeoJSON geometry, WGS-84"),
    Column("centroid_lon", Float),
    Column("centroid_lat", Float),
    Column("schematic", Boolean, nullable=False, default=True, comment="shape drawn by the demo, not surveyed"),
    Column("credit_village_grade", String(4), comment="信用村 grade of a village: AAA/AA/A or empty"),
    Column("whole_village_credit", String(12), comment="整村授信 status: done | in_progress | not_started"),
    Column("registered_households", Integer),
)

org_unit = Table(
    "org_unit", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("level", String(12), nullable=False, comment="head_office | branch | outlet"),
    Column("parent_id", Integer, ForeignKey("org_unit.id"), index=True),
    Column("county_code", String(6)),
    Column("lon", Float),
    Column("lat", Float),
)

branch_township = Table(
    "branch_township", metadata,
    Column("branch_id", Integer, ForeignKey("org_unit.id"), nullable=False),
    Column("township_code", String(12), ForeignKey("region.code"), nullable=False),
    PrimaryKeyConstraint("branch_id", "township_code"),
)

manager = Table(
    "manager", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("name", String(32), nullable=False),
    Column("phone", String(20)),
    Column("branch_id", Integer, ForeignKey("org_unit.id"), nullable=False, index=True),
    Column("outlet_id", Integer, ForeignKey("org_unit.id")),
    Column("hired_on", Date),
    Column("active", Boolean, nullable=False, default=True),
)

grid_assignment = Table(
    "grid_assignment", metadata,
    Column("village_code", String(12), ForeignKey("region.code"), nullable=False),
    Column("manager_id", Integer, ForeignKey("manager.id"), nullable=False, index=True),
    Column("since", Date, nullable=False),
    Column("until", Date),
    PrimaryKeyConstraint("village_code", "manager_id", "since"),
)

# ---------------------------------------------------------------- customers
customer = Table(
    "customer", metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_no", String(20), nullable=False, unique=True),
    Column("name", String(32), nullable=False),
    Column("id_number", String(18), nullable=False),
    Column("phone", String(20)),
    Column("address", String(128)),
    Column("gender", String(1)),
    Column("birth_year", Integer),
    Column("village_code", String(12), ForeignKey("region.code"), nullable=False, index=True),
    Column("branch_id", Integer, ForeignKey("org_unit.id"), nullable=False, index=True),
    Column("manager_id", Integer, ForeignKey("manager.id"), index=True),
    Column("segment", String(16), nullable=False, comment="farmer | grower | business | salaried"),
    Column("industry", String(24)),
    Column("household_size", Integer),
    Column("annual_income", MONEY),
    Column("assets", MONEY),
    Column("liabilities", MONEY),
    Column("deposit_balance", MONEY),
    Column("multi_lending_count", Integer, comment="other lenders in the credit report"),
    Column("has_ebank", Boolean, nullable=False, default=False),
    Column("has_third_party_pay", Boolean, nullable=False, default=False),
    Column("has_social_security_card", Boolean, nullable=False, default=False),
    Column("credit_household", Boolean, nullable=False, default=False, comment="信用户"),
    Column("source", String(16), comment="walk_in | whole_village | referral | online | event"),
    Column("created_on", Date),
    Column("lon", Float),
    Column("lat", Float),
)
Index("ix_customer_phone", customer.c.phone)

# point-in-time facts (data_access.facts): what a customer's and a village's changing attributes were, month by
# month; model features read them as of their month, the pages read customer / region
customer_fact = Table(
    "customer_fact", metadata,
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False),
    Column("valid_from", String(7), nullable=False, comment="first month the values held"),
    Column("valid_to", String(7), comment="first month they no longer held; NULL while they do"),
    Column("annual_income", MONEY),
    Column("deposit_balance", MONEY),
    Column("multi_lending_count", Integer),
    Column("household_size", Integer),
    Column("credit_household", Boolean),
    PrimaryKeyConstraint("customer_id", "valid_from"),
)

region_fact = Table(
    "region_fact", metadata,
    Column("code", String(12), ForeignKey("region.code"), nullable=False),
    Column("valid_from", String(7), nullable=False, comment="first month the grade held"),
    Column("valid_to", String(7), comment="first month it no longer held; NULL while it does"),
    Column("credit_village_grade", String(4)),
    PrimaryKeyConstraint("code", "valid_from"),
)
Index("ix_customer_name", customer.c.name)

household_member = Table(
    "household_member", metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("name", String(32), nullable=False),
    Column("relation", String(12), nullable=False),
    Column("birth_year", Integer),
    Column("occupation", String(24)),
)

customer_tag = Table(
    "customer_tag", metadata,
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False),
    Column("tag_type", String(8), nullable=False, comment="fact | risk"),
    Column("tag", String(32), nullable=False),
    PrimaryKeyConstraint("customer_id", "tag_type", "tag"),
)

# ---------------------------------------------------------------- products, applications, lines, loans
product = Table(
    "product", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("name", String(32), nullable=False),
    Column("category", String(16), nullable=False),
    Column("guarantee_type", String(12), nullable=False, comment="credit | guarantee | mortgage"),
    Column("term_months", Integer, nullable=False),
    Column("annual_rate", Float, nullable=False),
    Column("seasonal", Boolean, nullable=False, default=False),
)

application = Table(
    "application", metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("product_id", Integer, ForeignKey("product.id"), nullable=False),
    Column("branch_id", Integer, ForeignKey("org_unit.id"), nullable=False, index=True),
    Column("applied_on", Date, nullable=False),
    Column("month", String(7), nullable=False, index=True),
    Column("amount_requested", MONEY, nullable=False),
    Column("score", Integer, nullable=False, comment="application score at the time"),
    Column("decision", String(10), nullable=False, comment="approved | rejected"),
    Column("reject_reason", String(32)),
    Column("approved_amount", MONEY),
    # applicant facts as known at application time, kept so that models are trained without look-ahead
    Column("age", Integer),
    Column("annual_income", MONEY),
    Column("multi_lending_count", Integer),
    Column("deposit_balance", MONEY),
    Column("household_size", Integer),
    Column("segment", String(16)),
    Column("credit_village_grade", String(4)),
    Column("credit_household", Boolean),
    Column("outcome_known", Boolean, nullable=False, default=False, comment="12 months on book observed or bad earlier"),
    Column("bad_12m", Boolean, comment="ever 90+ dpd within 12 months on book"),
)

credit_line = Table(
    "credit_line", metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("product_id", Integer, ForeignKey("product.id"), nullable=False),
    Column("limit_amount", MONEY, nullable=False),
    Column("granted_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("status", String(10), nullable=False, comment="active | expired | frozen"),
    Column("whole_village", Boolean, nullable=False, default=False, comment="granted in a 整村授信 campaign"),
)

loan = Table(
    "loan", metadata,
    Column("id", Integer, primary_key=True),
    Column("loan_no", String(20), nullable=False, unique=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("product_id", Integer, ForeignKey("product.id"), nullable=False),
    Column("credit_line_id", Integer, ForeignKey("credit_line.id"), index=True),
    Column("application_id", Integer, ForeignKey("application.id"), index=True),
    Column("branch_id", Integer, ForeignKey("org_unit.id"), nullable=False, index=True),
    Column("manager_id", Integer, ForeignKey("manager.id"), index=True),
    Column("village_code", String(12), ForeignKey("region.code"), nullable=False, index=True),
    Column("segment", String(16), nullable=False),
    Column("disbursed_on", Date, nullable=False),
    Column("disbursed_month", String(7), nullable=False, index=True),
    Column("maturity_on", Date, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("annual_rate", Float, nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("guarantee_type", String(12), nullable=False),
    Column("status", String(12), nullable=False, comment="active | paid_off | written_off"),
    Column("closed_on", Date),
    Column("restructured_on", Date, comment="date of the last restructuring (重组), if any"),
)

loan_snapshot = Table(
    "loan_snapshot", metadata,
    Column("loan_id", Integer, ForeignKey("loan.id"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("mob", Integer, nullable=False, comment="months on book"),
    Column("balance", MONEY, nullable=False),
    Column("overdue_amount", MONEY, nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("bucket", Integer, nullable=False, comment="0 M0, 1 M1, 2 M2, 3 M3, 4 M4+"),
    Column("class5", Integer, nullable=False, comment="1 正常 … 5 损失"),
    Column("floor_class5", Integer, comment="the best class the rules allow (classification engine)"),
    Column("floor_reasons", Integer, comment="bit mask of the rules that set the floor (classification.REASONS)"),
    # the loan's dimensions as they were in the month (point in time, #20): the marts group by these, never by the
    # loan's current row, so a month's figures stay put when a loan later moves branch, manager or village. The
    # importer fills them from the loan as of the import (marts.fill_snapshot_dims); NULL only until then
    Column("branch_id", Integer, comment="the loan's branch in the month"),
    Column("manager_id", Integer, comment="the loan's manager in the month"),
    Column("product_id", Integer, comment="the loan's product in the month"),
    Column("segment", String(16), comment="the loan's segment in the month"),
    Column("village_code", String(12), comment="the loan's village in the month"),
    PrimaryKeyConstraint("loan_id", "month"),
)
Index("ix_loan_snapshot_month", loan_snapshot.c.month)
# the vintage's first late month of each loan reads the late rows alone (marts.VINTAGE)
Index("ix_loan_snapshot_bucket_loan", loan_snapshot.c.bucket, loan_snapshot.c.loan_id, loan_snapshot.c.mob)
SNAPSHOT_DIMS = ("branch_id", "manager_id", "product_id", "segment", "village_code")

repayment = Table(
    "repayment", metadata,
    Column("id", Integer, primary_key=True),
    Column("loan_id", Integer, ForeignKey("loan.id"), nullable=False, index=True),
    Column("paid_on", Date, nullable=False),
    Column("month", String(7), nullable=False),
    Column("principal", MONEY, nullable=False),
    Column("interest", MONEY, nullable=False),
    Column("case_id", Integer, ForeignKey("collection_case.id"), index=True, comment="set when collected"),
)
# the nightly plan evaluation reads the data's date (the newest payment) by this index
Index("ix_repayment_paid_on", repayment.c.paid_on)

dim_month = Table(
    "dim_month", metadata,
    Column("month", String(7), primary_key=True),
    Column("idx", Integer, nullable=False, unique=True, comment="year*12 + month - 1"),
)

# ---------------------------------------------------------------- risk monitoring and post-loan work
warning_signal = Table(
    "warning_signal", metadata,
    Column("id", Integer, primary_key=True),
    Column("loan_id", Integer, ForeignKey("loan.id"), index=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("branch_id", Integer, ForeignKey("org_unit.id"), nullable=False, index=True),
    Column("signal_type", String(24), nullable=False),
    Column("severity", String(8), nullable=False, comment="high | medium | low"),
    Column("raised_on", Date, nullable=False),
    Column("month", String(7), nullable=False, index=True),
    Column("status", String(8), nullable=False, comment="open | closed"),
    Column("closed_on", Date),
    Column("detail", String(128)),
)

postloan_task = Table(
    "postloan_task", metadata,
    Column("id", Integer, primary_key=True),
    Column("loan_id", Integer, ForeignKey("loan.id"), index=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("manager_id", Integer, ForeignKey("manager.id"), index=True),
    Column("branch_id", Integer, ForeignKey("org_unit.id"), nullable=False, index=True),
    Column("task_type", String(12), nullable=False, comment="on_site | off_site | annual"),
    Column("trigger", String(10), nullable=False, comment="risk | periodic"),
    Column("risk_score", Float),
    Column("created_on", Date, nullable=False),
    Column("month", String(7), nullable=False, index=True),
    Column("due_on", Date, nullable=False),
    Column("completed_on", Date),
    Column("status", String(10), nullable=False, comment="pending | done"),
    Column("result", String(32)),
)

# ---------------------------------------------------------------- collections
agency = Table(
    "agency", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("commission_rate", Float, nullable=False),
    Column("monthly_capacity", Integer, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

collection_case = Table(
    "collection_case", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_no", String(20), nullable=False, unique=True),
    Column("loan_id", Integer, ForeignKey("loan.id"), nullable=False, index=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("branch_id", Integer, ForeignKey("org_unit.id"), nullable=False, index=True),
    Column("entry_month", String(7), nullable=False, index=True),
    Column("entry_date", Date, nullable=False),
    Column("entry_bucket", Integer, nullable=False, comment="1 M1, 2 M2, 3 M3, 4 M4+"),
    Column("entry_dpd", Integer, nullable=False),
    Column("overdue_at_entry", MONEY, nullable=False),
    Column("balance_at_entry", MONEY, nullable=False),
    Column("channel", String(12), nullable=False,
           comment="ai_voice | sms | phone | field | agency | mediation | litigation | write_off"),
    Column("agency_id", Integer, ForeignKey("agency.id"), index=True),
    Column("status", String(12), nullable=False, comment="open | cured | rolled | settled | written_off"),
    Column("closed_on", Date),
    Column("recovered_amount", MONEY, nullable=False, default=0),
    Column("cost", MONEY, nullable=False, default=0),
    Column("complaints", Integer, nullable=False, default=0),
    Column("compliance_breaches", Integer, nullable=False, default=0),
    Column("allocation_run_id", Integer, ForeignKey("allocation_run.id"), comment="the run that chose the channel"),
    Column("propensity", Float, comment="modelled probability of cure in the chosen channel, at allocation"),
    Column("expected_recovery", MONEY, comment="modelled recovery in the chosen channel, at allocation"),
    Column("legal_stage", String(12), comment="litigation only: filed | hearing | judgment | enforcement | closed"),
)
Index("ix_collection_case_channel_month", collection_case.c.channel, collection_case.c.entry_month)
Index("ix_collection_case_entry_date", collection_case.c.entry_date)
Index("ix_collection_case_agency_status_date", collection_case.c.agency_id, collection_case.c.status,
      collection_case.c.entry_date)

collection_action = Table(
    "collection_action", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("collection_case.id"), nullable=False, index=True),
    Column("action_on", Date, nullable=False),
    Column("channel", String(12), nullable=False),
    Column("agency_id", Integer, ForeignKey("agency.id")),
    Column("contacted", Boolean, nullable=False),
    Column("promise_amount", MONEY),
    Column("promise_date", Date),
    Column("promise_kept", Boolean),
    Column("result", String(24), nullable=False),
    Column("note", String(256)),
    Column("created_by", String(32)),
    Column("month", String(7), index=True, comment="month of action_on (the monthly extract's month)"),
    # the contact itself (issue #19); NULL on contacts recorded before they carried their time
    Column("contact_at", DateTime, comment="when the contact was made (local time)"),
    Column("party", String(10), comment="debtor | guarantor (co-borrower or guarantor) | family | other"),
    Column("way", String(10), comment="call | sms | visit | ai_voice"),
    Column("duration_s", Integer, comment="seconds talked or on site; 0 for an SMS or an unanswered call"),
    Column("recording_ref", String(64), comment="the recording's reference in the bank's recording system"),
    Column("consented", Boolean, nullable=False, default=False,
           comment="the debtor agreed to be contacted at this time (quiet hours)"),
)

contact_breach = Table(
    "contact_breach", metadata,
    Column("id", Integer, primary_key=True),
    Column("action_id", Integer, ForeignKey("collection_action.id"), nullable=False, index=True),
    Column("case_id", Integer, ForeignKey("collection_case.id"), nullable=False, index=True),
    Column("branch_id", Integer, nullable=False),
    Column("agency_id", Integer, nullable=False, comment="0 when the bank's own staff made the contact"),
    Column("month", String(7), nullable=False),
    Column("contact_at", DateTime, nullable=False),
    Column("way", String(10), nullable=False),
    Column("rule", String(20), nullable=False,
           comment="quiet_hours | daily_attempts | unrelated_party | third_party_early | unrecorded"),
    Column("value", Float, comment="the rule's measure: hour of day, attempt of the day, failed attempts before"),
    Column("source", String(8), nullable=False, comment="import | demo: how the breaking contact arrived"),
)
Index("ix_contact_breach_month_agency", contact_breach.c.month, contact_breach.c.agency_id)

collection_channel = Table(
    "collection_channel", metadata,
    Column("code", String(12), primary_key=True,
           comment="ai_voice | sms | phone | field | agency | mediation | litigation | write_off"),
    Column("monthly_capacity", Integer, comment="new cases a month; NULL for agency (each agency has its own)"),
    Column("cost_per_case", MONEY, nullable=False, comment="bank's average cost of working one case, 元"),
    Column("active", Boolean, nullable=False, default=True),
)

allocation_run = Table(
    "allocation_run", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_at", DateTime, nullable=False),
    Column("run_by", String(32), nullable=False),
    Column("month", String(7), nullable=False, comment="entry month of the cases allocated"),
    Column("model_id", Integer, ForeignKey("model_registry.id")),
    Column("cases", Integer, nullable=False),
    Column("assigned", Integer, nullable=False),
    Column("queued", Integer, nullable=False, comment="left pending: no eligible channel had capacity"),
    Column("expected_recovery", MONEY, nullable=False),
    Column("expected_cost", MONEY, nullable=False),
    Column("baseline_recovery", MONEY, nullable=False, comment="the rules alone, same cases and capacities"),
    Column("baseline_cost", MONEY, nullable=False),
)

allocation_run_line = Table(
    "allocation_run_line", metadata,
    Column("run_id", Integer, ForeignKey("allocation_run.id"), nullable=False, index=True),
    Column("method", String(10), nullable=False, comment="optimised (applied) | rules (baseline)"),
    Column("entry_bucket", Integer, nullable=False),
    Column("channel", String(12), nullable=False),
    Column("agency_id", Integer, nullable=False, comment="0 when not outsourced"),
    Column("cases", Integer, nullable=False),
    Column("overdue", MONEY, nullable=False),
    Column("expected_recovery", MONEY, nullable=False),
    Column("expected_cost", MONEY, nullable=False),
)

allocation_rule = Table(
    "allocation_rule", metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_bucket", Integer, nullable=False),
    Column("min_amount", MONEY, nullable=False, default=0),
    Column("channel", String(12), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("description", String(128)),
)

strategy_test = Table(
    "strategy_test", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("champion", String(12), nullable=False, comment="a strategy of data_access.experiments.STRATEGIES"),
    Column("challengers", String(64), nullable=False, comment="comma-separated strategies"),
    Column("shares", String(64), nullable=False, comment="intake shares, champion first, comma-separated"),
    Column("seed", Integer, nullable=False, comment="the split's seed (data_access.experiments.arms)"),
    Column("measure", String(16), nullable=False, comment="recovery | cure | net | cost_per_100"),
    Column("first_month", String(7), nullable=False),
    Column("last_month", String(7), nullable=False),
    Column("matures_on", Date, nullable=False),
    Column("status", String(10), nullable=False, comment="running | finished | promoted"),
    Column("created_by", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("promoted_arm", String(12)),
    Column("promoted_at", DateTime),
    Column("promoted_by", String(32)),
    Column("params", Text, comment="JSON {arm: parameters} of the arms whose strategy takes any "
                                   "(data_access.experiments.strategy_params); NULL: none"),
)

strategy_test_case = Table(
    "strategy_test_case", metadata,
    Column("test_id", Integer, ForeignKey("strategy_test.id"), primary_key=True),
    Column("case_id", Integer, ForeignKey("collection_case.id"), primary_key=True),
    Column("arm", String(12), nullable=False),
)

allocation_policy = Table(
    "allocation_policy", metadata,
    Column("id", Integer, primary_key=True),
    Column("method", String(12), nullable=False, comment="the strategy the allocation run applies"),
    Column("since", DateTime, nullable=False),
    Column("set_by", String(32), nullable=False),
    Column("test_id", Integer, ForeignKey("strategy_test.id"), comment="the test whose arm was promoted"),
    Column("params", Text, comment="JSON parameters of the strategy, as its arm ran them; NULL: none"),
)

repayment_plan = Table(
    "repayment_plan", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("collection_case.id"), nullable=False, index=True),
    Column("status", String(8), nullable=False, comment="active | kept | broken (data_access.plans.evaluate)"),
    Column("start_on", Date, nullable=False, comment="the day it was agreed: payments on the loan from this day count"),
    Column("instalments", Integer, nullable=False),
    Column("total_amount", MONEY, nullable=False),
    Column("grace_days", Integer, nullable=False, comment="days after a due date a payment still counts (at agreement)"),
    Column("agreed_by", String(32), nullable=False, comment="the user who recorded the agreement"),
    Column("agreed_at", DateTime, nullable=False),
    Column("debtor_party", String(10), nullable=False, comment="debtor | guarantor: who agreed on the debtor's side"),
    Column("agency_id", Integer, ForeignKey("agency.id"), comment="the agency that agreed it; NULL for the bank's staff"),
    Column("note", String(256)),
    Column("paid_amount", MONEY, nullable=False, default=0, comment="paid towards the plan as of evaluated_on"),
    Column("evaluated_on", Date, comment="the data date of the last evaluation"),
    Column("closed_on", Date, comment="kept: the day the last instalment was covered; broken: the day after the "
                                      "missed instalment's grace ended"),
    Column("broken_seq", Integer, comment="the instalment that was missed"),
    Column("source", String(8), nullable=False, comment="app | demo"),
)
Index("ix_repayment_plan_status", repayment_plan.c.status)

repayment_plan_instalment = Table(
    "repayment_plan_instalment", metadata,
    Column("plan_id", Integer, ForeignKey("repayment_plan.id"), nullable=False),
    Column("seq", Integer, nullable=False, comment="1, 2, … in due-date order"),
    Column("due_on", Date, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("paid_amount", MONEY, nullable=False, default=0, comment="payments allotted to it (oldest instalment first)"),
    Column("status", String(8), nullable=False, comment="pending | kept | missed | void (after an earlier miss)"),
    Column("covered_on", Date, comment="the day the payments covered it"),
    PrimaryKeyConstraint("plan_id", "seq"),
)

# ---------------------------------------------------------------- manager behaviour
activity_event = Table(
    "activity_event", metadata,
    Column("id", Integer, primary_key=True),
    Column("manager_id", Integer, ForeignKey("manager.id"), nullable=False),
    Column("event_at", DateTime, nullable=False),
    Column("month", String(7), nullable=False),
    Column("event_type", String(12), nullable=False, comment="check_in | visit | marketing | task"),
    Column("lon", Float),
    Column("lat", Float),
    Column("customer_id", Integer, ForeignKey("customer.id"), index=True),
    Column("task_id", Integer, ForeignKey("postloan_task.id")),
)
Index("ix_activity_event_manager_time", activity_event.c.manager_id, activity_event.c.event_at)

activity_flag = Table(
    "activity_flag", metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", Integer, ForeignKey("activity_event.id"), nullable=False, index=True),
    Column("manager_id", Integer, ForeignKey("manager.id"), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("month", String(7), nullable=False),
    Column("event_at", DateTime, nullable=False),
    Column("rule", String(20), nullable=False, comment="far_from_home | impossible_speed | same_spot | off_hours | no_gps"),
    Column("severity", String(8), nullable=False, comment="high | medium | low"),
    Column("value", Float, comment="the rule's measure: metres, km/h, households, hour"),
    Column("detail", String(128)),
)
Index("ix_activity_flag_manager_month", activity_flag.c.manager_id, activity_flag.c.month)
Index("ix_activity_flag_month_severity_at", activity_flag.c.month, activity_flag.c.severity, activity_flag.c.event_at)

# ---------------------------------------------------------------- users, audit, scenarios, models
app_user = Table(
    "app_user", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("display_name", String(64), nullable=False),
    Column("email", String(128)),
    Column("password_hash", String(128), nullable=False),
    Column("role", String(16), nullable=False, comment="head_office | branch_leader | strategy | agency | admin"),
    Column("agency_id", Integer, ForeignKey("agency.id")),
    Column("can_see_pii", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime),
    Column("created_at", DateTime, nullable=False),
)

user_branch = Table(
    "user_branch", metadata,
    Column("user_id", Integer, ForeignKey("app_user.id"), nullable=False),
    Column("branch_id", Integer, ForeignKey("org_unit.id"), nullable=False),
    PrimaryKeyConstraint("user_id", "branch_id"),
)

# server-side login sessions (data_access/sessions.py): the browser's cookie carries only a random token
app_session = Table(
    "app_session", metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True,
           comment="HMAC-SHA256 of the cookie's 256-bit token under the install's secret key"),
    Column("user_id", Integer, ForeignKey("app_user.id"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False, comment="absolute end: created_at + the session lifetime"),
    Column("ended_at", DateTime),
    Column("end_reason", String(24), comment="logout | idle | expired | password | disabled | role | ..."),
    Column("client_addr", String(64)),
    Column("user_agent", String(256)),
    Column("cookie_set", Boolean, nullable=False, default=False),
    Index("ix_app_session_user_open", "user_id", "ended_at"),
)

# login back-off (data_access/throttle.py): failures per account and per client, counted atomically
login_throttle = Table(
    "login_throttle", metadata,
    Column("key", String(160), primary_key=True, comment="user:<name> | client:<address>"),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_failure", DateTime, nullable=False),
    Column("blocked_until", DateTime),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),  # assigned by the database, as is id (migration 0019)
    Column("username", String(32), nullable=False, index=True),
    Column("action", String(32), nullable=False, comment="login | logout | view_customer | export | import | …"),
    Column("customer_id", Integer, index=True),
    Column("target", String(128)),
    Column("detail", Text),
    # the hash chain (data_access/audit_chain.py): SHA-256 over this row's content and the previous row's hash
    Column("prev_hash", String(64)),
    Column("row_hash", String(64)),
)

scenario = Table(
    "scenario", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("params", Text, nullable=False, comment="JSON"),
    Column("results", Text, comment="JSON"),
    Column("created_by", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

model_registry = Table(
    "model_registry", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("trained_at", DateTime, nullable=False),
    Column("trained_by", String(32), nullable=False),
    Column("data_window", String(32)),
    Column("metrics", Text, comment="JSON: auc, ks, gini, psi …"),
    Column("artifact", LargeBinary),
    Column("active", Boolean, nullable=False, default=True,
           comment="the current model of its (name, kind, role)"),
    # windows, checked on write by models.registry (its docstring defines each one)
    Column("kind", String(12), nullable=False, server_default="production", comment="validated | production"),
    Column("role", String(12), nullable=False, server_default="champion", comment="champion | challenger"),
    Column("horizon_months", Integer, comment="months after an observation month that its label reads"),
    Column("train_from", String(7)),
    Column("train_to", String(7)),
    Column("label_to", String(7), comment="last month a training label reads"),
    Column("gap_months", Integer, comment="observation months left out between training and validation"),
    Column("valid_from", String(7)),
    Column("valid_to", String(7)),
    Column("valid_label_to", String(7)),
    Column("monitor_from", String(7), comment="first month the monitor may show"),
    Column("data_to", String(7), comment="newest data month at training"),
)
Index("ix_model_registry_current", model_registry.c.name, model_registry.c.kind, model_registry.c.role,
      model_registry.c.active)

model_monitor = Table(
    "model_monitor", metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("model_registry.id"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("metric", String(16), nullable=False, comment="auc | ks | psi | rows | bad_rate | calib_pred | calib_obs | input_psi"),
    Column("feature", String(48), nullable=False, default="", comment="the input (input_psi) or score band (calib_*)"),
    Column("value", Float),
)
Index("ix_model_monitor_model_metric", model_monitor.c.model_id, model_monitor.c.metric)

model_score = Table(
    "model_score", metadata,
    Column("model_id", Integer, ForeignKey("model_registry.id"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("loan_id", Integer, ForeignKey("loan.id"), nullable=False),
    Column("score", Float, nullable=False),
    PrimaryKeyConstraint("model_id", "month", "loan_id"),
)

data_status = Table(
    "data_status", metadata,
    Column("key", String(48), primary_key=True, comment="data_version | table:<name> | refresh | import"),
    Column("value", String(128), nullable=False),
    Column("row_count", BigInteger),
    Column("updated_at", DateTime, nullable=False),
)

# ---------------------------------------------------------------- marts (rebuilt by data_access.marts)
mart_portfolio = Table(
    "mart_portfolio", metadata,
    Column("month", String(7), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("segment", String(16), nullable=False),
    Column("class5", Integer, nullable=False),
    Column("bucket", Integer, nullable=False),
    Column("loans", Integer, nullable=False),
    Column("balance", MONEY, nullable=False),
    Column("overdue_amount", MONEY, nullable=False),
)
Index("ix_mart_portfolio_month_branch", mart_portfolio.c.month, mart_portfolio.c.branch_id)
Index("ix_mart_portfolio_branch_month", mart_portfolio.c.branch_id, mart_portfolio.c.month)

mart_disbursement = Table(
    "mart_disbursement", metadata,
    Column("month", String(7), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("segment", String(16), nullable=False),
    Column("loans", Integer, nullable=False),
    Column("amount", MONEY, nullable=False),
)
Index("ix_mart_disbursement_month_branch", mart_disbursement.c.month, mart_disbursement.c.branch_id)

mart_village = Table(
    "mart_village", metadata,
    Column("month", String(7), nullable=False),
    Column("village_code", String(12), nullable=False),
    Column("township_code", String(12), nullable=False),
    Column("county_code", String(6), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("households", Integer, nullable=False),
    Column("households_with_line", Integer, nullable=False),
    Column("households_with_loan", Integer, nullable=False),
    Column("line_amount", MONEY, nullable=False),
    Column("households_line_loan", Integer, nullable=False, server_default="0",
           comment="households with a valid line at month end that also have a loan balance (用信户)"),
    Column("line_used_amount", MONEY, nullable=False, server_default="0",
           comment="balance of loans drawn under a line valid at month end (用信金额)"),
    Column("loans", Integer, nullable=False, server_default="0"),
    Column("balance", MONEY, nullable=False),
    Column("npl_balance", MONEY, nullable=False),
    Column("overdue_balance", MONEY, nullable=False),
    Column("m1_balance", MONEY, nullable=False, server_default="0"),
    Column("m2_balance", MONEY, nullable=False, server_default="0"),
    Column("m3_balance", MONEY, nullable=False, server_default="0"),
    Column("m4_balance", MONEY, nullable=False, server_default="0"),
    Column("disbursed_amount", MONEY, nullable=False, server_default="0"),
    *[Column(f"class{c}_balance", MONEY, nullable=False, server_default="0") for c in range(1, 6)],
    Column("deposits", MONEY, nullable=False),
    Column("ebank_households", Integer, nullable=False),
    Column("third_pay_households", Integer, nullable=False),
    Column("ss_card_households", Integer, nullable=False),
    Column("open_warnings", Integer, nullable=False),
    Column("new_overdue_loans", Integer, nullable=False),
)
Index("ix_mart_village_month_township", mart_village.c.month, mart_village.c.township_code)
Index("ix_mart_village_month_new_overdue", mart_village.c.month, mart_village.c.new_overdue_loans)
Index("ix_mart_village_month_county", mart_village.c.month, mart_village.c.county_code)
Index("ix_mart_village_month_branch", mart_village.c.month, mart_village.c.branch_id)

# The village mart summed by township and county for whole-bank users: the map's upper levels then read one row
# per grid shown, not every village of the bank (branch-scoped users still sum their own villages)
AREA_MEASURES = ("households", "households_with_line", "households_with_loan", "line_amount", "households_line_loan",
                 "line_used_amount", "loans", "balance",
                 "npl_balance", "overdue_balance", "deposits", "ebank_households", "third_pay_households",
                 "ss_card_households", "open_warnings", "new_overdue_loans")
mart_area = Table(
    "mart_area", metadata,
    Column("month", String(7), nullable=False),
    Column("level", String(8), nullable=False, comment="county | township"),
    Column("code", String(12), nullable=False),
    *[Column(m, mart_village.c[m].type, nullable=False) for m in AREA_MEASURES],
    PrimaryKeyConstraint("month", "level", "code"),
)

mart_branch = Table(
    "mart_branch", metadata,
    Column("month", String(7), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("households", Integer, nullable=False),
    Column("households_with_line", Integer, nullable=False),
    Column("households_with_loan", Integer, nullable=False),
    Column("households_line_loan", Integer, nullable=False, server_default="0", comment="= mart_village"),
    Column("line_amount", MONEY, nullable=False, server_default="0", comment="limits of the lines valid at month end"),
    Column("line_used_amount", MONEY, nullable=False, server_default="0", comment="= mart_village"),
    Column("open_warnings", Integer, nullable=False),
    Column("new_warnings", Integer, nullable=False),
    Column("tasks_due", Integer, nullable=False),
    Column("tasks_overdue", Integer, nullable=False),
    Column("tasks_done_on_time", Integer, nullable=False),
    # the branch league's balances, so that ranking 200 branches reads 200 rows, not the portfolio mart's thousands
    Column("balance", MONEY, nullable=False, server_default="0"),
    Column("npl_balance", MONEY, nullable=False, server_default="0", comment="five-category class 3–5"),
    Column("overdue_balance", MONEY, nullable=False, server_default="0", comment="balance of loans 1+ days past due"),
    Column("coll_overdue", MONEY, nullable=False, server_default="0",
           comment="overdue at entry of the collection cases that entered this month (= mart_collection)"),
    Column("coll_recovered", MONEY, nullable=False, server_default="0", comment="recovered on those cases so far"),
    PrimaryKeyConstraint("month", "branch_id"),
)

# the regulator's 期间减少金额, per loan before grouping (data_access.marts._migration_sql)
REDUCTION_COMMENT = ("期间减少金额 summed per loan: its balance decreases over the period, at most its start "
                     "balance; a redraw is new lending, not an offset")

mart_migration = Table(
    "mart_migration", metadata,
    Column("month", String(7), nullable=False, comment="month t; the loan's state at t+1 is the 'to' side"),
    Column("branch_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("segment", String(16), nullable=False),
    Column("from_bucket", Integer, nullable=False),
    Column("to_bucket", Integer, nullable=False, comment="0-4, 5 paid off, 6 written off"),
    Column("from_class", Integer, nullable=False),
    Column("to_class", Integer, nullable=False, comment="1-5, 6 paid off, 7 written off"),
    Column("loans", Integer, nullable=False),
    Column("balance", MONEY, nullable=False, comment="balance at month t"),
    Column("balance_next", MONEY, nullable=False, server_default="0", comment="balance at t+1; 0 once closed"),
    Column("reduction", MONEY, nullable=False, server_default="0", comment=REDUCTION_COMMENT),
)
Index("ix_mart_migration_month_branch", mart_migration.c.month, mart_migration.c.branch_id)
Index("ix_mart_migration_branch_month", mart_migration.c.branch_id, mart_migration.c.month)

def _class_migration_table(name: str, start: str) -> Table:
    """The regulator's migration rates' transitions over a period: the class at ``start`` against the class at
    the period end, filed under the period end."""
    return Table(
        name, metadata,
        Column("month", String(7), nullable=False, comment=f"period end; the period starts at {start}"),
        Column("branch_id", Integer, nullable=False),
        Column("product_id", Integer, nullable=False),
        Column("segment", String(16), nullable=False),
        Column("from_class", Integer, nullable=False),
        Column("to_class", Integer, nullable=False, comment="1-5, 6 paid off, 7 written off"),
        Column("loans", Integer, nullable=False),
        Column("balance", MONEY, nullable=False, comment=f"balance at {start}"),
        Column("balance_next", MONEY, nullable=False, comment="balance at the period end; 0 once closed"),
        Column("reduction", MONEY, nullable=False, server_default="0", comment=REDUCTION_COMMENT),
    )


mart_migration_ytd = _class_migration_table("mart_migration_ytd", "the previous December")
Index("ix_mart_migration_ytd_month_branch", mart_migration_ytd.c.month, mart_migration_ytd.c.branch_id)
mart_migration_qtd = _class_migration_table("mart_migration_qtd", "the previous quarter end")
Index("ix_mart_migration_qtd_month_branch", mart_migration_qtd.c.month, mart_migration_qtd.c.branch_id)

# overdue loans by days past due as the G11 report bands them: 1 = 1–90, 2 = 91–360, 3 = 361 days–3 years, 4 = over
# 3 years (band 0: not overdue)
mart_overdue = Table(
    "mart_overdue", metadata,
    Column("month", String(7), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("band", Integer, nullable=False),
    Column("loans", Integer, nullable=False),
    Column("balance", MONEY, nullable=False),
    Column("overdue_amount", MONEY, nullable=False),
)
Index("ix_mart_overdue_month_branch", mart_overdue.c.month, mart_overdue.c.branch_id)

# 新发放贷款不良率 as of each month: the loans disbursed from January of that year up to the month
mart_new_loan = Table(
    "mart_new_loan", metadata,
    Column("month", String(7), nullable=False, comment="as of; the cohort is the year's disbursements up to it"),
    Column("branch_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("loans", Integer, nullable=False),
    Column("amount", MONEY, nullable=False, comment="disbursed amount"),
    Column("npl_loans", Integer, nullable=False, comment="loans NPL at the month or NPL when they left the book"),
    Column("npl_balance", MONEY, nullable=False, comment="balance of those classified NPL at the month"),
    Column("disposed_npl", MONEY, nullable=False,
           comment="NPL balance at the last snapshot of those that left the book as NPL (written off, recovered)"),
)
Index("ix_mart_new_loan_month_branch", mart_new_loan.c.month, mart_new_loan.c.branch_id)

mart_vintage = Table(
    "mart_vintage", metadata,
    Column("cohort", String(7), nullable=False, comment="disbursement month"),
    Column("mob", Integer, nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("loans", Integer, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("ever30_amount", MONEY, nullable=False),
    Column("ever90_amount", MONEY, nullable=False),
)
Index("ix_mart_vintage_cohort", mart_vintage.c.cohort, mart_vintage.c.branch_id)

mart_collection = Table(
    "mart_collection", metadata,
    Column("entry_month", String(7), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("channel", String(12), nullable=False),
    Column("agency_id", Integer, nullable=False, comment="0 when not outsourced"),
    Column("entry_bucket", Integer, nullable=False),
    Column("legal_stage", String(12), nullable=False, comment="litigation stage; '' for other channels"),
    Column("cases", Integer, nullable=False),
    Column("overdue_at_entry", MONEY, nullable=False),
    Column("balance_at_entry", MONEY, nullable=False),
    Column("recovered_amount", MONEY, nullable=False),
    Column("cured_cases", Integer, nullable=False),
    Column("rolled_cases", Integer, nullable=False),
    Column("open_cases", Integer, nullable=False),
    Column("contacted_cases", Integer, nullable=False),
    Column("promised_cases", Integer, nullable=False),
    Column("kept_cases", Integer, nullable=False),
    Column("paying_cases", Integer, nullable=False),
    Column("cost", MONEY, nullable=False),
    Column("complaints", Integer, nullable=False),
    Column("compliance_breaches", Integer, nullable=False),
)
Index("ix_mart_collection_month_branch", mart_collection.c.entry_month, mart_collection.c.branch_id)

mart_manager = Table(
    "mart_manager", metadata,
    Column("month", String(7), nullable=False),
    Column("manager_id", Integer, nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("customers", Integer, nullable=False),
    Column("borrowers", Integer, nullable=False),
    Column("balance", MONEY, nullable=False),
    Column("npl_balance", MONEY, nullable=False),
    Column("visits", Integer, nullable=False),
    Column("check_ins", Integer, nullable=False),
    Column("tasks_due", Integer, nullable=False),
    Column("tasks_done_on_time", Integer, nullable=False),
    Column("new_customers", Integer, nullable=False),
    PrimaryKeyConstraint("month", "manager_id"),
)
Index("ix_mart_manager_branch", mart_manager.c.branch_id, mart_manager.c.month)

mart_manager_ext = Table(
    "mart_manager_ext", metadata,
    Column("month", String(7), nullable=False),
    Column("manager_id", Integer, nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("events", Integer, nullable=False, comment="activity events in the month"),
    Column("flags_high", Integer, nullable=False),
    Column("flags_medium", Integer, nullable=False),
    Column("flags_low", Integer, nullable=False),
    Column("visited_90d", Integer, nullable=False, comment="managed customers visited in the 90 days to month end"),
    Column("new_walk_in", Integer, nullable=False),
    Column("new_whole_village", Integer, nullable=False),
    Column("new_referral", Integer, nullable=False),
    Column("new_online", Integer, nullable=False),
    Column("new_event", Integer, nullable=False),
    Column("matured_12m", Integer, nullable=False, comment="loans paid off at maturity in the 12 months to month end"),
    Column("renewed_12m", Integer, nullable=False, comment="… whose borrower took a new loan afterwards"),
    Column("originated_amount", MONEY, nullable=False, comment="disbursed 7–24 months before month end"),
    Column("originated_ever30_amount", MONEY, nullable=False, comment="… of it, ever 30+ days past due by month end"),
    Column("case_overdue", MONEY, nullable=False, comment="overdue at entry of cases entered in 12 months"),
    Column("case_recovered", MONEY, nullable=False),
    PrimaryKeyConstraint("month", "manager_id"),
)
Index("ix_mart_manager_ext_branch", mart_manager_ext.c.branch_id, mart_manager_ext.c.month)

mart_application = Table(
    "mart_application", metadata,
    Column("month", String(7), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("segment", String(16), nullable=False),
    Column("score_band", Integer, nullable=False, comment="score rounded down to 20 points"),
    Column("decision", String(10), nullable=False),
    Column("applications", Integer, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("outcome_known", Integer, nullable=False),
    Column("bads", Integer, nullable=False),
)
Index("ix_mart_application_month", mart_application.c.month)

application_score = Table(
    "application_score", metadata,
    Column("application_id", Integer, ForeignKey("application.id"), primary_key=True),
    Column("model_id", Integer, ForeignKey("model_registry.id"), nullable=False),
    Column("score", Integer, nullable=False, comment="the active scorecard's points"),
    Column("pd", Float, nullable=False, comment="the scorecard's probability of bad (ever 90+ in 12 months)"),
)

# the approval simulator's population: applications by month, branch and every policy lever's key, with the
# scorecard's PD summed so that expected bad rates and losses are sums, not loan-by-loan loops
mart_approval = Table(
    "mart_approval", metadata,
    Column("month", String(7), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("segment", String(16), nullable=False),
    Column("village_grade", String(4), nullable=False, comment="credit-village grade, 'none' outside them"),
    Column("credit_household", Integer, nullable=False, comment="1 for a 信用户"),
    Column("score_band", Integer, nullable=False, comment="scorecard points rounded down to 5"),
    Column("decision", String(10), nullable=False),
    Column("applications", Integer, nullable=False),
    Column("amount", MONEY, nullable=False, comment="amount requested"),
    Column("rate_amount", Float, nullable=False, comment="Σ amount × product annual rate"),
    Column("pd_sum", Float, nullable=False),
    Column("pd_amount", Float, nullable=False, comment="Σ PD × amount"),
    Column("outcome_known", Integer, nullable=False, comment="approved with the 12-month outcome observed"),
    Column("bads", Integer, nullable=False),
    Column("known_pd_sum", Float, nullable=False, comment="Σ PD over the applications with a known outcome"),
)
Index("ix_mart_approval_month_branch", mart_approval.c.month, mart_approval.c.branch_id)

mart_warning = Table(
    "mart_warning", metadata,
    Column("month", String(7), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("signal_type", String(24), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("raised", Integer, nullable=False),
    Column("still_open", Integer, nullable=False),
)
Index("ix_mart_warning_month_branch", mart_warning.c.month, mart_warning.c.branch_id)

mart_industry = Table(
    "mart_industry", metadata,
    Column("month", String(7), nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("industry", String(24), nullable=False),
    Column("loans", Integer, nullable=False),
    Column("borrowers", Integer, nullable=False),
    Column("balance", MONEY, nullable=False),
    Column("npl_balance", MONEY, nullable=False),
)
Index("ix_mart_industry_month_branch", mart_industry.c.month, mart_industry.c.branch_id)

mart_class_deviation = Table(
    "mart_class_deviation", metadata,
    Column("month", String(7), nullable=False),
    Column("loan_id", Integer, nullable=False),
    Column("branch_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("segment", String(16), nullable=False),
    Column("manager_id", Integer),
    Column("bank_class", Integer, nullable=False, comment="the bank's own class5"),
    Column("floor_class", Integer, nullable=False, comment="the engine's floor; worse than bank_class"),
    Column("floor_reasons", Integer, nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("balance", MONEY, nullable=False),
    PrimaryKeyConstraint("month", "loan_id"),
)
Index("ix_mart_class_deviation_month_branch", mart_class_deviation.c.month, mart_class_deviation.c.branch_id)

MART_TABLES = [mart_class_deviation, mart_industry, mart_migration_ytd, mart_migration_qtd, mart_overdue, mart_new_loan, mart_portfolio,
               mart_disbursement, mart_village, mart_area, mart_branch,
               mart_migration, mart_vintage, mart_collection, mart_manager, mart_manager_ext, mart_application,
               mart_warning, mart_approval]
