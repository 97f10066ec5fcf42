# The paper's other figures: the grid search (Fig. 2), cluster pictures (Fig. 6) and the ablations
# over the split index, the batch size and the vector k-means clusters on. One target each, and
# `analyses` for all:
#   snakemake --cores 2 analyses                               (config/*_default.yaml: digits, CPU)
#   snakemake grid_search --config analyses=paper ...          (config/grid.yaml etc.: the paper's;
#                                                                --config last: it takes every word after it)
# Each analysis is a pipeline config (+ `vary`: one train key over values); its runs are the
# pipeline's runs, in the pipeline's layout under results/analyses/{analysis}/{variant}/, trained by
# the pipeline's own train rule. The logic is the package adc/report/analyses/ (a module per kind,
# dispatched through its KINDS table; tested directly).
from adc.report import analyses as analyses_lib

try:
    ANALYSES = analyses_lib.load(config.get("analyses", "default"), ROOT)
except analyses_lib.AnalysisError as e:
    raise WorkflowError(f"invalid analysis config (nothing was run):\n  {e}") from None

_ADIR = analyses_lib.ANALYSES_DIR
_RUN = "{variant,[^/]+}/{dataset}/{model}/{method}/{setting}/seed{seed}"


localrules:
    analyses,
    grid_search,
    cluster_pictures,
    ablation_split,
    ablation_batch,
    ablation_cluster_on,
    analysis_summary,
    grid_search_figure,
    ablation_figure,


use rule train as analysis_train with:
    output:
        metrics=f"{_ADIR}/{{analysis,{'|'.join(analyses_lib.KINDS)}}}/{_RUN}/metrics.json",
        history=f"{_ADIR}/{{analysis}}/{_RUN}/history.csv",
        config=f"{_ADIR}/{{analysis}}/{_RUN}/run_config.json",
    log:
        f"{_ADIR}/{{analysis}}/{_RUN}/train.log",
    params:
        run_config=lambda wc: analyses_lib.run_config_json(ANALYSES, wc),
        gpu_slot=lambda wc: "python -m adc.pipeline gpu-slot -- " if ANALYSES[wc.analysis].resources()["gpu"] else "",
    threads: lambda wc: ANALYSES[wc.analysis].resources()["threads"]
    resources:
        gpu=lambda wc: ANALYSES[wc.analysis].resources()["gpu"],
        mem_mb=lambda wc: ANALYSES[wc.analysis].resources()["mem_mb"],
        runtime=lambda wc, attempt: ANALYSES[wc.analysis].resources()["runtime"] * attempt,


rule analysis_summary:
    wildcard_constraints:
        analysis="|".join(analyses_lib.KINDS),
    input:
        metrics=lambda wc: ANALYSES[wc.analysis].metrics_paths(),
    output:
        f"{_ADIR}/{{analysis}}/summary.csv",
    log:
        "results/logs/analyses/{analysis}_summary.log",
    script:
        "../scripts/analysis_summary.py"


rule grid_search_figure:
    input:
        f"{_ADIR}/grid_search/summary.csv",
    output:
        pdf="paper_figs/grid_search.pdf",
        png="paper_figs/grid_search.png",
        table="results/tables/grid_best.md",
    params:
        figure=lambda wc: ANALYSES["grid_search"].figure,
    log:
        "results/logs/analyses/grid_search_figure.log",
    script:
        "../scripts/analysis_figure.py"


rule ablation_figure:
    wildcard_constraints:
        ablation="ablation_[a-z_]+",
    input:
        f"{_ADIR}/{{ablation}}/summary.csv",
    output:
        pdf="paper_figs/{ablation}.pdf",
        png="paper_figs/{ablation}.png",
        table="results/tables/{ablation}.md",
    params:
        figure=lambda wc: ANALYSES[wc.ablation].figure if wc.ablation in ANALYSES else {},
    log:
        "results/logs/analyses/{ablation}_figure.log",
    script:
        "../scripts/analysis_figure.py"


rule cluster_picture:
    input:
        metrics=f"{_ADIR}/cluster_pictures/{analyses_lib.FIXED}/{{dataset}}/{{model}}/{{method}}/{{setting}}/seed{{seed}}/metrics.json",
    output:
        pdf="paper_figs/cluster_pictures/{dataset}/{model}/{method}/{setting}/seed{seed}.pdf",
        png="paper_figs/cluster_pictures/{dataset}/{model}/{method}/{setting}/seed{seed}.png",
    params:
        figure=lambda wc: ANALYSES["cluster_pictures"].figure,
    log:
        "results/logs/analyses/cluster_pictures/{dataset}/{model}/{method}/{setting}/seed{seed}.log",
    script:
        "../scripts/cluster_picture.py"


rule grid_search:
    input:
        analyses_lib.targets(ANALYSES, "grid_search"),


rule cluster_pictures:
    input:
        analyses_lib.targets(ANALYSES, "cluster_pictures"),


rule ablation_split:
    input:
        analyses_lib.targets(ANALYSES, "ablation_split"),


rule ablation_batch:
    input:
        analyses_lib.targets(ANALYSES, "ablation_batch"),


rule ablation_cluster_on:
    input:
        analyses_lib.targets(ANALYSES, "ablation_cluster_on"),


rule analyses:
    input:
        [f for k in analyses_lib.KINDS for f in analyses_lib.targets(ANALYSES, k)],
