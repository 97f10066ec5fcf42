"""Snakemake script (rules grid_search_figure, ablation_figure): summary.csv -> figure (PDF, PNG) and a
Markdown table. The logic is adc.report.analyses (dispatched by kind: adc.report.analyses.kinds)."""
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from adc.report import analyses  # noqa: E402

out = snakemake.output  # noqa: F821
kind = "grid_search" if snakemake.rule == "grid_search_figure" else snakemake.wildcards.ablation  # noqa: F821
paths = analyses.make(kind, snakemake.input[0], Path(out.pdf).with_suffix(""), out.table,  # noqa: F821
                      snakemake.params.figure)  # noqa: F821
print(Path(out.table).read_text(), file=sys.stderr)
print(*paths, sep="\n", file=sys.stderr)
