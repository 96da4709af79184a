"""Approval cut-off and limit simulator (审批策略模拟): a policy on the application scorecard → approval rate,
expected bad rate, expected loss, interest income and net margin, against the current policy (the decisions the
bank actually took), with the trade-off curve and the swap set.

The population is the approval mart (``data_access.strategy.approval_inputs``): applications aggregated by
segment, credit-village grade, credit household, 5-point score band and decision, with the scorecard's PD summed.
Every figure is a sum over those cells, so a simulation costs the same at county and province size.

Reject inference: rejected applicants were never observed, so every expected figure uses the scorecard's PD
(for approved and rejected alike); the realised bad rate is shown where the outcome is known (approved,
12 months on book).

Economics over one year on the amount requested × the limit multiplier: interest income = amount × (product rate −
credit-household discount) × (1 − PD); expected loss = PD × amount × LGD; net margin = income − funding and
operating cost − expected loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

BAND = 5                      # score band width of the mart (points)
CURRENT_CH_DISCOUNT = 0.004   # the current pricing: credit households pay 0.4 pp less (DESIGN.md, demo products)
DEFAULT_LGD = 0.45            # Basel foundation LGD for senior unsecured claims
DEFAULT_FUNDING = 0.025       # funds transfer price plus operating cost, per year


@dataclass(frozen=True)
class Policy:
    """A proposed approval policy. ``cutoff``: approve from this many points up (a band's lower edge);
    ``segment_cutoffs`` override it per segment; ``limit_multiplier`` scales the amount by credit-village grade
    ('AAA', 'AA', 'A', 'none'); ``ch_discount`` is the rate cut for credit households (0.004 = 0.4 pp)."""
    cutoff: int
    segment_cutoffs: dict = field(default_factory=dict)
    limit_multiplier: dict = field(default_factory=dict)
    ch_discount: float = CURRENT_CH_DISCOUNT
    lgd: float = DEFAULT_LGD
    funding: float = DEFAULT_FUNDING

    def approves(self, cells: pd.DataFrame) -> np.ndarray:
        cut = cells["segment"].map(self.segment_cutoffs).fillna(self.cutoff).to_numpy(float)
        return cells["score_band"].to_numpy(float) >= cut


def _multiplier(cells: pd.DataFrame, policy: Policy) -> np.ndarray:
    return cells["village_grade"].map(policy.limit_multiplier).fillna(1.0).to_numpy(float)


def outcome(cells: pd.DataFrame, approve: np.ndarray, policy: Policy, multiplier: np.ndarray | None = None) -> dict:
    """Headline figures of approving the cells where ``approve`` is true."""
    a = np.asarray(approve, bool)
    n = cells["applications"].to_numpy(float)
    amount = cells["amount"].to_numpy(float)
    mult = np.ones(len(cells)) if multiplier is None else multiplier
    pd_row = np.divide(cells["pd_amount"].to_numpy(float), amount, out=np.zeros(len(cells)), where=amount > 0)
    ch = cells["credit_household"].to_numpy(float)
    rate_amount = cells["rate_amount"].to_numpy(float) - policy.ch_discount * ch * amount
    approved = float(n[a].sum())
    exposure = float((amount * mult)[a].sum())
    el = float(policy.lgd * (cells["pd_amount"].to_numpy(float) * mult)[a].sum())
    income = float((rate_amount * mult * (1 - pd_row))[a].sum())
    cost = policy.funding * exposure
    known = float(cells["outcome_known"].to_numpy(float)[a].sum())
    return {
        "applications": float(n.sum()), "approved": approved,
        "approval_rate": approved / n.sum() if n.sum() else 0.0,
        "bad_rate": float(cells["pd_sum"].to_numpy(float)[a].sum()) / approved if approved else 0.0,
        "exposure": exposure, "expected_loss": el, "income": income, "cost": cost, "net_margin": income - cost - el,
        "margin_pct": (income - cost - el) / exposure if exposure else 0.0,
        "known": known,
        "realised_bad_rate": float(cells["bads"].to_numpy(float)[a].sum()) / known if known else None,
    }


def current(cells: pd.DataFrame, lgd: float = DEFAULT_LGD, funding: float = DEFAULT_FUNDING) -> dict:
    """The current policy: the decisions the bank took, amounts as requested, today's pricing."""
    base = Policy(cutoff=0, ch_discount=CURRENT_CH_DISCOUNT, lgd=lgd, funding=funding)
    return outcome(cells, (cells["decision"] == "approved").to_numpy(), base)


def simulate(cells: pd.DataFrame, policy: Policy) -> dict:
    """The proposed policy's figures, the current policy's, and the swap set between them."""
    proposed = policy.approves(cells)
    now = (cells["decision"] == "approved").to_numpy()
    return {"proposed": outcome(cells, proposed, policy, _multiplier(cells, policy)),
            "current": current(cells, policy.lgd, policy.funding),
            "swap": swap_set(cells, now, proposed)}


def swap_set(cells: pd.DataFrame, now: np.ndarray, proposed: np.ndarray) -> pd.DataFrame:
    """Kept (approved by both), swap-out (approved now, not by the proposal), swap-in (rejected now, approved by the
    proposal) and rejected by both: applications, expected bad rate (PD) and, where observed, the realised one."""
    groups = {"kept": now & proposed, "swap_out": now & ~proposed, "swap_in": ~now & proposed,
              "rejected": ~now & ~proposed}
    rows = []
    for name, m in groups.items():
        c = cells[m]
        n, known = float(c["applications"].sum()), float(c["outcome_known"].sum())
        rows.append({"group": name, "applications": int(n), "amount": float(c["amount"].sum()),
                     "expected_bad_rate": float(c["pd_sum"].sum()) / n if n else None,
                     "known": int(known), "realised_bad_rate": float(c["bads"].sum()) / known if known else None})
    return pd.DataFrame(rows)


def tradeoff(cells: pd.DataFrame) -> pd.DataFrame:
    """Approval rate and expected bad rate at every single cut-off (one per score band, no overrides):
    columns cutoff, approval_rate, bad_rate, approved. Cumulative sums from the best band down."""
    by = cells.groupby("score_band")[["applications", "pd_sum"]].sum().sort_index(ascending=False)
    if by.empty:
        return pd.DataFrame(columns=["cutoff", "approval_rate", "bad_rate", "approved"])
    approved = by["applications"].cumsum()
    return pd.DataFrame({"cutoff": by.index.astype(int), "approved": approved.to_numpy(),
                         "approval_rate": (approved / by["applications"].sum()).to_numpy(),
                         "bad_rate": (by["pd_sum"].cumsum() / approved).to_numpy()}).reset_index(drop=True)


def equal_rate_cutoff(cells: pd.DataFrame) -> int | None:
    """The single cut-off whose approval rate is closest to the current policy's (ties: the stricter one): the
    natural starting point, it shows what the scorecard changes at the same volume."""
    curve = tradeoff(cells)
    if curve.empty:
        return None
    target = current(cells)["approval_rate"]
    gap = (curve["approval_rate"] - target).abs()
    return int(curve.loc[gap[gap == gap.min()].index, "cutoff"].max())


def backtest(cells: pd.DataFrame) -> dict | None:
    """Expected (PD) against realised bad rate of the approved applications whose 12-month outcome is known, at
    the current cut-off: the in-window check beside the registry's out-of-time one."""
    known = cells[(cells["decision"] == "approved") & (cells["outcome_known"] > 0)]
    k = float(known["outcome_known"].sum())
    if not k:
        return None
    return {"known": int(k), "predicted": float(known["known_pd_sum"].sum()) / k,
            "realised": float(known["bads"].sum()) / k}
