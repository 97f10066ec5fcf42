"""Time to accuracy under a network link: test accuracy against compute + link wall-clock.

For every run, after each epoch: compute seconds (``wall_seconds`` of ``history.csv``: client and
server compute, evaluation included) plus the link model's seconds for the messages sent so
far (:class:`~adc.runtime.link.LinkModel`: latency + 8 bytes / bandwidth per message, two messages
per step). The link model is linear, so its time follows exactly from each row's ``step``,
``bytes_up`` and ``bytes_down``: any run can be replayed under any link after the fact. Runs
made with ``link_sleep`` already waited the link in their wall time; it is taken out of the
compute part for them.

Each method is shown at its best setting (highest mean final test accuracy over seeds; ties go
to the smaller xi), seeds averaged epoch by epoch. A table gives, per method and setting, the
compute, link and total seconds of the whole run and the time to first reach 90% of the base
accuracy (:func:`adc.report.reach.first_reaching`, the same definition as the communication table).

    python -m adc.report.time_to_accuracy results/runs --link example --out paper_figs/time_to_accuracy
    python -m adc.report.time_to_accuracy RUN_DIR [RUN_DIR ...] --link up=10Mbit,down=50Mbit,latency=20ms
    python -m adc.report.time_to_accuracy --histories results/histories.csv --mean results/summary_mean.csv \
        --out paper_figs/time_to_accuracy --table results/tables/time_to_accuracy.csv     (the pipeline)
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from adc.report.collect import mean_curve, method_order, panels, read_metrics
from adc.report.reach import base_accuracy, first_reaching
from adc.runtime.link import LINKS, LinkModel

TARGET = 0.90     # fraction of the panel's base accuracy for the "time to target" column


def link_seconds(history: pd.DataFrame, link: LinkModel) -> pd.Series:
    """The link's cumulative seconds at each row (columns step, bytes_up, bytes_down)."""
    return (history["step"] * (link.latency_up + link.latency_down) + 8.0 * history["bytes_up"] / link.up_bps
            + 8.0 * history["bytes_down"] / link.down_bps)


def add_times(histories: pd.DataFrame, link: LinkModel) -> pd.DataFrame:
    """Add ``compute_seconds``, ``link_seconds_model`` and ``time_seconds`` (their sum) to a long history table."""
    h = histories.copy()
    slept = h["link_slept"].fillna(False).astype(bool) if "link_slept" in h else pd.Series(False, index=h.index)
    own_link = h["link_seconds"].fillna(0.0) if "link_seconds" in h else pd.Series(0.0, index=h.index)
    h["compute_seconds"] = h["wall_seconds"] - np.where(slept, own_link, 0.0)
    h["link_seconds_model"] = link_seconds(h, link)
    h["time_seconds"] = h["compute_seconds"] + h["link_seconds_model"]
    return h


