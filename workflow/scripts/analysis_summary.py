"""Snakemake script (rule analysis_summary): an analysis's metrics.json files -> one row per run.
The logic is adc.report.analyses."""
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from adc.report import analyses  # noqa: E402

df = analyses.summarize_runs(snakemake.input.metrics)  # noqa: F821
Path(snakemake.output[0]).parent.mkdir(parents=True, exist_ok=True)  # noqa: F821
df.to_csv(snakemake.output[0], index=False)  # noqa: F821
print(f"{len(df)} runs -> {snakemake.output[0]}", file=sys.stderr)  # noqa: F821
