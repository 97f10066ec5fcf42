"""From the runs to tables: one long table, mean +- std over seeds, communication to a target.

Input is only what runs leave in ``results/runs/{dataset}/{model}/{method}/{setting}/seed{seed}/``
(``metrics.json`` and ``history.csv``); every table and figure can be rebuilt from ``results/``.

- :func:`collect`: one row per run, with the run's keys, one ``param_<name>`` column per method
  parameter (benchopt style) and the metrics;
- :func:`summarize`: mean, std (over seeds, n-1) and the number of seeds per setting;
- :func:`comm_to_target`: the bytes each setting sends before its test accuracy first reaches
  90/95/99% of the base (uncompressed) accuracy of the same dataset and model;
- :func:`accuracy_table` / :func:`comm_table`: those as Markdown and LaTeX, one row per method and setting.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

KEYS = ["dataset", "model", "method", "setting"]
METRICS = ["final_test_accuracy", "best_test_accuracy", "xi_measured", "xi_expected", "bytes_up", "bytes_down",
           "bytes_total", "bytes_uncompressed", "steps", "epochs", "wall_seconds",
           # both evaluations and both protocols (issue 13); NaN for runs written before them, and
           # test_accuracy_compressed NaN where the method merges the batch (does not apply)
           "test_accuracy_uncompressed", "test_accuracy_compressed", "xi_nominal", "xi_plot",
           "budget_used_paper", "budget_used_measured"]
TARGETS = (0.90, 0.95, 0.99)
MB = 1e6


# ----- the long tables -------------------------------------------------------------------------
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
        m = json.loads(Path(p).read_text())
        row = run_keys(p)
        row.update({f"param_{k}": v for k, v in sorted((m.get("params") or {}).items())})
        row.update({k: np.nan if m.get(k) is None else m.get(k) for k in METRICS})
        # the xi a figure places the run at: nominal under the paper protocol (as the authors plot), else measured
        row["xi_plot"] = m.get("xi_nominal", np.nan) if m.get("protocol") == "paper" else m.get("xi_measured", np.nan)
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


def method_order(method: str) -> tuple:
    return (method != "base", method != "adc", method)


def sort_runs(df: pd.DataFrame, extra=()) -> pd.DataFrame:
    """Panels in order of appearance, then base, adc, the rest by name; within a method by xi."""
    if df.empty:
        return df
    order = {}
    for key in zip(df["dataset"], df["model"]):
        order.setdefault(key, len(order))
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


# ----- communication to reach a fraction of base accuracy --------------------------------------
def bytes_to_reach(history: pd.DataFrame, target: float) -> float:
    """Cumulative bytes at the first evaluation with test accuracy >= target (NaN if never)."""
    hit = history[history["test_accuracy"] >= target]
    return float(hit["bytes_total"].iloc[0]) if len(hit) else math.nan


def comm_to_target(mean: pd.DataFrame, histories: pd.DataFrame, targets=TARGETS) -> pd.DataFrame:
    """Per setting: bytes to first reach each target fraction of the panel's base accuracy.

    The base accuracy is the mean final test accuracy of ``base`` over seeds. Columns per target
    ``f``: ``reached_f`` (seeds that reached it), ``bytes_f_mean``, ``bytes_f_std`` (over those seeds).
    Panels without a base run get no rows.
    """
    rows = []
    base = mean[mean["method"] == "base"].set_index(["dataset", "model"])["final_test_accuracy_mean"]
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


# ----- formatting ------------------------------------------------------------------------------
def pm(mean: float, std: float, digits: int = 3, scale: float = 1.0) -> str:
    """``0.972 ± 0.003``; ``0.972 ± –`` when the std is undefined (one seed)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    s = "–" if std is None or (isinstance(std, float) and math.isnan(std)) else f"{std / scale:.{digits}f}"
    return f"{mean / scale:.{digits}f} ± {s}"


