"""What every analysis shares: paths, the error, the :class:`Kind` record, the analysis and its runs,
and the runs as one table (mean over seeds).

An analysis is a pipeline config plus, optionally, ``vary`` (one train key over a list of values)
and ``figure`` (drawing options); its *kind* (its name: ``grid_search``, ``ablation_split``, ...)
says what it checks, which files it makes and how. The kinds are :data:`adc.report.analyses.kinds.KINDS`.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from adc import pipeline
from adc.report.collect import collect, read_metrics

ROOT = Path(__file__).resolve().parents[3]          # the repository root
ANALYSES_DIR = "results/analyses"
#: the analysis files of each set (``--config analyses=default|paper``)
FILES = {"default": ["config/grid_default.yaml", "config/ablations_default.yaml", "config/clusters_default.yaml"],
         "paper": ["config/grid.yaml", "config/ablations.yaml", "config/clusters.yaml"]}
FIXED = "fixed"            # the variant label of an analysis without ``vary``


class AnalysisError(ValueError):
    """An analysis file that cannot run; the message names the file, the analysis and the key."""


@dataclass
class AnalysisRun:
    analysis: str
    variant: str
    run: pipeline.Run

    @property
    def dir(self) -> str:
        r = self.run
        return f"{ANALYSES_DIR}/{self.analysis}/{self.variant}/{r.dataset}/{r.model}/{r.method}/{r.setting}/seed{r.seed}"


@dataclass
class Analysis:
    name: str
    source: str
    config: dict                                   # the pipeline config (checked, defaults filled)
    vary: tuple[str, list] | None = None           # (train key, values)
    figure: dict = field(default_factory=dict)

    def variants(self) -> dict[str, dict]:
        """{variant label: pipeline config}; one variant (``fixed``) without ``vary``."""
        if self.vary is None:
            return {FIXED: self.config}
        key, values = self.vary
        out = {}
        for v in values:
            cfg = copy.deepcopy(self.config)
            cfg.setdefault("train", {})[key] = v
            out[f"{key}={v}"] = cfg
        return out

    def runs(self) -> list[AnalysisRun]:
        return [AnalysisRun(self.name, label, r) for label, cfg in self.variants().items()
                for r in pipeline.expand_runs(cfg)]

    def metrics_paths(self) -> list[str]:
        return [f"{r.dir}/metrics.json" for r in self.runs()]

    def resources(self) -> dict:
        return self.config["resources"]


def figure_and_table(a: Analysis, table: str | None = None) -> list[str]:
    """The files of an analysis drawn from its summary: ``paper_figs/{name}.pdf|png`` and its Markdown table."""
    return [f"paper_figs/{a.name}.pdf", f"paper_figs/{a.name}.png", f"results/tables/{table or a.name}.md"]


@dataclass(frozen=True)
class Kind:
    """One kind of analysis: its checks, the files it makes, and the function that makes them.

    ``make(summary_csv, stem, table, figure)`` draws ``stem``.pdf/.png and writes the Markdown
    ``table`` from the analysis's ``summary.csv`` (None: the kind draws per run, by its own rule).
    """
    name: str
    make: Callable[..., list[Path]] | None = None
    vary: str | None = None                                # the train key the analysis must vary
    train: dict = field(default_factory=dict)              # train keys the kind sets itself
    check: Callable[[Analysis, str], None] | None = None   # raises AnalysisError naming ``where``
    targets: Callable[[Analysis], list[str]] = figure_and_table


# ----- the runs as one table -----------------------------------------------------------------------
def summarize_runs(metrics_paths) -> pd.DataFrame:
    """One row per run (adc.report.collect) plus ``variant``, ``split_index``, ``batch_size`` and T, k."""
    df = collect(metrics_paths)
    extra = []
    for p in df["run_dir"]:
        m = read_metrics(p)
        shape, details = m.get("shape", {}), m.get("method_details") or {}
        extra.append({"variant": Path(p).parts[-6], "split_index": shape.get("split_index"),
                      "batch_size": shape.get("batch_size"), "num_tokens": shape.get("num_tokens"),
                      "num_classes": shape.get("num_classes"), "image_size": (m.get("config") or {}).get("image_size"),
                      "clusters": details.get("clusters"), "tokens_kept": details.get("tokens_kept"),
                      "params_json": json.dumps(m.get("params") or {}, sort_keys=True)})
    return pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1) if len(df) else df


def mean_over_seeds(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per ``keys``: mean and std (n-1) of the final test accuracy, mean measured xi, number of seeds."""
    g = df.groupby(keys, sort=False, dropna=False)
    return g.agg(acc_mean=("final_test_accuracy", "mean"), acc_std=("final_test_accuracy", "std"),
                 xi_measured=("xi_measured", "mean"), n_seeds=("seed", "nunique")).reset_index()


def seeds_note(df: pd.DataFrame) -> str:
    """``mean over 3 seeds`` or ``1 seed`` (for figure titles)."""
    n = df["seed"].nunique() if "seed" in df and len(df) else 0
    return f"mean over {n} seeds" if n > 1 else "1 seed"
