"""The paper's other figures: the grid search (Fig. 2), cluster pictures (Fig. 6) and the ablations.

Each analysis is a pipeline config (the keys of ``config/default.yaml``) plus, optionally,
``vary`` (one ``train`` key over a list of values, e.g. the split index) and ``figure`` (drawing
options). Its name is its kind, one Snakemake target each (``workflow/rules/analyses.smk``). Runs
are the pipeline's runs, in the pipeline's layout under ``results/analyses/{analysis}/{variant}/``,
trained by the pipeline's ``train`` rule (``use rule train as analysis_train``).

- :mod:`~adc.report.analyses.common`            paths, AnalysisError, Kind, Analysis, the runs as one table
- :mod:`~adc.report.analyses.config`            analysis files -> Analysis objects, Snakemake targets, run configs
- :mod:`~adc.report.analyses.kinds`             KINDS: the kinds by name (the dispatch table), :func:`make`
- :mod:`~adc.report.analyses.grid_search`       Fig. 2: accuracy over (T/B, k/n), the best split per xi
- :mod:`~adc.report.analyses.cluster_pictures`  Fig. 6: one batch of a trained ADC run, grouped by cluster
- :mod:`~adc.report.analyses.ablations`         accuracy (and FLOPs) vs split index, batch size, cluster_on

Matplotlib is imported only when a figure is drawn (Snakemake imports this package to parse the
workflow).
"""
from adc.report.analyses.common import (ANALYSES_DIR, FILES, FIXED, ROOT, Analysis, AnalysisError, AnalysisRun,
                                        Kind, summarize_runs)
from adc.report.analyses.config import load, load_file, parse_analysis, run_config, run_config_json, targets
from adc.report.analyses.kinds import KINDS, make

__all__ = ["ANALYSES_DIR", "FILES", "FIXED", "KINDS", "ROOT", "Analysis", "AnalysisError", "AnalysisRun", "Kind",
           "load", "load_file", "make", "parse_analysis", "run_config", "run_config_json", "summarize_runs", "targets"]
