"""Which runs of a config are done, failed or missing, and the partial report when some are not.

A run is *done* when its ``metrics.json`` exists and reads as a run record; *failed* when its
``train.log`` exists without a usable ``metrics.json`` (the reason is the log's last error line);
*missing* when neither (never started, or its job was skipped). ``snakemake`` ends by printing the
counts; with ``--keep-going`` and failed runs it still aggregates the done ones, writes the tables
(marking the gaps) and the figures, and lists the failed and missing runs in ``results/failed.csv``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["dataset", "model", "method", "setting", "seed", "status", "reason", "run_dir"]


def last_error_line(log: Path) -> str:
    """The last line of a log that says what went wrong (an error, else its last non-empty line)."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError as e:
        return f"cannot read {log}: {e}"
    if not lines:
        return "empty log"
    for ln in reversed(lines):
        if "error" in ln.lower() or "exception" in ln.lower() or "killed" in ln.lower():
            return ln[:300]
    return lines[-1][:300]


def run_status(runs, root: str | Path = ".") -> pd.DataFrame:
    """One row per run of ``runs`` (objects with dataset, model, method, setting, seed, dir)."""
    from adc.report.collect import read_metrics
    root, rows = Path(root), []
    for r in runs:
        d = root / r.dir
        status, reason = "done", ""
        if (d / "metrics.json").exists():
            try:
                read_metrics(d / "metrics.json")
            except (ValueError, KeyError, OSError) as e:
                status, reason = "failed", f"bad metrics.json: {e}"
        elif (d / "train.log").exists():
            status, reason = "failed", last_error_line(d / "train.log")
        else:
            status, reason = "missing", "not run (skipped, or its job never started)"
        rows.append({"dataset": r.dataset, "model": r.model, "method": r.method, "setting": r.setting,
                     "seed": r.seed, "status": status, "reason": reason, "run_dir": r.dir})
    return pd.DataFrame(rows, columns=COLUMNS)


def counts_line(status: pd.DataFrame) -> str:
    n = status["status"].value_counts()
    return (f"runs: {int(n.get('done', 0))} done, {int(n.get('failed', 0))} failed, "
            f"{int(n.get('missing', 0))} missing (of {len(status)})")


def write_failed(status: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """``results/failed.csv``: the failed and missing runs with their reason (a header only when none)."""
    bad = status[status["status"] != "done"]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    bad.to_csv(path, index=False)
    return bad


def partial_report(runs, root: str | Path = ".", link: str = "example") -> pd.DataFrame:
    """After failed runs: aggregate the done ones, write the tables (gaps marked) and figures, failed.csv."""
    from adc.report import collect, figures, tables, time_to_accuracy
    root = Path(root)
    status = run_status(runs, root)
    res, figs = root / "results", root / "paper_figs"
    write_failed(status, res / "failed.csv")
    done = status[status["status"] == "done"]
    if done.empty:
        return status
    metrics = [root / d / "metrics.json" for d in done["run_dir"]]
    collect.aggregate(metrics, res / "summary.csv", res / "summary_mean.csv", res / "histories.csv",
                      timings_out=res / "timings.csv")
    mean, hist = pd.read_csv(res / "summary_mean.csv"), pd.read_csv(res / "histories.csv")
    tables.write_tables(mean, hist, *[res / "tables" / f"{n}.{e}" for n in ("accuracy", "comm_to_target")
                                      for e in ("md", "tex")], status=status)
    figures.all_figures(res / "summary_mean.csv", res / "histories.csv", root / "reference" / "adc_paper_fig3.csv",
                        figs)
    time_to_accuracy.from_tables(res / "histories.csv", res / "summary_mean.csv", link, figs / "time_to_accuracy",
                                 res / "tables" / "time_to_accuracy.csv", timings_csv=res / "timings.csv")
    return status
