# Our numbers next to the paper's Fig. 3, and Fig. 3 under each method's own evaluation.


rule reproduction:
    """results/reproduction.md: every point of reference/adc_paper_fig3.csv the results cover (paper
    value, ours as mean +- std over seeds, difference, verdict), panels not covered listed; and
    paper_figs/accuracy_vs_xi_compressed, the companion of accuracy_vs_xi with each method evaluated
    as its own authors do (top-k, C3-SL, quantization, BottleNet++ through their compression)."""
    input:
        mean="results/summary_mean.csv",
        reference="reference/adc_paper_fig3.csv",
    output:
        report="results/reproduction.md",
        figure=multiext("paper_figs/accuracy_vs_xi_compressed", ".pdf", ".png"),
    log:
        "results/logs/reproduction.log",
    shell:
        "python -m adc.report.reproduction --mean {input.mean} --reference {input.reference} "
        "--out {output.report} --figure paper_figs/accuracy_vs_xi_compressed > {log} 2>&1"
