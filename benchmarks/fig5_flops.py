"""The paper's Fig. 5 from results/flops.csv: client overhead % and server FLOPs % of base against xi.

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

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:           # `python benchmarks/fig5_flops.py` from anywhere
    sys.path.insert(0, str(ROOT))

from adc.report.collect import method_order  # noqa: E402


def draw(rows: pd.DataFrame, model: str):
    """Two panels against xi: client overhead (% of the client's FLOPs), server FLOPs (% of base)."""
    from adc.report import plotting
    with plotting.style():
        fig, (ax1, ax2) = plotting.plt.subplots(1, 2, figsize=(10, 4.4))
        for method in sorted(set(rows["method"]) - {"base"}, key=method_order):
            pts = rows[rows["method"] == method].sort_values("xi_expected")
            line = plotting.line_kwargs(method, lw=2.2 if method == "adc" else 1.5)
            ax1.plot(pts["xi_expected"], pts["client_overhead_pct"], **line)
            ax2.plot(pts["xi_expected"], pts["server_pct_of_base"], **line)
        ax1.axhline(5.0, color="k", ls=":", lw=1)
        ax1.text(0.0045, 6.0, "paper: ADC about 5 %", fontsize=8)
        ax1.set_yscale("symlog", linthresh=0.01)
        ax1.set_ylim(-0.002, 20)
        ax1.set_ylabel("client overhead (% of client FLOPs)")
        for xi, bound in ((0.05, 10.0), (0.5, 60.0)):
            ax2.plot([xi], [bound], marker="_", ms=18, mew=2, color="k")
            ax2.annotate(f"paper (ADC): < {bound:g} %", (xi, bound), textcoords="offset points", xytext=(-40, 8),
                         fontsize=8)
        xs = sorted(rows.loc[rows["method"] == "adc", "xi_expected"].unique())
        ax2.plot(xs, [100 * x for x in xs], color="0.6", lw=1, ls="--", label="100 x xi")
        ax2.set_yscale("log")
        ax2.set_ylabel("server FLOPs (% of base)")
        for ax in (ax1, ax2):
            ax.set_xscale("log")
            ax.set_xlabel("compression ratio ξ")
            ax.grid(alpha=0.3, which="both")
        handles, labels = ax2.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=7, frameon=False)
        fig.suptitle(f"FLOPs per split training step, {model}, B = 128, 224 px (torch FlopCounterMode)", fontsize=10)
        fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flops", default=str(ROOT / "results" / "flops.csv"))
    p.add_argument("--out", default=str(ROOT / "paper_figs" / "fig5_flops"), help="path without suffix")
    p.add_argument("--model", default="deit_tiny_patch16_224")
    a = p.parse_args(argv)
    flops = pd.read_csv(a.flops)
    rows = flops[flops["model"] == a.model]
    if not len(rows):
        p.error(f"no rows for model {a.model!r} in {a.flops}; run `python -m adc.report.flops` first")
    from adc.report import plotting
    paths = plotting.save(draw(rows, a.model), a.out)
    print(f"-> {paths[0]}, {paths[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
