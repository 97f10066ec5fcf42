"""Snakemake script (rules grid_search_figure, ablation_figure): summary.csv -> figure (PDF, PNG) and a
Markdown table. The logic is adc.analyses."""
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

import pandas as pd  # noqa: E402

from adc.report import analyses  # noqa: E402

out = snakemake.output  # noqa: F821
stem = Path(out.pdf).with_suffix("")
if snakemake.rule == "grid_search_figure":  # noqa: F821
    summary = pd.read_csv(snakemake.input[0])  # noqa: F821
    print(analyses.grid_best_table(summary, out.table), file=sys.stderr)
    paths = analyses.grid_figure(summary, stem, snakemake.params.iso_xi)  # noqa: F821
else:
    kind = snakemake.wildcards.ablation  # noqa: F821
    flops_csv = Path(snakemake.input[0]).with_name("flops.csv") if kind == "ablation_split" else None  # noqa: F821
    paths = analyses.ablation_outputs(kind, snakemake.input[0], stem, out.table, flops_csv)  # noqa: F821
    print(Path(out.table).read_text(), file=sys.stderr)
print(*paths, sep="\n", file=sys.stderr)
