# From the runs to one long table (one row per run) and tables of mean +- std over seeds.


rule aggregate:
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
    input:
        mean="results/summary_mean.csv",
        summary="results/summary.csv",
        histories="results/histories.csv",
    output:
        accuracy_md="results/tables/accuracy.md",
        accuracy_tex="results/tables/accuracy.tex",
        comm_md="results/tables/comm_to_target.md",
        comm_tex="results/tables/comm_to_target.tex",
    log:
        "results/logs/tables.log",
    script:
        "../scripts/tables.py"
