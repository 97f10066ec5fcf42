# One training run per dataset, model, method, setting and seed. adc.train keeps
# checkpoint.pt in the run folder while it runs (not a declared output: an interrupted job
# resumes from it when rerun) and writes metrics.json only when the run is complete.


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
        "printf '%s\\n' {params.run_config:q} > {output.config} && "
        "{params.gpu_slot}python -m adc.train --config {output.config} --threads {threads} "
        "--out $(dirname {output.metrics}) > {log} 2>&1"
