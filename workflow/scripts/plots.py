"""Snakemake script (rule plots): every table and figure from results/ alone (adc.report.redraw)."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from adc.report import redraw  # noqa: E402

try:
    written = redraw.redraw(snakemake.params.root, snakemake.params.link)  # noqa: F821
except redraw.MissingSummary as e:
    print(f"plots: {e}", file=sys.stderr)
    print(f"plots: {e}")
    sys.exit(1)
for p in written:
    print(p, file=sys.stderr)
print(f"plots: {len(written)} files redrawn from results/ (no training)")
