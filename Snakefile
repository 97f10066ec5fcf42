"""ADC-Bench: every training run of a config, then one long table, tables and figures.

    snakemake --cores 2                                   # config/default.yaml (the embedded default)
    snakemake --configfile config/paper.yaml -n           # the paper's grid, dry run

Data flows one way: config -> train jobs -> results/runs/.../metrics.json -> results/summary.csv
-> results/tables/ and paper_figs/. Methods and their settings come from the registry
(adc/ and baselines/), never from a list here.
"""
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/default.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/analyses.smk"
include: "workflow/rules/download.smk"


localrules:
    all,
    aggregate,
    tables,
    figures,
    time_to_accuracy,


rule all:
    """Default target: every run of the config, the summaries, tables and figures."""
    default_target: True
    input:
        SUMMARY,
        TABLES,
        FIGURES,
        rules.time_to_accuracy.output,
