# Tables and figures from the summaries in results/ alone (no training job), and the FLOPs figure.


rule plots:
    """Redraw every table and figure from results/summary*.csv, histories.csv and flops.csv alone
    (committed, or brought from a cluster): no training job is scheduled."""
    params:
        link=config.get("link", "example"),
        root=ROOT,
    log:
        "results/logs/plots.log",
    script:
        "../scripts/plots.py"


rule flops_table:
    """FLOPs of client and server per method and setting (DeiT-Tiny/Small, meta device): results/flops.csv."""
    output:
        csv="results/flops.csv",
        md="results/flops.md",
    log:
        "results/logs/flops.log",
    shell:
        "python -m adc.report.flops > {log:q} 2>&1"


rule fig5_flops:
    """The paper's Fig. 5 (client overhead and server FLOPs against xi) from results/flops.csv."""
    input:
        "results/flops.csv",
    output:
        "paper_figs/fig5_flops.pdf",
        report("paper_figs/fig5_flops.png", caption="../report/fig5_flops.rst", category="1. Main comparison"),
    log:
        "results/logs/fig5_flops.log",
    shell:
        "python benchmarks/fig5_flops.py --flops {input:q} --out paper_figs/fig5_flops > {log:q} 2>&1"
