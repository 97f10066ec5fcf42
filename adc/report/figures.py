"""Figures from ``results/`` alone, each written as PDF and PNG.

- :func:`accuracy_vs_xi`: the paper's Fig. 3 layout: one panel per dataset and model, test
  accuracy against the measured compression ratio xi (log x), mean +- std over seeds as error
  bars, the uncompressed base as a dashed line with its std band. Where a panel matches the
  paper (``reference/adc_paper_fig3.csv``), the paper's numbers are overlaid as hollow markers
  in the method's colour.
- :func:`accuracy_vs_communication`: test accuracy after every epoch against the cumulative
  bytes sent (log x), one line per method and setting (mean over seeds).
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from adc.report.collect import MB, method_order  # noqa: E402

#: fixed colours and markers for the paper's methods; other methods take the next free ones
COLORS = {"base": "black", "adc": "#d62728", "topk": "#1f77b4", "randtopk": "#17becf", "c3sl": "#2ca02c",
          "bottlenet": "#9467bd", "quantization": "#ff7f0e", "random_token_pruning": "#8c564b"}
SPARE_COLORS = ["#e377c2", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2",
                "#dbdb8d", "#9edae5", "#393b79", "#637939", "#8c6d31", "#843c39"]
FIXED_MARKERS = {"base": "o", "adc": "s", "topk": "^", "randtopk": "v", "c3sl": "D", "bottlenet": "P",
                 "quantization": "X", "random_token_pruning": "h"}
MARKERS = ["<", ">", "*", "p", "d", "8", "H", "o", "s", "^", "v", "D"]
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
         "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
         "axes.spines.right": False, "savefig.bbox": "tight", "savefig.dpi": 200, "pdf.fonttype": 42}


def method_styles(methods) -> dict[str, tuple[str, str]]:
    """{method: (colour, marker)}, stable for the paper's methods, in a fixed order for the rest."""
    out, spare_colors, spare_markers = {}, iter(SPARE_COLORS), iter(MARKERS * 4)
    for m in sorted(set(methods), key=method_order):
        out[m] = (COLORS.get(m) or next(spare_colors, "#333333"), FIXED_MARKERS.get(m) or next(spare_markers))
    return out


def panels(df: pd.DataFrame) -> list[tuple[str, str]]:
    seen = []
    for key in zip(df["dataset"], df["model"]):
        if key not in seen:
            seen.append(key)
    return seen


def _grid(n: int):
    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    size = (6.0, 4.4) if n == 1 else (4.4 * ncols, 3.3 * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def save(fig, stem: str | Path) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".pdf"), stem.with_suffix(".png")]
    fig.savefig(paths[0], metadata={"CreationDate": None})      # reproducible PDF bytes
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def log_x(ax) -> None:
    """Log x with plain tick labels at 1, 2, 5 x 10^k (0.01, 0.02, 0.05, 0.1, ...)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _norm(model: str) -> str:
    return str(model).split(".")[0]


def reference_for(reference: pd.DataFrame | None, dataset: str, model: str) -> pd.DataFrame:
    """The paper's points for one panel (empty where the paper has no such panel)."""
    if reference is None or not len(reference):
        return pd.DataFrame(columns=["dataset", "model", "method", "setting", "xi", "accuracy"])
    return reference[(reference["dataset"] == dataset) & (reference["model"].map(_norm) == _norm(model))]


#: legend text where a method's name alone does not say which variant it is
LEGEND_LABELS = {"bottlenet": "bottlenet (BottleNet++ as the ADC authors ran it)",
                 "bottlenet_norelu": "bottlenet_norelu (ADC authors' BottleNet++, no final ReLU)",
                 "bottlenetpp_paper": "bottlenetpp_paper (BottleNet++ paper's design)"}


def _legend(fig, styles: dict, extra: list) -> None:
    handles = [Line2D([], [], color=c, marker=mk, ls="--" if m == "base" else "-", label=LEGEND_LABELS.get(m, m))
               for m, (c, mk) in styles.items()] + extra
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
               ncol=1 if len(handles) <= 16 else 2)


def accuracy_vs_xi(mean: pd.DataFrame, stem: str | Path, reference: pd.DataFrame | None = None) -> list[Path]:
    """Accuracy vs measured xi per dataset/model, error bars = std over seeds, paper numbers hollow."""
    with plt.rc_context(STYLE):
        return save(draw_accuracy_vs_xi(mean, reference), stem)


