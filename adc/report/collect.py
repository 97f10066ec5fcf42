"""From the runs to long tables: one row per run, mean +- std over seeds, all histories.

Input is only what runs leave in ``results/runs/{dataset}/{model}/{method}/{setting}/seed{seed}/``
(``metrics.json`` and ``history.csv``); every table and figure can be rebuilt from ``results/``.

- :func:`read_metrics`: THE reader of a run's ``metrics.json`` (aggregation, the analyses and
  time-to-accuracy all read runs through it);
- :func:`collect`: one row per run, with the run's keys, one ``param_<name>`` column per method
  parameter (benchopt style) and the metrics;
- :func:`summarize`: mean, std (over seeds, n-1) and the number of seeds per setting;
  :func:`mean_curve`: one setting's histories averaged over seeds, evaluation by evaluation;
- :func:`panels`, :func:`sort_runs`, :func:`method_order`: the order of panels and rows in every
  table and figure.

The tables themselves are :mod:`adc.report.tables`; communication to a target accuracy is
:mod:`adc.report.reach`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

KEYS = ["dataset", "model", "method", "setting"]
METRICS = ["final_test_accuracy", "best_test_accuracy", "xi_measured", "xi_expected", "bytes_up", "bytes_down",
           "bytes_total", "bytes_uncompressed", "steps", "epochs", "wall_seconds"]
MB = 1e6            # megabytes in the tables and figures: 10^6 bytes


# ----- the runs --------------------------------------------------------------------------------
def read_metrics(path: str | Path) -> dict:
    """A run's ``metrics.json`` (the file, or the run folder holding it) as a dict."""
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.json"
    return json.loads(p.read_text())


def run_keys(path: str | Path) -> dict:
    """``.../{dataset}/{model}/{method}/{setting}/seed{seed}/<file>`` -> the run's keys."""
    parts = Path(path).parts
    if len(parts) < 6 or not parts[-2].startswith("seed"):
        raise ValueError(f"{path}: expected .../{{dataset}}/{{model}}/{{method}}/{{setting}}/seed{{seed}}/<file>")
    dataset, model, method, setting, seed = parts[-6:-1]
    return {"dataset": dataset, "model": model, "method": method, "setting": setting, "seed": int(seed[4:])}


def collect(metrics_paths) -> pd.DataFrame:
    """One row per run: keys, ``param_*`` columns, metrics, and the run folder."""
    rows = []
    for p in metrics_paths:
        m = read_metrics(p)
        row = run_keys(p)
        row.update({f"param_{k}": v for k, v in sorted((m.get("params") or {}).items())})
        row.update({k: m.get(k, np.nan) for k in METRICS})
        row["device"] = m.get("device")
        row["run_dir"] = str(Path(p).parent)
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=KEYS + ["seed"] + METRICS + ["device", "run_dir"])
    params = sorted(c for c in df.columns if c.startswith("param_"))
    df = df[KEYS + ["seed"] + params + METRICS + ["device", "run_dir"]]
    return sort_runs(df, extra=["seed"])


def collect_histories(history_paths) -> pd.DataFrame:
    """All ``history.csv`` files as one long table with the run's keys in front."""
    frames = []
    for p in history_paths:
        h = pd.read_csv(p)
        for k, v in reversed(list(run_keys(p).items())):
            h.insert(0, k, v)
        frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEYS + ["seed"])


def mean_curve(history: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Seeds averaged evaluation by evaluation: row i of every seed's history together (one setting's runs)."""
    h = history.assign(_row=history.groupby("seed").cumcount())
    return h.groupby("_row")[columns].mean()


def method_order(method: str) -> tuple:
    """base first, then adc, then the other methods by name."""
    return (method != "base", method != "adc", method)


def panels(df: pd.DataFrame) -> list[tuple[str, str]]:
    """The (dataset, model) pairs of ``df`` in order of appearance: one panel / table section each."""
    return list(dict.fromkeys(zip(df["dataset"], df["model"])))


def sort_runs(df: pd.DataFrame, extra=()) -> pd.DataFrame:
    """Panels in order of appearance, then base, adc, the rest by name; within a method by xi."""
    if df.empty:
        return df
    order = {key: i for i, key in enumerate(panels(df))}
    xi = df["xi_expected"] if "xi_expected" in df else df.get("xi_expected_mean", pd.Series(0.0, index=df.index))
    tmp = df.assign(_panel=[order[k] for k in zip(df["dataset"], df["model"])],
                    _method=[method_order(m) for m in df["method"]], _xi=xi.fillna(0.0))
    return tmp.sort_values(["_panel", "_method", "_xi", "setting", *extra]).drop(
        columns=["_panel", "_method", "_xi"]).reset_index(drop=True)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std (n-1; NaN with one seed) over seeds of every metric, per setting."""
    params = [c for c in runs.columns if c.startswith("param_")]
    g = runs.groupby(KEYS, sort=False, dropna=False)
    out = g[params].first() if params else g.size().to_frame("_").drop(columns="_")
    out["n_seeds"] = g["seed"].nunique()
    for k in METRICS:
        out[f"{k}_mean"] = g[k].mean()
        out[f"{k}_std"] = g[k].std(ddof=1)
    return sort_runs(out.reset_index())


def aggregate(metrics_paths, summary_out, mean_out, histories_out, history_paths=None) -> pd.DataFrame:
    runs = collect(metrics_paths)
    if history_paths is None:
        history_paths = [Path(p).with_name("history.csv") for p in metrics_paths]
    for path in (summary_out, mean_out, histories_out):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    runs.to_csv(summary_out, index=False)
    summarize(runs).to_csv(mean_out, index=False)
    collect_histories(history_paths).to_csv(histories_out, index=False)
    return runs
