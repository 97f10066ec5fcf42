"""Every table and figure from the summaries in ``results/`` alone: ``snakemake plots``.

No training job: this reads ``results/summary.csv``, ``results/summary_mean.csv``,
``results/histories.csv``, ``results/flops.csv`` and, where present, ``results/timings.csv`` (committed, or brought from a cluster) and
writes the tables of ``results/tables/`` and the figures of ``paper_figs/`` with the same functions
the pipeline's rules use.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd


class MissingSummary(FileNotFoundError):
    def __str__(self) -> str:
        return str(self.args[0])


def _need(path: Path) -> Path:
    if not path.exists():
        raise MissingSummary(f"{path}: not found; `snakemake` (which trains) writes it, or copy results/ from "
                             f"where the runs were made")
    return path


def redraw(root: str | Path = ".", link: str = "example") -> list[Path]:
    """Write every table and figure from ``root/results``; return the paths written."""
    from adc.report import figures, tables, time_to_accuracy
    root = Path(root)
    res, figs = root / "results", root / "paper_figs"
    mean_csv, hist_csv = _need(res / "summary_mean.csv"), _need(res / "histories.csv")
    mean, hist = pd.read_csv(mean_csv), pd.read_csv(hist_csv)
    out = [res / "tables" / f"{n}.{e}" for n in ("accuracy", "comm_to_target") for e in ("md", "tex")]
    tables.write_tables(mean, hist, *out)
    out += figures.all_figures(mean_csv, hist_csv, root / "reference" / "adc_paper_fig3.csv", figs)
    if (res / "timings.csv").exists():      # machine-specific, untracked: only where the runs were made
        out += time_to_accuracy.from_tables(hist_csv, mean_csv, link, figs / "time_to_accuracy",
                                            res / "tables" / "time_to_accuracy.csv", timings_csv=res / "timings.csv")
    else:
        print("plots: no results/timings.csv (wall-clock seconds stay on the machine that ran the runs): "
              "time_to_accuracy not drawn")
    if (res / "flops.csv").exists():
        out += figures.flops_figure(res / "flops.csv", figs / "fig5_flops")
    return out
