"""The pages' read functions, re-exported from their domain modules.

Kept so existing ``queries.X`` callers keep working; new code imports the domain module
(:mod:`.base` shared pieces and reference lists, :mod:`.overview`, :mod:`.rows` scoped row reads,
:mod:`.agencies`, :mod:`.portfolio`, :mod:`.early_warning`). Add new reads to a domain module, not here.
"""
from __future__ import annotations

from .base import (  # noqa: F401
    Filters, shift_month, _df, _month_window, available_months, branches, townships, villages, products, SEGMENTS,
    BANK, branch_rows, each_branch, GUARANTEE_TYPES, _mart_filter,
)
from .overview import (  # noqa: F401
    portfolio_trend, household_trend, disbursement_trend, collection_summary, overview, village_trend,
    branch_league, village_hotspots,
)
from .rows import (  # noqa: F401
    CUSTOMER_COLUMNS, search_customers, customer_profile, customer_loans, village_households, loan_list,
    collection_cases, managers, ROW_FUNCTIONS,
)
from .agencies import (  # noqa: F401
    agency_league,
)
from .portfolio import (  # noqa: F401
    BREAKDOWNS, portfolio_breakdown, _village_breakdown, industry_breakdown, migration_trend, vintage,
    top_borrowers, migration_ytd,
)
from .early_warning import (  # noqa: F401
    days_between, warning_trend, open_signals, task_monitor, model_summary, work_by_manager, pending_tasks,
)
