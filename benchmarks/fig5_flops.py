"""The paper's Fig. 5 from results/flops.csv: client overhead % and server FLOPs % of base against xi.

    python -m adc.report.flops                      # -> results/flops.csv, results/flops.md
    python benchmarks/fig5_flops.py          # -> paper_figs/fig5_flops.pdf and .png

Reads only results/ (the figure can be rebuilt from it alone). The paper's statements are drawn
as references: about 5 % client overhead for ADC, and ADC's server below 10 % of base at
xi ~ 0.05 and below 60 % at 0.5.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STYLE = {"adc": dict(color="C3", marker="o", lw=2.2, label="ADC"),
         "adc_prune_only": dict(color="C1", marker="v", ls="--", label="ADC prune only"),
         "adc_merge_only": dict(color="C5", marker="^", ls="--", label="ADC merge only"),
         "adc_random_merge": dict(color="C6", marker="x", ls=":", label="ADC random merge"),
         "random_token_pruning": dict(color="C2", marker="s", label="random token pruning"),
         "bottlenet": dict(color="C0", marker="D", label="BottleNet++"),
         "c3sl": dict(color="C4", marker="P", label="C3-SL"),
         "topk": dict(color="C7", marker=".", label="top-k"),
         "randtopk": dict(color="C8", marker="*", label="randomized top-k"),
         "quantization": dict(color="C9", marker="d", label="quantization")}


def load(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flops", default=str(ROOT / "results" / "flops.csv"))
    p.add_argument("--out", default=str(ROOT / "paper_figs" / "fig5_flops"), help="path without suffix")
    p.add_argument("--model", default="deit_tiny_patch16_224")
    a = p.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in load(Path(a.flops)) if r["model"] == a.model]
    if not rows:
        p.error(f"no rows for model {a.model!r} in {a.flops}; run `python -m adc.report.flops` first")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.4))
    for method, style in STYLE.items():
        pts = sorted((float(r["xi_expected"]), float(r["client_overhead_pct"]), float(r["server_pct_of_base"]))
                     for r in rows if r["method"] == method)
        if not pts:
            continue
        xs, client, server = zip(*pts)
        ax1.plot(xs, client, **style)
        ax2.plot(xs, server, **style)
    ax1.axhline(5.0, color="k", ls=":", lw=1)
    ax1.text(0.0045, 6.0, "paper: ADC about 5 %", fontsize=8)
    ax1.set_yscale("symlog", linthresh=0.01)
    ax1.set_ylim(-0.002, 20)
    ax1.set_ylabel("client overhead (% of client FLOPs)")
    for xi, bound in ((0.05, 10.0), (0.5, 60.0)):
        ax2.plot([xi], [bound], marker="_", ms=18, mew=2, color="k")
        ax2.annotate(f"paper (ADC): < {bound:g} %", (xi, bound), textcoords="offset points", xytext=(-40, 8),
                     fontsize=8)
    xs = sorted({float(r["xi_expected"]) for r in rows if r["method"] == "adc"})
    ax2.plot(xs, [100 * x for x in xs], color="0.6", lw=1, ls="--", label="100 x xi")
    ax2.set_yscale("log")
    ax2.set_ylabel("server FLOPs (% of base)")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("compression ratio xi")
        ax.grid(alpha=0.3, which="both")
    handles, labels = ax2.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=7, frameon=False)
    fig.suptitle(f"FLOPs per split training step, {a.model}, B = 128, 224 px (torch FlopCounterMode)", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for ext in (".pdf", ".png"):
        fig.savefig(out.with_suffix(ext), dpi=150)
    print(f"-> {out.with_suffix('.pdf')}, {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
