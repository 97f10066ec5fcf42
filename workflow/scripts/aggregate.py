"""Snakemake script (rule aggregate): metrics.json + history.csv of every run -> one long table,
mean +- std over seeds, and all histories in one file. The logic is adc.report."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from adc.report import collect as report  # noqa: E402

runs = report.aggregate(snakemake.input.metrics, snakemake.output.summary, snakemake.output.mean,  # noqa: F821
                        snakemake.output.histories, history_paths=snakemake.input.histories)  # noqa: F821
print(f"{len(runs)} runs -> {snakemake.output.summary}", file=sys.stderr)  # noqa: F821
