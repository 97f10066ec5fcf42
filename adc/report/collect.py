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
#: the conventions a number is read under, recorded per run (strings): the budget protocol (measured |
#: paper) and which evaluation ``final_test_accuracy`` is (uncompressed | compressed)
CONVENTIONS = ["protocol", "final_eval"]
MB = 1e6            # megabytes in the tables and figures: 10^6 bytes
#: machine-specific columns: kept out of the tracked tables (a rerun with the same results changes no
#: tracked file) and written to the untracked ``results/timings.csv``, per run and evaluation
TIMING = ["wall_seconds"]
TIMING_KEYS = KEYS + ["seed", "step"]


# ----- the runs --------------------------------------------------------------------------------
def read_metrics(path: str | Path) -> dict:
    """A run's ``metrics.json`` (the file, or the run folder holding it), checked against the one
    record type (:mod:`adc.runtime.record`); a bad one raises ``RecordError`` naming file and field."""
    from adc.runtime.record import read_record
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.json"
    return read_record(p)


def run_keys(path: str | Path) -> dict:
    """``.../{dataset}/{model}/{method}/{setting}/seed{seed}/<file>`` -> the run's keys."""
    parts = Path(path).parts
    if len(parts) < 6 or not parts[-2].startswith("seed"):
        raise ValueError(f"{path}: expected .../{{dataset}}/{{model}}/{{method}}/{{setting}}/seed{{seed}}/<file>")
    dataset, model, method, setting, seed = parts[-6:-1]
    return {"dataset": dataset, "model": model, "method": method, "setting": setting, "seed": int(seed[4:])}


def read_run(metrics_path) -> dict:
    """The one reader of a run for the tables: its metrics.json checked against the record schema
    (:mod:`adc.runtime.record`) and its folder for completeness; :class:`RecordError` names file and field."""
    from adc.runtime.record import check_run_folder, read_record
    p = Path(metrics_path)
    return check_run_folder(p.parent) if p.name == "metrics.json" else read_record(p)


def collect(metrics_paths, failures: list | None = None) -> pd.DataFrame:
    """One row per run: keys, ``param_*`` columns, metrics, and the run folder.

    A run that cannot be read (:func:`read_run`) raises, or, when a ``failures`` list is given, is
    appended to it as a :class:`~adc.runtime.record.RecordError` and left out."""
    from adc.runtime.record import RecordError
    rows = []
    for p in metrics_paths:
        try:
            m = read_run(p)
        except RecordError as e:
            if failures is None:
                raise
            failures.append(e)
            continue
        row = run_keys(p)
        row.update({f"param_{k}": v for k, v in sorted((m.get("params") or {}).items())})
        row.update({k: m.get(k) for k in CONVENTIONS})
        row.update({k: np.nan if m.get(k) is None else m.get(k) for k in METRICS})
        # the xi a figure places the run at: nominal under the paper protocol (as the authors plot), else measured
        row["xi_plot"] = m.get("xi_nominal", np.nan) if m.get("protocol") == "paper" else m.get("xi_measured", np.nan)
        row["device"] = m.get("device")
        row["run_dir"] = str(Path(p).parent)
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=KEYS + ["seed"] + CONVENTIONS + METRICS + ["device", "run_dir"])
    params = sorted(c for c in df.columns if c.startswith("param_"))
    df = df[KEYS + ["seed"] + params + CONVENTIONS + METRICS + ["device", "run_dir"]]
    return sort_runs(df, extra=["seed"])


def conventions_note(df: pd.DataFrame, accuracy: str = "final_test_accuracy") -> str:
    """One line naming the conventions of ``df``'s numbers (runs or summary rows): the protocol and,
    for ``final_test_accuracy``, which evaluation it is, naming the methods that differ from the
    rest. Summaries written before these columns existed say "not recorded"."""
    def values(col):
        return sorted({v for x in df.get(col, pd.Series(dtype=object)).dropna().astype(str) for v in x.split("/")})
    prot = values("protocol")
    parts = [f"protocol: {' and '.join(prot) if prot else 'not recorded'}"]
    if accuracy == "final_test_accuracy":
        if "final_eval" not in df or df["final_eval"].isna().all():
            parts.append("final test accuracy: evaluation not recorded")
        else:
            evals = df["final_eval"].fillna("not recorded").astype(str)
            main = evals.value_counts().index[0]
            others = {e: sorted(set(df.loc[evals == e, "method"])) for e in sorted(set(evals) - {main})}
            parts.append(f"final test accuracy: {main} evaluation"
                         + "".join(f"; {e}: {', '.join(ms)}" for e, ms in others.items()))
    return "; ".join(parts)


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
    for k in CONVENTIONS:           # one value per setting in practice; "measured/paper" if seeds differ
        if k in runs:
            out[k] = g[k].agg(lambda v: "/".join(sorted(set(v.dropna().astype(str)))) or None)
    for k in METRICS:
        out[f"{k}_mean"] = g[k].mean()
        out[f"{k}_std"] = g[k].std(ddof=1)
    return sort_runs(out.reset_index())


def aggregate(metrics_paths, summary_out, mean_out, histories_out, history_paths=None, failures=None,
              timings_out=None) -> pd.DataFrame:
    """Write the three tables of the runs that read cleanly; each is written beside its target and
    renamed over it only when complete. Unreadable runs go to ``failures`` (a list) when given,
    else raise. Histories are those of the runs in the summary. With ``timings_out``, the
    machine-specific :data:`TIMING` columns go there (per evaluation) instead of into the tables."""
    from adc.runtime.record import RecordError
    runs = collect(metrics_paths, failures=failures)
    good = set(runs["run_dir"]) if len(runs) else set()
    if history_paths is None:
        history_paths = [Path(p).with_name("history.csv") for p in metrics_paths]
    history_paths = [h for h in history_paths if str(Path(h).parent) in good]
    try:
        histories = collect_histories(history_paths)
    except Exception as e:                      # a history.csv that pandas cannot read
        if failures is None:
            raise
        failures.append(RecordError(history_paths[0] if len(history_paths) == 1 else "history.csv", None,
                                    f"unreadable ({type(e).__name__}: {e})"))
        histories = pd.DataFrame(columns=KEYS + ["seed"])
    outputs = [(summary_out, runs), (mean_out, summarize(runs)), (histories_out, histories)]
    if timings_out is not None:
        keep = [c for c in TIMING_KEYS + TIMING if c in histories.columns]
        outputs = [(path, df.drop(columns=[c for c in df.columns if c.split("_mean")[0].split("_std")[0] in TIMING]))
                   for path, df in outputs] + [(timings_out, histories[keep])]
    for path, df in outputs:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(path)
    return runs
