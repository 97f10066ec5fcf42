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