def draw_accuracy_vs_xi(mean: pd.DataFrame, reference: pd.DataFrame | None = None, y: str = "final_test_accuracy",
                        ylabel: str = "test accuracy"):
    """``y``: the accuracy column (``<y>_mean``/``_std``); x is ``xi_plot_mean`` where runs record it
    (the nominal xi under the paper protocol, as the authors plot; else measured), else ``xi_measured_mean``."""
    xcol = "xi_plot_mean" if "xi_plot_mean" in mean and mean["xi_plot_mean"].notna().all() else "xi_measured_mean"
    mean = mean[mean[f"{y}_mean"].notna()]
    with plt.rc_context(STYLE):
        ps = panels(mean)
        fig, axes = _grid(max(len(ps), 1))
        refs = {panel: reference_for(reference, *panel) for panel in ps}
        styles = method_styles(list(mean["method"]) + [m for r in refs.values() for m in r["method"]])
        overlaid = False
        for ax, (dataset, model) in zip(axes, ps):
            p = mean[(mean["dataset"] == dataset) & (mean["model"] == model)]
            ref = refs[(dataset, model)]
            for method, g in p.groupby("method", sort=False):
                color, marker = styles[method]
                g = g.sort_values(xcol)
                std = g[f"{y}_std"].fillna(0.0)
                if method == "base":
                    yb, s = g[f"{y}_mean"].iloc[0], std.iloc[0]
                    ax.axhline(yb, color=color, ls="--", lw=1.0, zorder=1)
                    ax.axhspan(yb - s, yb + s, color=color, alpha=0.08, lw=0, zorder=0)
                ax.errorbar(g[xcol], g[f"{y}_mean"], yerr=std, color=color,
                            marker=marker, ms=4.5, lw=1.3, capsize=2.5, ls="none" if method == "base" else "-",
                            zorder=3)
            if len(ref):
                for method, g in ref.groupby("method", sort=False):
                    color, marker = styles[method]
                    g = g.sort_values("xi")
                    ax.plot(g["xi"], g["accuracy"], ls=":", lw=0.9, color=color, marker=marker, ms=6,
                            mfc="none", mew=1.1, zorder=2)
                overlaid = True
            log_x(ax)
            ax.set_title(f"{dataset} / {model}")
            ax.set_xlabel("compression ratio ξ (bytes sent / uncompressed)" if xcol == "xi_measured_mean"
                          else "compression ratio ξ (nominal under protocol paper, else measured)")
            ax.set_ylabel(ylabel)
        extra = []
        if overlaid:
            extra = [Line2D([], [], color="#555555", marker="o", mfc="none", ls=":", label="paper (hollow)")]
        _legend(fig, styles, extra)
        fig.tight_layout()
        return fig


def accuracy_vs_communication(histories: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Test accuracy after every epoch vs cumulative MB sent; one line per method and setting.

    Seeds are averaged epoch by epoch. Within a method, darker and thicker lines send more (higher xi).
    """
    with plt.rc_context(STYLE):
        return save(draw_accuracy_vs_communication(histories), stem)


def draw_accuracy_vs_communication(histories: pd.DataFrame):
    with plt.rc_context(STYLE):
        ps = panels(histories)
        fig, axes = _grid(max(len(ps), 1))
        styles = method_styles(histories["method"]) if len(histories) else {}
        for ax, (dataset, model) in zip(axes, ps):
            p = histories[(histories["dataset"] == dataset) & (histories["model"] == model)]
            for method, gm in p.groupby("method", sort=False):
                color, marker = styles[method]
                curves = []
                for setting, gs in gm.groupby("setting", sort=False):
                    gs = gs.assign(_row=gs.groupby("seed").cumcount())
                    c = gs.groupby("_row")[["bytes_total", "test_accuracy", "xi_measured"]].mean()
                    curves.append((c["xi_measured"].iloc[-1], setting, c))
                curves.sort(key=lambda t: t[0])
                for i, (_, setting, c) in enumerate(curves):
                    shade = 0.35 + 0.65 * (i + 1) / len(curves)
                    ax.plot(c["bytes_total"] / MB, c["test_accuracy"], color=color, alpha=shade,
                            lw=0.8 + 0.8 * (i + 1) / len(curves), ls="--" if method == "base" else "-")
                    ax.plot(c["bytes_total"].iloc[-1:] / MB, c["test_accuracy"].iloc[-1:], color=color,
                            alpha=shade, marker=marker, ms=3.5, ls="none")
            log_x(ax)
            ax.set_title(f"{dataset} / {model}")
            ax.set_xlabel("cumulative communication (MB, both directions)")
            ax.set_ylabel("test accuracy")
        _legend(fig, styles, [Line2D([], [], color="#555555", alpha=0.45, lw=0.9,
                                     label="lighter = lower ξ (marker: end of budget)")])
        fig.tight_layout()
        return fig


def load_reference(path: str | Path | None) -> pd.DataFrame | None:
    if not path or not Path(path).exists():
        return None
    return pd.read_csv(path)


def all_figures(mean_csv, histories_csv, reference_csv, out_dir) -> list[Path]:
    mean = pd.read_csv(mean_csv)
    hist = pd.read_csv(histories_csv)
    ref = load_reference(reference_csv)
    out_dir = Path(out_dir)
    return (accuracy_vs_xi(mean, out_dir / "accuracy_vs_xi", ref)
            + accuracy_vs_communication(hist, out_dir / "accuracy_vs_communication"))


if __name__ == "__main__":     # python -m adc.figures results/summary_mean.csv results/histories.csv ref.csv out/
    import sys
    for p in all_figures(*sys.argv[1:5]):
        print(p)
