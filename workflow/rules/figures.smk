# Figures from results/ alone (and the paper's reference numbers), each as PDF and PNG.


rule figures:
    input:
        mean="results/summary_mean.csv",
        histories="results/histories.csv",
        reference="reference/adc_paper_fig3.csv",
    output:
        FIGURES,
    log:
        "results/logs/figures.log",
    script:
        "../scripts/figures.py"


rule time_to_accuracy:
    input:
        histories="results/histories.csv",
        mean="results/summary_mean.csv",
        timings="results/timings.csv",
    output:
        figure=multiext("paper_figs/time_to_accuracy", ".pdf", ".png"),
        table="results/tables/time_to_accuracy.csv",
    params:
        link=config.get("link", "example"),
    log:
        "results/logs/time_to_accuracy.log",
    shell:
        "python -m adc.report.time_to_accuracy --histories {input.histories} --mean {input.mean} --timings {input.timings} --link {params.link:q} "
        "--out paper_figs/time_to_accuracy --table {output.table} > {log} 2>&1"
