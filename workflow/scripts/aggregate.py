"""Snakemake script (rule aggregate): metrics.json + history.csv of every run -> one long table,
mean +- std over seeds, and all histories in one file. The logic is adc.report.

A run whose metrics.json is not valid (adc.runtime.record) is left out, named with its file and
field in the log, on stderr and in results/summary_failed.csv, and counted as failed; the job
itself does not fail (Snakemake would delete the tables). A note that earlier summaries are
stale (adc.pipeline.mark_summaries_stale) is removed once fresh ones are written."""
import csv
import sys
from pathlib import Path

log = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from adc import pipeline  # noqa: E402
from adc.report import collect as report  # noqa: E402


def say(line: str) -> None:
    for f in (log, sys.stderr):
        print(line, file=f, flush=True)


failures = []
runs = report.aggregate(snakemake.input.metrics, snakemake.output.summary, snakemake.output.mean,  # noqa: F821
                        snakemake.output.histories, history_paths=snakemake.input.histories,  # noqa: F821
                        failures=failures, timings_out=snakemake.output.timings)  # noqa: F821
failed = Path(snakemake.output.failed)  # noqa: F821
with open(failed.with_name(f".{failed.name}.tmp"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["path", "field", "problem"])
    for e in failures:
        w.writerow([e.path, e.field or "", e.problem])
failed.with_name(f".{failed.name}.tmp").replace(failed)
for e in failures:
    say(f"aggregate: FAILED RUN {e}")
say(f"aggregate: {len(runs)} runs -> {snakemake.output.summary}"  # noqa: F821
    + (f"; {len(failures)} failed run(s) left out, listed in {failed}" if failures else ""))
Path(snakemake.output.summary).with_name(pipeline.STALE_NOTE).unlink(missing_ok=True)  # noqa: F821