def best_settings(mean: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, model and method: the setting with the highest mean final test accuracy (ties: smaller xi)."""
    m = mean.sort_values(["final_test_accuracy_mean", "xi_measured_mean"], ascending=[False, True])
    return m.groupby(["dataset", "model", "method"], sort=False).head(1)


def curve(h: pd.DataFrame) -> pd.DataFrame:
    """Seeds averaged epoch by epoch (row by row within each seed)."""
    return mean_curve(h, ["epoch", "test_accuracy", "compute_seconds", "link_seconds_model", "time_seconds"])


def table(h: pd.DataFrame, mean: pd.DataFrame, target: float = TARGET) -> pd.DataFrame:
    """Per setting: final accuracy, compute / link / total seconds, seconds to reach ``target`` x base accuracy."""
    base = base_accuracy(mean)
    best = {tuple(r) for r in best_settings(mean)[["dataset", "model", "method", "setting"]].values}
    rows = []
    for key, g in h.groupby(["dataset", "model", "method", "setting"], sort=False):
        c = curve(g)
        goal = target * base.get(key[:2], math.nan)
        hit = first_reaching(c, goal)
        rows.append({"dataset": key[0], "model": key[1], "method": key[2], "setting": key[3],
                     "best_setting": key in best, "final_test_accuracy": c["test_accuracy"].iloc[-1],
                     "compute_seconds": c["compute_seconds"].iloc[-1], "link_seconds": c["link_seconds_model"].iloc[-1],
                     "total_seconds": c["time_seconds"].iloc[-1], "target_accuracy": goal,
                     "seconds_to_target": math.nan if hit is None else float(hit["time_seconds"])})
    return pd.DataFrame(rows)


def draw(h: pd.DataFrame, mean: pd.DataFrame, link_label: str, target: float = TARGET):
    """One row per dataset/model: accuracy vs compute + link seconds (left), vs link seconds alone (right)."""
    from matplotlib.lines import Line2D

    from adc.report import plotting
    with plotting.style():
        best = best_settings(mean)
        ps = panels(best) or [("", "")]
        fig, axes = plotting.plt.subplots(len(ps), 2, figsize=(8.8, 3.4 * len(ps)), squeeze=False)
        handles = {}
        for row, (dataset, model) in zip(axes, ps):
            base = mean[(mean["dataset"] == dataset) & (mean["model"] == model) & (mean["method"] == "base")]
            for _, b in best[(best["dataset"] == dataset) & (best["model"] == model)].iterrows():
                g = h[(h["dataset"] == dataset) & (h["model"] == model) & (h["method"] == b["method"])
                      & (h["setting"] == b["setting"])]
                if not len(g):
                    continue
                c = curve(g)
                color, marker, _ = plotting.method_style(b["method"])
                label = plotting.label(b["method"]) if b["method"] == "base" else \
                    f"{plotting.label(b['method'])} ({b['setting']})"
                for ax, x in zip(row, ("time_seconds", "link_seconds_model")):
                    ax.plot(c[x], c["test_accuracy"], color=color, lw=1.2, ls=plotting.linestyle(b["method"]))
                    ax.plot(c[x].iloc[-1:], c["test_accuracy"].iloc[-1:], color=color, marker=marker, ms=4.5, ls="none")
                handles.setdefault(label, (b["method"], plotting.handle(b["method"], ms=4.5, label=label)))
            for ax, what in zip(row, ("compute + link", "link only")):
                if len(base):
                    ax.axhline(target * base["final_test_accuracy_mean"].iloc[0], color="#777777", lw=0.8, ls=":")
                plotting.log_x(ax)
                ax.set_title(plotting.panel_title(dataset, model, what))
                ax.set_xlabel(f"wall-clock seconds ({what})")
                ax.set_ylabel("test accuracy")
        legend = [hd for _, hd in sorted(handles.values(), key=lambda mh: method_order(mh[0]))]
        legend.append(Line2D([], [], color="#777777", lw=0.8, ls=":", label=f"{target:.0%} of base accuracy"))
        fig.suptitle(f"Time to accuracy under the link {link_label}; each method at its best setting", y=1.0)
        fig.legend(handles=legend, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        fig.tight_layout()
        return fig


def _mean_from_runs(runs: pd.DataFrame) -> pd.DataFrame:
    g = runs.groupby(["dataset", "model", "method", "setting"], sort=False)
    return g.agg(final_test_accuracy_mean=("final_test_accuracy", "mean"),
                 xi_measured_mean=("xi_measured", "mean")).reset_index()


def load_runs(paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run folders (or folders above them) -> (long history table, per-setting means)."""
    from adc.core.methods import setting_label
    folders = []
    for p in map(Path, paths):
        folders += [p] if (p / "metrics.json").exists() else sorted(q.parent for q in p.rglob("metrics.json"))
    if not folders:
        raise FileNotFoundError(f"no run folders (with metrics.json) under {[str(p) for p in paths]}")
    hist, runs = [], []
    for f in folders:
        m = read_metrics(f)
        cfg = m["config"]
        keys = {"dataset": cfg["dataset"], "model": cfg["model"], "method": m["method"],
                "setting": setting_label(m.get("params") or {}), "seed": cfg["seed"]}
        h = pd.read_csv(f / "history.csv").assign(**keys, link_slept=bool(cfg.get("link_sleep")))
        hist.append(h)
        runs.append({**keys, "final_test_accuracy": m["final_test_accuracy"], "xi_measured": m["xi_measured"]})
    return pd.concat(hist, ignore_index=True), _mean_from_runs(pd.DataFrame(runs))


def write(histories: pd.DataFrame, mean: pd.DataFrame, link: str, stem: str | Path, table_csv: str | Path | None = None,
          target: float = TARGET) -> list[Path]:
    """The figure (``stem``.pdf / .png) and, if asked, the table; returns the paths written."""
    from adc.report import plotting
    h = add_times(histories, LinkModel.parse(link))
    paths = plotting.save(draw(h, mean, LINKS.get(link, link).replace(",", ", "), target), stem)
    if table_csv:
        Path(table_csv).parent.mkdir(parents=True, exist_ok=True)
        table(h, mean, target).to_csv(table_csv, index=False)
        paths.append(Path(table_csv))
    return paths


def from_tables(histories_csv, mean_csv, link: str, stem, table_csv=None, target: float = TARGET,
                timings_csv=None) -> list[Path]:
    """From the pipeline's ``results/histories.csv`` and ``results/summary_mean.csv``, with the wall
    clock of ``results/timings.csv`` (untracked: machine-specific) where the histories leave it out."""
    from adc.report.collect import TIMING_KEYS
    histories = pd.read_csv(histories_csv)
    if "wall_seconds" not in histories:
        if not timings_csv or not Path(timings_csv).exists():
            raise FileNotFoundError(f"{timings_csv or 'results/timings.csv'}: not found; time-to-accuracy needs the "
                                    f"runs' wall-clock seconds, which are kept on the machine that ran them "
                                    f"(rerun `snakemake` there, or copy its results/timings.csv)")
        histories = histories.merge(pd.read_csv(timings_csv), on=TIMING_KEYS, how="left")
    return write(histories, pd.read_csv(mean_csv), link, stem, table_csv, target)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m adc.report.time_to_accuracy", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="*", help="run folders, or folders above them (e.g. results/runs)")
    p.add_argument("--histories", help="instead of run folders: the pipeline's results/histories.csv ...")
    p.add_argument("--mean", help="... and its results/summary_mean.csv")
    p.add_argument("--timings", help="... and its results/timings.csv (the wall clock, untracked)")
    p.add_argument("--link", default="example", help="link model (default: example = %s)" % LINKS["example"])
    p.add_argument("--out", default="paper_figs/time_to_accuracy", help="figure path without suffix")
    p.add_argument("--table", default=None, help="also write the per-setting table (CSV)")
    p.add_argument("--target", type=float, default=TARGET, help="fraction of base accuracy (default: %(default)s)")
    a = p.parse_args(argv)
    if bool(a.histories) != bool(a.mean) or bool(a.runs) == bool(a.histories):
        p.error("give run folders, or --histories and --mean (not both)")
    if a.histories:
        paths = from_tables(a.histories, a.mean, a.link, a.out, a.table, a.target, a.timings)
    else:
        histories, mean = load_runs(a.runs)
        paths = write(histories, mean, a.link, a.out, a.table, a.target)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
