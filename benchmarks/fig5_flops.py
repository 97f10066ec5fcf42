"""The paper's Fig. 5 from results/flops.csv (the drawing is adc.report.figures.flops_figure; the pipeline
target is ``snakemake fig5_flops``): client overhead % and server FLOPs % of base against xi.

    python -m adc.report.flops                      # -> results/flops.csv, results/flops.md
    python benchmarks/fig5_flops.py          # -> paper_figs/fig5_flops.pdf and .png

Reads only results/ (the figure can be rebuilt from it alone). Every method of the table but
``base`` (100 % of itself) is drawn, in the colour, marker and label it has in every figure
(:mod:`adc.report.plotting`). The paper's statements are drawn as references: about 5 % client
overhead for ADC, and ADC's server below 10 % of base at xi ~ 0.05 and below 60 % at 0.5.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:           # `python benchmarks/fig5_flops.py` from anywhere
    sys.path.insert(0, str(ROOT))

from adc.report.figures import flops_figure  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flops", default=str(ROOT / "results" / "flops.csv"))
    p.add_argument("--out", default=str(ROOT / "paper_figs" / "fig5_flops"), help="path without suffix")
    p.add_argument("--model", default="deit_tiny_patch16_224")
    a = p.parse_args(argv)
    try:
        paths = flops_figure(a.flops, a.out, a.model)
    except ValueError as e:
        p.error(str(e))
    print(f"-> {paths[0]}, {paths[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
