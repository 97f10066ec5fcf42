"""Snakemake script (rule figures): results/ + the paper's reference numbers -> paper_figs/*.pdf|png.
The logic is adc.report.figures (drawn through adc.report.plotting)."""
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from adc.report import figures  # noqa: E402

inp = snakemake.input  # noqa: F821
for path in figures.all_figures(inp.mean, inp.histories, inp.reference, Path(snakemake.output[0]).parent):  # noqa: F821
    print(path, file=sys.stderr)
