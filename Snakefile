"""ADC-Bench: every training run of a config, then one long table, tables and figures.

    snakemake --cores 2                                   # config/default.yaml (the embedded default)
    snakemake --configfile config/paper.yaml -n           # the paper's grid, dry run

Data flows one way: config -> train jobs -> results/runs/.../metrics.json -> results/summary.csv
-> results/tables/ and paper_figs/. Methods and their settings come from the registry
(adc/ and baselines/), never from a list here.
"""
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/default.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/analyses.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/reproduction.smk"
include: "workflow/rules/download.smk"


localrules:
    all,
    aggregate,
    tables,
    figures,
    time_to_accuracy,
    plots,
    fig5_flops,
    reproduction,


rule all:
    """Default target: every run of the config, the summaries, tables and figures."""
    default_target: True
    input:
        RUN_FILES,
        SUMMARY,
        TABLES,
        FIGURES,
        rules.time_to_accuracy.output,
        rules.fig5_flops.output,
        rules.reproduction.output,


onsuccess:
    from adc.report import status as _status

    _st = _status.run_status(RUNS, ROOT)
    if (_st["status"] != "missing").any():  # (not after `snakemake plots` on a clone without runs)
        _status.write_failed(_st, os.path.join(ROOT, "results/failed.csv"))
        print(f"ADC-Bench: {_status.counts_line(_st)}")


onerror:
    # with --keep-going: tables and figures from the runs that finished, the others in results/failed.csv;
    # where that cannot be done, a note beside the summaries says they may predate this run
    from adc.report import status as _status

    try:
        _st = _status.partial_report(RUNS, ROOT, config.get("link", "example"))
        _partial = (_st["status"] == "done").any()
        print(f"ADC-Bench: {_status.counts_line(_st)}; failed and missing runs: results/failed.csv"
              + ("; tables and figures drawn from the finished runs" if _partial else ""))
    except Exception as _e:  # the report itself failed: keep what exists, say it may be stale
        print(f"ADC-Bench: could not draw the partial report ({type(_e).__name__}: {_e})")
        _partial = False
    if _partial:
        Path(ROOT, "results", pipeline.STALE_NOTE).unlink(missing_ok=True)
    else:
        pipeline.mark_summaries_stale("results", log)