def xi_str(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def _panels(df: pd.DataFrame):
    seen = []
    for key in zip(df["dataset"], df["model"]):
        if key not in seen:
            seen.append(key)
    return seen


def accuracy_rows(mean: pd.DataFrame, panel) -> list[list[str]]:
    p = mean[(mean["dataset"] == panel[0]) & (mean["model"] == panel[1])]
    return [[r["method"], r["setting"], xi_str(r["xi_measured_mean"]),
             pm(r["final_test_accuracy_mean"], r["final_test_accuracy_std"]),
             pm(r["best_test_accuracy_mean"], r["best_test_accuracy_std"]),
             *both_evaluations(r), str(int(r["n_seeds"]))]
            for _, r in p.iterrows()]


def both_evaluations(r) -> list[str]:
    """Uncompressed (the ADC paper's convention) and through the method's compression (its authors'):
    "does not apply" where the method merges the batch."""
    from adc.core.methods import registry
    cls = registry().get(r["method"])
    unc = pm(r.get("test_accuracy_uncompressed_mean", np.nan), r.get("test_accuracy_uncompressed_std", np.nan))
    if cls is not None and cls.merges_batch and not cls.compress_at_eval:
        return [unc, "does not apply"]
    return [unc, pm(r.get("test_accuracy_compressed_mean", np.nan), r.get("test_accuracy_compressed_std", np.nan))]


ACC_HEADER = ["method", "setting", "ξ (measured)", "final test accuracy", "best test accuracy",
              "uncompressed (ADC paper)", "compressed (method's own)", "seeds"]


def comm_rows(comm: pd.DataFrame, panel, targets=TARGETS) -> list[list[str]]:
    p = comm[(comm["dataset"] == panel[0]) & (comm["model"] == panel[1])]
    rows = []
    for _, r in p.iterrows():
        cells = [r["method"], r["setting"], xi_str(r["xi_measured_mean"])]
        for f in targets:
            k, n = int(r[f"reached_{f:g}"]), int(r["n_seeds"])
            if k == 0:
                cells.append("not reached")
            else:
                cell = pm(r[f"bytes_{f:g}_mean"], r[f"bytes_{f:g}_std"], digits=2, scale=MB)
                cells.append(cell if k == n else f"{cell} ({k}/{n} seeds)")
        rows.append(cells)
    return rows


def comm_header(targets=TARGETS) -> list[str]:
    return ["method", "setting", "ξ (measured)"] + [f"MB to {f:.0%} of base" for f in targets]


def markdown(header: list[str], rows: list[list[str]]) -> str:
    align = ["---" if i < 2 else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


TEX = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "ξ": r"$\xi$", "–": "--"}


def tex_escape(s: str) -> str:
    return "".join(TEX.get(ch, ch) for ch in str(s))


def latex(header: list[str], rows: list[list[str]], caption: str, label: str) -> str:
    cols = "ll" + "r" * (len(header) - 2)
    out = [r"\begin{table}[t]", r"\centering", rf"\caption{{{tex_escape(caption)}}}", rf"\label{{{label}}}",
           rf"\begin{{tabular}}{{{cols}}}", r"\toprule", " & ".join(tex_escape(h) for h in header) + r" \\",
           r"\midrule"]
    out += [" & ".join(tex_escape(c) for c in r) + r" \\" for r in rows]
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(out)


def _label(panel) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in f"{panel[0]}-{panel[1]}")


def write_tables(mean: pd.DataFrame, histories: pd.DataFrame, accuracy_md, accuracy_tex, comm_md, comm_tex) -> None:
    """Accuracy per method and setting, and communication to reach 90/95/99% of base, per panel."""
    comm = comm_to_target(mean, histories)
    panels = _panels(mean)
    acc_md = ["# Test accuracy per method and setting\n",
              "Mean ± std over seeds (std with n-1; `–` with one seed). ξ: bytes sent / uncompressed bytes, "
              "both directions, measured. Generated by `snakemake` from `results/summary_mean.csv`.\n"]
    acc_tex = ["% Generated by snakemake (rule tables) from results/summary_mean.csv; needs \\usepackage{booktabs}\n"]
    c_md = ["# Communication needed to reach 90/95/99% of base accuracy\n",
            "Megabytes (10^6 bytes, both directions) sent before the test accuracy, evaluated after every "
            "epoch, first reaches the fraction of the base (uncompressed) method's mean final accuracy. "
            "Mean ± std over the seeds that reached it; `(k/n seeds)` when only k of n did.\n"]
    c_tex = list(acc_tex)
    for panel in panels:
        title = f"{panel[0]} / {panel[1]}"
        rows = accuracy_rows(mean, panel)
        acc_md += [f"## {title}\n", markdown(ACC_HEADER, rows)]
        acc_tex.append(latex(ACC_HEADER, rows, f"Test accuracy (mean ± std over seeds) on {title}.",
                             f"tab:acc-{_label(panel)}"))
        if comm.empty or not ((comm["dataset"] == panel[0]) & (comm["model"] == panel[1])).any():
            c_md += [f"## {title}\n", "No base run in this panel: no reference accuracy.\n"]
            continue
        base_acc = comm[(comm["dataset"] == panel[0]) & (comm["model"] == panel[1])]["base_accuracy"].iloc[0]
        rows = comm_rows(comm, panel)
        c_md += [f"## {title}\n", f"Base accuracy {base_acc:.3f}.\n", markdown(comm_header(), rows)]
        c_tex.append(latex(comm_header(), rows, f"MB sent to reach 90/95/99% of base accuracy ({base_acc:.3f}) "
                                                f"on {title}.", f"tab:comm-{_label(panel)}"))
    for path, parts in ((accuracy_md, acc_md), (accuracy_tex, acc_tex), (comm_md, c_md), (comm_tex, c_tex)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("\n".join(parts))
