# The Hugging Face files the config needs, fetched on the submitting host before any job starts;
# every job then runs with the hub in offline mode. The logic is adc/data/needs.py (tested directly).
#   snakemake download --configfile config/paper.yaml      (then submit: the jobs read the cache)
from adc.data import needs as needs_lib

NEEDS = needs_lib.config_needs(config)
# Every job (local, or a Slurm job, which re-reads this file) inherits this environment: a training
# job reads the Hugging Face caches only and fails at once, naming what is missing, if it is not there.
os.environ.update(needs_lib.JOB_ENV)


localrules:
    download,


rule download:
    """Fetch every dataset and pretrained weight file the config needs into the Hugging Face cache (run it on the submitting host, before the jobs)."""
    params:
        needs=NEEDS.args(),
    log:
        "results/logs/download.log",
    shell:
        "env -u HF_HUB_OFFLINE -u HF_DATASETS_OFFLINE python -m adc.data.needs download {params.needs} 2>&1 | tee {log}"
