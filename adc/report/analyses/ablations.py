"""The ablations: accuracy (and FLOPs) against the split index, the batch size, and what ADC's
vector k-means clusters on. Each is a figure and a Markdown table from the analysis's summary.

- ``ablation_split`` (vary ``split_index``): :func:`split_flops`, :func:`split_table`, :func:`draw_split`;
- ``ablation_batch`` (vary ``batch_size``): :func:`batch_table`, :func:`draw_batch`;
- ``ablation_cluster_on`` (settings over ADC's ``cluster_on``): :func:`cluster_on_table`, :func:`draw_cluster_on`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from adc.report import tables
from adc.report.analyses.common import Kind, mean_over_seeds, seeds_note
from adc.report.collect import panels


def _by_setting(df: pd.DataFrame, x: str) -> pd.DataFrame:
    return mean_over_seeds(df, ["dataset", "model", "method", "setting", x]).sort_values(x)


def accuracy_table(acc: pd.DataFrame, path, title: str, intro: str, x: tuple[str, str], setting: str = "setting",
                   extra: dict | None = None, align: str = "lllr") -> str:
    """The Markdown table of an ablation: per panel, method and setting, the varied ``x`` = (column, header),
    accuracy (mean ± std over seeds), measured xi, and ``extra`` columns {header: row -> cell}."""
    extra = extra or {}
    header = ["dataset / model", "method", "setting", x[1], "accuracy", "xi measured", *extra]
    rows = [[f"{r['dataset']} / {r['model']}", r["method"], r[setting], r[x[0]], tables.pm(r["acc_mean"], r["acc_std"]),
             f"{r['xi_measured']:.3f}", *(cell(r) for cell in extra.values())] for _, r in acc.iterrows()]
    return tables.write(path, [f"# {title}\n", intro + "\n", tables.markdown(tables.frame(header, rows), align)])


def _table_and_figure(table_of, draw):
    """The ``make`` of an ablation whose table and figure come from its summary alone."""
    def make(summary_csv, stem, table, figure: dict) -> list[Path]:
        from adc.report import plotting
        summary = pd.read_csv(summary_csv)
        table_of(summary, table)
        return plotting.save(draw(summary), stem)
    return make


# ----- split index -----------------------------------------------------------------------------------
def split_flops(summary: pd.DataFrame) -> pd.DataFrame:
    """GFLOPs of one training step, client (blocks + method) and server, per run setting and split index."""
    from adc.report.flops import StepFlops
    rows, cache = [], {}
    keys = ["dataset", "model", "method", "setting", "split_index", "batch_size", "num_classes", "image_size",
            "params_json"]
    for _, r in summary.drop_duplicates(keys[:-1]).iterrows():
        img = None if pd.isna(r["image_size"]) else int(r["image_size"])
        sk = (r["model"], int(r["batch_size"]), int(r["num_classes"]), img, int(r["split_index"]))
        if sk not in cache:
            cache[sk] = StepFlops(r["model"], batch_size=sk[1], num_classes=sk[2], img_size=img, split_index=sk[4])
        f = cache[sk].method_flops(r["method"], json.loads(r["params_json"]))
        rows.append({**{k: r[k] for k in keys[:-1]}, "client_gflops": f["client_base_gflops"] + f["client_method_gflops"],
                     "server_gflops": f["server_gflops"], "client_base_gflops": f["client_base_gflops"],
                     "server_base_gflops": f["server_base_gflops"]})
    return pd.DataFrame(rows)


def draw_split(summary: pd.DataFrame, flops: pd.DataFrame):
    from adc.report import plotting                # matplotlib only when drawing
    acc = _by_setting(summary, "split_index")
    ps = panels(acc)
    with plotting.style():
        fig, axes = plotting.plt.subplots(len(ps), 2, figsize=(9.0, 3.4 * len(ps)), squeeze=False)
        for (ax_a, ax_f), (dataset, model) in zip(axes, ps):
            a = acc[(acc["dataset"] == dataset) & (acc["model"] == model)]
            f = flops[(flops["dataset"] == dataset) & (flops["model"] == model)]
            for (method, setting), g in a.groupby(["method", "setting"], sort=False):
                line = plotting.line_kwargs(method, label=plotting.label(method, setting), ms=4.5)
                ax_a.errorbar(g["split_index"], g["acc_mean"], yerr=g["acc_std"].fillna(0), capsize=2.5, **line)
                h = f[(f["method"] == method) & (f["setting"] == setting)].sort_values("split_index")
                ax_f.plot(h["split_index"], h["client_gflops"], **(line | {"ls": "-", "label": f"client, {line['label']}"}))
                ax_f.plot(h["split_index"], h["server_gflops"], mfc="none",
                          **(line | {"ls": ":", "label": f"server, {line['label']}"}))
            bs = sorted(summary.loc[(summary["dataset"] == dataset) & (summary["model"] == model), "batch_size"].unique())
            ax_a.set_xlabel("split index (client blocks)")
            ax_a.set_ylabel("final test accuracy")
            ax_a.set_title(plotting.panel_title(dataset, model, f"accuracy vs split ({seeds_note(summary)}, same budget)"))
            ax_a.legend(frameon=False)
            ax_f.set_yscale("log")
            ax_f.set_xlabel("split index (client blocks)")
            ax_f.set_ylabel(f"GFLOPs per training step (B = {', '.join(map(str, bs))})")
            ax_f.set_title("client (solid) and server (dotted) FLOPs, fwd + bwd")
            ax_f.legend(frameon=False, fontsize=7)
            for ax in (ax_a, ax_f):
                ax.set_xticks(sorted(a["split_index"].unique()))
        fig.tight_layout()
    return fig


def split_table(summary: pd.DataFrame, flops: pd.DataFrame, path: str | Path) -> str:
    acc = _by_setting(summary, "split_index")
    m = acc.merge(flops, on=["dataset", "model", "method", "setting", "split_index"], how="left")
    m["split_index"] = m["split_index"].astype(int)
    return accuracy_table(
        m, path, "Ablation: split index",
        "Generated by `snakemake ablation_split`. Final test accuracy (mean ± std over seeds), measured xi, and "
        "GFLOPs of one training step (forward + backward; client = its blocks + the method's own work, server = "
        "its blocks and head on what it receives), counted with `adc.report.flops` (torch.utils.flop_counter).",
        ("split_index", "split"), extra={"client GFLOPs": lambda r: f"{r['client_gflops']:.4g}",
                                         "server GFLOPs": lambda r: f"{r['server_gflops']:.4g}"})


def make_split(summary_csv, stem, table, figure: dict) -> list[Path]:
    """Table, figure, and the FLOPs per split as ``flops.csv`` next to the summary."""
    from adc.report import plotting
    summary = pd.read_csv(summary_csv)
    flops = split_flops(summary)
    flops.to_csv(Path(summary_csv).with_name("flops.csv"), index=False)
    split_table(summary, flops, table)
    return plotting.save(draw_split(summary, flops), stem)


# ----- batch size ------------------------------------------------------------------------------------
def draw_batch(summary: pd.DataFrame):
    from adc.report import plotting
    acc = _by_setting(summary, "batch_size")
    ps = panels(acc)
    with plotting.style():
        fig, axes = plotting.plt.subplots(1, len(ps), figsize=(4.8 * len(ps), 3.4), squeeze=False)
        for ax, (dataset, model) in zip(axes[0], ps):
            a = acc[(acc["dataset"] == dataset) & (acc["model"] == model)]
            for (method, setting), g in a.groupby(["method", "setting"], sort=False):
                label = f"{plotting.label(method, setting)} (ξ≈{g['xi_measured'].mean():.2f})"
                ax.errorbar(g["batch_size"], g["acc_mean"], yerr=g["acc_std"].fillna(0), capsize=2.5,
                            **plotting.line_kwargs(method, label=label, ms=4.5))
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted(a["batch_size"].unique()), [str(int(b)) for b in sorted(a["batch_size"].unique())])
            ax.set_xlabel("batch size B")
            ax.set_ylabel("final test accuracy")
            ax.set_title(plotting.panel_title(dataset, model, f"accuracy vs batch size\n({seeds_note(summary)}, "
                                                              "same communication budget)"))
            ax.legend(frameon=False)
        fig.tight_layout()
    return fig


def batch_table(summary: pd.DataFrame, path) -> str:
    acc = _by_setting(summary, "batch_size")
    acc["batch_size"] = acc["batch_size"].astype(int)
    return accuracy_table(acc, path, "Ablation: batch size",
                          "Generated by `snakemake ablation_batch`. Final test accuracy (mean ± std over seeds) and "
                          "measured xi at the same communication budget.", ("batch_size", "batch size"))


# ----- what the vector k-means clusters on -------------------------------------------------------------
CLUSTER_ON_NAMES = {"attention": "CLS attention", "cls": "CLS activation", "mean": "mean token"}
CLUSTER_ON_COLORS = {"attention": "#d62728", "cls": "#1f77b4", "mean": "#2ca02c"}     # bars, not methods


def _cluster_on(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    col = df["param_cluster_on"] if "param_cluster_on" in df else pd.Series(np.nan, index=df.index)
    df["cluster_on"] = col.where(col.notna(), "attention")            # ADC's default
    df.loc[df["method"] == "base", "cluster_on"] = "–"
    df["xi_setting"] = [", ".join(f"{k}={v}" for k, v in sorted(json.loads(p).items()) if k != "cluster_on") or m
                        for p, m in zip(df["params_json"], df["method"])]
    return df


def _by_cluster_on(summary: pd.DataFrame) -> pd.DataFrame:
    return mean_over_seeds(_cluster_on(summary), ["dataset", "model", "method", "xi_setting", "cluster_on"])


def draw_cluster_on(summary: pd.DataFrame):
    from adc.report import plotting
    acc = _by_cluster_on(summary)
    ps = panels(acc)
    order = [c for c in ("attention", "cls", "mean") if c in set(acc["cluster_on"])]
    order += sorted(set(acc["cluster_on"]) - set(order) - {"–"})
    with plotting.style():
        fig, axes = plotting.plt.subplots(1, len(ps), figsize=(4.8 * len(ps), 3.4), squeeze=False)
        for ax, (dataset, model) in zip(axes[0], ps):
            a = acc[(acc["dataset"] == dataset) & (acc["model"] == model)]
            groups = [s for s in dict.fromkeys(a.loc[a["method"] != "base", "xi_setting"])]
            w = 0.8 / max(len(order), 1)
            for j, on in enumerate(order):
                g = a[a["cluster_on"] == on].set_index("xi_setting").reindex(groups)
                ax.bar(np.arange(len(groups)) + (j - (len(order) - 1) / 2) * w, g["acc_mean"], w,
                       yerr=g["acc_std"].fillna(0), capsize=2.5, color=CLUSTER_ON_COLORS.get(on, "#7f7f7f"),
                       label=CLUSTER_ON_NAMES.get(on, on))
            base = a[a["method"] == "base"]
            if len(base):
                ax.axhline(base["acc_mean"].iloc[0], color=plotting.method_style("base").color,
                           ls=plotting.linestyle("base"), lw=1.0, label="base (no compression)")
            ax.set_xticks(range(len(groups)), groups)
            lo = np.nanmin(a["acc_mean"] - a["acc_std"].fillna(0))
            ax.set_ylim(max(0.0, lo - 0.1), min(1.0, np.nanmax(a["acc_mean"] + a["acc_std"].fillna(0)) + 0.05))
            ax.set_ylabel("final test accuracy")
            ax.set_xlabel("ADC setting")
            ax.set_title(plotting.panel_title(dataset, model, f"the vector k-means clusters on\n"
                                                              f"({seeds_note(summary)}, error bars: std)"))
            ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
    return fig


def cluster_on_table(summary: pd.DataFrame, path) -> str:
    return accuracy_table(_by_cluster_on(summary), path, "Ablation: the vector k-means clusters on",
                          "Generated by `snakemake ablation_cluster_on`. attention = the CLS query's attention over "
                          "the tokens (the paper's), cls = the CLS activation, mean = the mean token. Final test "
                          "accuracy, mean ± std over seeds.", ("cluster_on", "cluster_on"), setting="xi_setting",
                          align="llllr")


KINDS = (Kind("ablation_split", make=make_split, vary="split_index"),
         Kind("ablation_batch", make=_table_and_figure(batch_table, draw_batch), vary="batch_size"),
         Kind("ablation_cluster_on", make=_table_and_figure(cluster_on_table, draw_cluster_on)))
