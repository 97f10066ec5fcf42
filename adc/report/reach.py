"""Reaching a fraction of the base accuracy: the one definition, and the communication it takes.

"Reaching X% of base" means: the first evaluation (in the order of the history, one after every
epoch) whose test accuracy is at least X times the *base accuracy* of its panel, the mean final
test accuracy over seeds of the uncompressed method ``base`` on the same dataset and model.
:func:`first_reaching` is that definition; the communication table (:func:`comm_to_target`) and
time-to-accuracy (:mod:`adc.report.time_to_accuracy`) both use it.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from adc.report.collect import KEYS

TARGETS = (0.90, 0.95, 0.99)      # the fractions of base accuracy in the communication table


def base_accuracy(mean: pd.DataFrame) -> pd.Series:
    """Per (dataset, model): the mean final test accuracy of ``base`` (panels without base are absent)."""
    return mean[mean["method"] == "base"].set_index(["dataset", "model"])["final_test_accuracy_mean"]


def first_reaching(curve: pd.DataFrame, goal: float, column: str = "test_accuracy") -> pd.Series | None:
    """The first row of ``curve`` whose ``column`` is >= ``goal``; None if none does (or goal is NaN)."""
    hit = curve[curve[column] >= goal]
    return hit.iloc[0] if len(hit) else None


def bytes_to_reach(history: pd.DataFrame, goal: float) -> float:
    """Cumulative bytes at the first evaluation with test accuracy >= goal (NaN if never)."""
    row = first_reaching(history, goal)
    return math.nan if row is None else float(row["bytes_total"])


def comm_to_target(mean: pd.DataFrame, histories: pd.DataFrame, targets=TARGETS) -> pd.DataFrame:
    """Per setting: bytes to first reach each target fraction of the panel's base accuracy.

    Columns per target ``f``: ``reached_f`` (seeds that reached it), ``bytes_f_mean``,
    ``bytes_f_std`` (over those seeds). Panels without a base run get no rows.
    """
    rows = []
    base = base_accuracy(mean)
    for _, s in mean.iterrows():
        panel = (s["dataset"], s["model"])
        if panel not in base.index:
            continue
        h = histories[(histories["dataset"] == s["dataset"]) & (histories["model"] == s["model"])
                      & (histories["method"] == s["method"]) & (histories["setting"] == s["setting"])]
        row = {k: s[k] for k in KEYS}
        row.update(base_accuracy=float(base[panel]), xi_measured_mean=s["xi_measured_mean"],
                   xi_expected_mean=s["xi_expected_mean"], n_seeds=int(s["n_seeds"]))
        for f in targets:
            got = np.array([bytes_to_reach(hs, f * base[panel]) for _, hs in h.groupby("seed")])
            ok = got[~np.isnan(got)]
            row[f"reached_{f:g}"] = len(ok)
            row[f"bytes_{f:g}_mean"] = ok.mean() if len(ok) else math.nan
            row[f"bytes_{f:g}_std"] = ok.std(ddof=1) if len(ok) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)
