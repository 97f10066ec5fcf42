"""Figures from ``results/`` alone, each written as PDF and PNG.

- :func:`accuracy_vs_xi`: the paper's Fig. 3 layout: one panel per dataset and model, test
  accuracy against the measured compression ratio xi (log x), mean +- std over seeds as error
  bars, the uncompressed base as a dashed line with its std band. Where a panel matches the
  paper (``reference/adc_paper_fig3.csv``), the paper's numbers are overlaid as hollow markers
  in the method's colour.
  The main figure holds every method that is not an ablation; ``accuracy_vs_xi_ablations``
  holds ADC's ablations beside ADC and base (a method declares ``ablation_of``).
- :func:`accuracy_vs_communication`: test accuracy after every epoch against the cumulative
  bytes sent (log x), one line per method and setting (mean over seeds).

Colours, markers, labels, panels and saving are :mod:`adc.report.plotting`'s.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.lines import Line2D

from adc.report import plotting
from adc.report.collect import MB, conventions_note, mean_curve, method_order, panels


#: what the x axis of accuracy_vs_xi plots: the paper's payload convention, not all bytes
XI_LABEL = "ξ, payload convention (activations + gradients sent / uncompressed fp32)"
#: where runs record ``xi_plot`` (nominal xi under protocol paper, as the authors plot; measured otherwise)
XI_LABEL_PLOT = "ξ: nominal under protocol paper, else measured (payload convention)"


def ablations(methods) -> set[str]:
    """The methods that are an ablation (``ablation_of``) of a registered method; unknown names are not."""
    from adc.core.methods import registry
    reg = registry()
    return {m for m in methods if m in reg and reg[m].ablation_of}


def split_main_ablations(mean: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(main comparison, ablations): the ablations figure keeps base and what they ablate."""
    abl = ablations(mean["method"].unique())
    from adc.core.methods import registry
    parents = {registry()[m].ablation_of for m in abl}
    main = mean[~mean["method"].isin(abl)]
    side = mean[mean["method"].isin(abl | parents | {"base"})]
    return main, side


def _norm(model: str) -> str:
    return str(model).split(".")[0]


def reference_for(reference: pd.DataFrame | None, dataset: str, model: str) -> pd.DataFrame:
    """The paper's points for one panel (empty where the paper has no such panel)."""
    if reference is None or not len(reference):
        return pd.DataFrame(columns=["dataset", "model", "method", "setting", "xi", "accuracy"])
    return reference[(reference["dataset"] == dataset) & (reference["model"].map(_norm) == _norm(model))]


def accuracy_vs_xi(mean: pd.DataFrame, stem: str | Path, reference: pd.DataFrame | None = None) -> list[Path]:
    """Accuracy vs measured xi per dataset/model, error bars = std over seeds, paper numbers hollow."""
    return plotting.save(draw_accuracy_vs_xi(mean, reference), stem)


def draw_accuracy_vs_xi(mean: pd.DataFrame, reference: pd.DataFrame | None = None, y: str = "final_test_accuracy",
                        ylabel: str = "test accuracy"):
    """``y``: the accuracy column (``<y>_mean``/``_std``); x is ``xi_plot_mean`` where runs record it
    (the nominal xi under the paper protocol, as the authors plot; else measured), else ``xi_measured_mean``."""
    xcol = "xi_plot_mean" if "xi_plot_mean" in mean and mean["xi_plot_mean"].notna().all() else "xi_measured_mean"
    mean = mean[mean[f"{y}_mean"].notna()]
    with plotting.style():
        ps = panels(mean)
        fig, axes = plotting.panel_grid(max(len(ps), 1))
        refs = {panel: reference_for(reference, *panel) for panel in ps}
        overlaid = False
        for ax, (dataset, model) in zip(axes, ps):
            p = mean[(mean["dataset"] == dataset) & (mean["model"] == model)]
            ref = refs[(dataset, model)]
            for method, g in p.groupby("method", sort=False):
                color, marker, _ = plotting.method_style(method)
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
                    color, marker, _ = plotting.method_style(method)
                    g = g.sort_values("xi")
                    ax.plot(g["xi"], g["accuracy"], ls=":", lw=0.9, color=color, marker=marker, ms=6,
                            mfc="none", mew=1.1, zorder=2)
                overlaid = True
            plotting.log_x(ax)
            ax.set_title(plotting.panel_title(dataset, model))
            ax.set_xlabel(XI_LABEL if xcol == "xi_measured_mean" else XI_LABEL_PLOT)
            ax.set_ylabel(ylabel)
        extra = []
        if overlaid:
            extra = [Line2D([], [], color="#555555", marker="o", mfc="none", ls=":", label="paper (hollow)")]
        plotting.legend(fig, list(mean["method"]) + [m for r in refs.values() for m in r["method"]], extra)
        fig.text(0.01, 0.005, conventions_note(mean, y), fontsize=7, color="#444444", ha="left", va="bottom",
                 wrap=True)                                  # which protocol and evaluation these numbers are
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        return fig


