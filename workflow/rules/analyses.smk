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
    """One training run of an analysis (the train rule's command), under results/analyses/{analysis}/{variant}/."""
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
    """One table of all runs of an analysis: results/analyses/{analysis}/summary.csv."""
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
    """The grid search heatmap over T/B x k/n with iso-xi curves (the paper's Fig. 2) and the best-split table."""
    input:
        f"{_ADIR}/grid_search/summary.csv",
    output:
        pdf="paper_figs/grid_search.pdf",
        png=report("paper_figs/grid_search.png", caption="../report/grid_search.rst", category="5. Analyses",
                   subcategory="grid search"),
        table=report("results/tables/grid_best.md", caption="../report/grid_best.rst", category="5. Analyses",
                     subcategory="grid search"),
    params:
        figure=lambda wc: ANALYSES["grid_search"].figure,
    log:
        "results/logs/analyses/grid_search_figure.log",
    script:
        "../scripts/analysis_figure.py"


rule ablation_figure:
    """An ablation's figure (split index, batch size or what k-means clusters on) and its table."""
    wildcard_constraints:
        ablation="ablation_[a-z_]+",
    input:
        f"{_ADIR}/{{ablation}}/summary.csv",
    output:
        pdf="paper_figs/{ablation}.pdf",
        png=report("paper_figs/{ablation}.png", caption="../report/ablation.rst", category="4. Ablations",
                   subcategory="{ablation}"),
        table=report("results/tables/{ablation}.md", caption="../report/ablation_table.rst", category="4. Ablations",
                     subcategory="{ablation}"),
    params:
        figure=lambda wc: ANALYSES[wc.ablation].figure if wc.ablation in ANALYSES else {},
    log:
        "results/logs/analyses/{ablation}_figure.log",
    script:
        "../scripts/analysis_figure.py"


rule cluster_picture:
    """The clusters ADC forms on one batch of a trained run, with kept tokens (the paper's Fig. 6)."""
    input:
        metrics=f"{_ADIR}/cluster_pictures/{analyses_lib.FIXED}/{{dataset}}/{{model}}/{{method}}/{{setting}}/seed{{seed}}/metrics.json",
    output:
        pdf="paper_figs/cluster_pictures/{dataset}/{model}/{method}/{setting}/seed{seed}.pdf",
        png=report("paper_figs/cluster_pictures/{dataset}/{model}/{method}/{setting}/seed{seed}.png",
                   caption="../report/cluster_picture.rst", category="5. Analyses", subcategory="cluster pictures",
                   labels={"panel": "{dataset} / {model}", "setting": "{method} {setting}", "seed": "{seed}"}),
    params:
        figure=lambda wc: ANALYSES["cluster_pictures"].figure,
    log:
        "results/logs/analyses/cluster_pictures/{dataset}/{model}/{method}/{setting}/seed{seed}.log",
    script:
        "../scripts/cluster_picture.py"


rule grid_search:
    """Target: the grid search analysis (its runs, summary, figure and table)."""
    input:
        analyses_lib.targets(ANALYSES, "grid_search"),


rule cluster_pictures:
    """Target: the cluster pictures of the trained ADC runs."""
    input:
        analyses_lib.targets(ANALYSES, "cluster_pictures"),


rule ablation_split:
    """Target: the split-index ablation (runs, summary, figure, table)."""
    input:
        analyses_lib.targets(ANALYSES, "ablation_split"),


rule ablation_batch:
    """Target: the batch-size ablation (runs, summary, figure, table)."""
    input:
        analyses_lib.targets(ANALYSES, "ablation_batch"),


rule ablation_cluster_on:
    """Target: the ablation over what k-means clusters on (runs, summary, figure, table)."""
    input:
        analyses_lib.targets(ANALYSES, "ablation_cluster_on"),


rule analyses:
    """Target: every analysis (grid search, cluster pictures, the three ablations)."""
    input:
        [f for k in analyses_lib.KINDS for f in analyses_lib.targets(ANALYSES, k)],
