# One training run per dataset, model, method, setting and seed. adc.train keeps
# checkpoint.pt in the run folder while it runs (not a declared output: an interrupted job
# resumes from it when rerun) and writes metrics.json only when the run is complete.
#
# The job is one process: the shell execs `python -m adc.pipeline train-job`, which writes
# run_config.json and trains in the same process, and dies with Snakemake (SIGTERM: it saves
# its checkpoint). Every interpolation is quoted; names are checked exactly (adc.pipeline).
# The run config is a param: change it and Snakemake reruns the run (--rerun-triggers params).


rule train:
    """One training run (dataset, model, method, setting, seed): python -m adc.train -> metrics.json, history.csv."""
    output:
        metrics="results/runs/{dataset}/{model}/{method}/{setting}/seed{seed}/metrics.json",
        history="results/runs/{dataset}/{model}/{method}/{setting}/seed{seed}/history.csv",
        config="results/runs/{dataset}/{model}/{method}/{setting}/seed{seed}/run_config.json",
    log:
        "results/runs/{dataset}/{model}/{method}/{setting}/seed{seed}/train.log",
    params:
        run_config=lambda wc: pipeline.run_config_json(config, wc),
        gpu_slot="python -m adc.pipeline gpu-slot -- " if config["resources"]["gpu"] else "",
    threads: config["resources"]["threads"]
    resources:
        gpu=config["resources"]["gpu"],
        mem_mb=config["resources"]["mem_mb"],
        # minutes: resources.runtime, or a margin over the run's projection (resources.runtime_estimate);
        # a retry (--retries) gets attempt x that and resumes from the checkpoint
        runtime=lambda wc, attempt: pipeline.runtime_minutes(config, wc.dataset, wc.model, wc.method, wc.setting, attempt),
    shell:
        "exec {params.gpu_slot}python -m adc.pipeline train-job {output.config:q} {params.run_config:q} "
        "{threads} > {log:q} 2>&1"
