# From the runs to one long table (one row per run) and tables of mean +- std over seeds.


rule aggregate:
    """Every run's metrics.json and history.csv into results/summary.csv, summary_mean.csv (over seeds), histories.csv."""
    input:
        metrics=[f"{r.dir}/metrics.json" for r in RUNS],
        histories=[f"{r.dir}/history.csv" for r in RUNS],
    output:
        summary="results/summary.csv",
        mean="results/summary_mean.csv",
        histories="results/histories.csv",
        failed="results/summary_failed.csv",  # runs left out: path, field, problem
        timings="results/timings.csv",  # wall-clock seconds (machine-specific, untracked)
    log:
        "results/logs/aggregate.log",
    script:
        "../scripts/aggregate.py"


rule tables:
    """Accuracy and communication-to-target tables (Markdown and LaTeX), mean +- std over seeds."""
    input:
        mean="results/summary_mean.csv",
        summary="results/summary.csv",
        histories="results/histories.csv",
    output:
        accuracy_md=report("results/tables/accuracy.md", caption="../report/accuracy_table.rst", category="1. Main comparison"),
        accuracy_tex="results/tables/accuracy.tex",
        comm_md=report("results/tables/comm_to_target.md", caption="../report/comm_to_target.rst", category="2. Communication"),
        comm_tex="results/tables/comm_to_target.tex",
    log:
        "results/logs/tables.log",
    script:
        "../scripts/tables.py"