def accuracy_vs_communication(histories: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Test accuracy after every epoch vs cumulative MB sent; one line per method and setting.

    Seeds are averaged epoch by epoch. Within a method, darker and thicker lines send more (higher xi).
    """
    return plotting.save(draw_accuracy_vs_communication(histories), stem)


def draw_accuracy_vs_communication(histories: pd.DataFrame):
    with plotting.style():
        ps = panels(histories)
        fig, axes = plotting.panel_grid(max(len(ps), 1))
        for ax, (dataset, model) in zip(axes, ps):
            p = histories[(histories["dataset"] == dataset) & (histories["model"] == model)]
            for method, gm in p.groupby("method", sort=False):
                color, marker, _ = plotting.method_style(method)
                curves = []
                for setting, gs in gm.groupby("setting", sort=False):
                    c = mean_curve(gs, ["bytes_total", "test_accuracy", "xi_measured"])
                    curves.append((c["xi_measured"].iloc[-1], setting, c))
                curves.sort(key=lambda t: t[0])
                for i, (_, setting, c) in enumerate(curves):
                    shade = 0.35 + 0.65 * (i + 1) / len(curves)
                    ax.plot(c["bytes_total"] / MB, c["test_accuracy"], color=color, alpha=shade,
                            lw=0.8 + 0.8 * (i + 1) / len(curves), ls=plotting.linestyle(method))
                    ax.plot(c["bytes_total"].iloc[-1:] / MB, c["test_accuracy"].iloc[-1:], color=color,
                            alpha=shade, marker=marker, ms=3.5, ls="none")
            plotting.log_x(ax)
            ax.set_title(plotting.panel_title(dataset, model))
            ax.set_xlabel("cumulative communication (MB, both directions)")
            ax.set_ylabel("test accuracy")
        plotting.legend(fig, histories["method"], [Line2D([], [], color="#555555", alpha=0.45, lw=0.9,
                                     label="lighter = lower ξ (marker: end of budget)")])
        fig.tight_layout()
        return fig


def draw_flops(rows: pd.DataFrame, model: str):
    """Two panels against xi: client overhead (% of the client's FLOPs), server FLOPs (% of base)."""
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


def flops_figure(flops_csv, stem, model: str = "deit_tiny_patch16_224") -> list[Path]:
    """The paper's Fig. 5 from ``results/flops.csv`` (written by ``python -m adc.report.flops``)."""
    flops = pd.read_csv(flops_csv)
    rows = flops[flops["model"] == model]
    if not len(rows):
        raise ValueError(f"no rows for model {model!r} in {flops_csv}; run `python -m adc.report.flops` first")
    return plotting.save(draw_flops(rows, model), stem)


def load_reference(path: str | Path | None) -> pd.DataFrame | None:
    if not path or not Path(path).exists():
        return None
    return pd.read_csv(path)


def all_figures(mean_csv, histories_csv, reference_csv, out_dir) -> list[Path]:
    mean = pd.read_csv(mean_csv)
    hist = pd.read_csv(histories_csv)
    ref = load_reference(reference_csv)
    out_dir = Path(out_dir)
    main, side = split_main_ablations(mean)
    main_hist = hist[hist["method"].isin(main["method"].unique())]
    return (accuracy_vs_xi(main, out_dir / "accuracy_vs_xi", ref)
            + accuracy_vs_xi(side, out_dir / "accuracy_vs_xi_ablations", None)
            + accuracy_vs_communication(main_hist, out_dir / "accuracy_vs_communication"))


if __name__ == "__main__":     # python -m adc.report.figures results/summary_mean.csv results/histories.csv ref.csv out/
    import sys
    for p in all_figures(*sys.argv[1:5]):
        print(p)
