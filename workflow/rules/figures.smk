# Figures from results/ alone (and the paper's reference numbers), each as PDF and PNG.


rule figures:
    """Figures of accuracy against measured xi (the paper's Fig. 3) and against MB sent, from results/ alone."""
    input:
        mean="results/summary_mean.csv",
        histories="results/histories.csv",
        reference="reference/adc_paper_fig3.csv",
    output:
        report("paper_figs/accuracy_vs_xi.png", caption="../report/accuracy_vs_xi.rst", category="1. Main comparison"),
        "paper_figs/accuracy_vs_xi.pdf",
        report("paper_figs/accuracy_vs_xi_ablations.png", caption="../report/accuracy_vs_xi_ablations.rst",
               category="4. Ablations"),
        "paper_figs/accuracy_vs_xi_ablations.pdf",
        report("paper_figs/accuracy_vs_communication.png", caption="../report/accuracy_vs_communication.rst",
               category="2. Communication"),
        "paper_figs/accuracy_vs_communication.pdf",
    log:
        "results/logs/figures.log",
    script:
        "../scripts/figures.py"


rule time_to_accuracy:
    """Accuracy against wall-clock (compute + a modelled link) per method at its best setting, and its table."""
    input:
        histories="results/histories.csv",
        mean="results/summary_mean.csv",
        timings="results/timings.csv",
    output:
        pdf="paper_figs/time_to_accuracy.pdf",
        png=report("paper_figs/time_to_accuracy.png", caption="../report/time_to_accuracy.rst", category="3. Time"),
        table=report("results/tables/time_to_accuracy.csv", caption="../report/time_to_accuracy_table.rst",
                     category="3. Time"),
    params:
        link=config.get("link", "example"),
    log:
        "results/logs/time_to_accuracy.log",
    shell:
        "python -m adc.report.time_to_accuracy --histories {input.histories} --mean {input.mean} --timings {input.timings} --link {params.link:q} "
        "--out paper_figs/time_to_accuracy --table {output.table} > {log} 2>&1"
