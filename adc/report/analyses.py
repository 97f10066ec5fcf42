"""The paper's other figures: the grid search (Fig. 2), cluster pictures (Fig. 6) and the ablations.

Each analysis is a pipeline config (the keys of ``config/default.yaml``, checked by
:func:`adc.pipeline.check_config`) plus, optionally, ``vary`` (one ``train`` key over a list of
values, e.g. the split index) and ``figure`` (drawing options). An analysis file holds ``base``
(keys shared by its analyses) and ``analyses: {name: {...}}``; the names are fixed (:data:`KINDS`),
one Snakemake target each (``workflow/rules/analyses.smk``). Runs are the pipeline's runs, in the
pipeline's layout under ``results/analyses/{analysis}/{variant}/``, trained by the pipeline's
``train`` rule (``use rule train as analysis_train``).

- :func:`grid_figure` / :func:`grid_best_table`: final validation accuracy over (T/B, k/n) as a
  heatmap with the iso-xi curves, and the best split per xi;
- :func:`cluster_picture`: one batch of a trained ADC run, images grouped by cluster, each
  cluster's kept tokens as a mask over its images, the classes in each cluster named;
- :func:`split_figure` (accuracy and client/server FLOPs vs split index), :func:`batch_figure`
  (accuracy vs batch size), :func:`cluster_on_figure` (accuracy per clustering vector).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from adc import pipeline
from adc.runtime.record import read_record

ROOT = Path(__file__).resolve().parents[2]
ANALYSES_DIR = "results/analyses"
#: the analyses, each a Snakemake target of the same name
KINDS = ("grid_search", "cluster_pictures", "ablation_split", "ablation_batch", "ablation_cluster_on")
#: the analysis files of each set (``--config analyses=default|paper``)
FILES = {"default": ["config/grid_default.yaml", "config/ablations_default.yaml", "config/clusters_default.yaml"],
         "paper": ["config/grid.yaml", "config/ablations.yaml", "config/clusters.yaml"]}
#: the train key each ablation must vary (None: no vary allowed / needed)
REQUIRED_VARY = {"ablation_split": "split_index", "ablation_batch": "batch_size"}
ANALYSIS_KEYS = ("vary", "figure")
FIXED = "fixed"            # the variant label of an analysis without ``vary``


class AnalysisError(ValueError):
    """An analysis file that cannot run; the message names the file, the analysis and the key."""


# ----- configs ---------------------------------------------------------------------------------
def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _with_defaults(cfg: dict, schema: dict) -> dict:
    """The schema's defaults filled in (top level and one level of objects), as snakemake.utils.validate does."""
    for k, node in schema.get("properties", {}).items():
        if k not in cfg and "default" in node:
            cfg[k] = copy.deepcopy(node["default"])
        if isinstance(cfg.get(k), dict):
            for kk, sub in node.get("properties", {}).items():
                if kk not in cfg[k] and isinstance(sub, dict) and "default" in sub:
                    cfg[k][kk] = copy.deepcopy(sub["default"])
    return cfg


@dataclass
class AnalysisRun:
    analysis: str
    variant: str
    run: pipeline.Run

    @property
    def dir(self) -> str:
        r = self.run
        return f"{ANALYSES_DIR}/{self.analysis}/{self.variant}/{r.dataset}/{r.model}/{r.method}/{r.setting}/seed{r.seed}"


@dataclass
class Analysis:
    name: str
    source: str
    config: dict                                   # the pipeline config (checked, defaults filled)
    vary: tuple[str, list] | None = None           # (train key, values)
    figure: dict = field(default_factory=dict)

    def variants(self) -> dict[str, dict]:
        """{variant label: pipeline config}; one variant (``fixed``) without ``vary``."""
        if self.vary is None:
            return {FIXED: self.config}
        key, values = self.vary
        out = {}
        for v in values:
            cfg = copy.deepcopy(self.config)
            cfg.setdefault("train", {})[key] = v
            out[f"{key}={v}"] = cfg
        return out

    def runs(self) -> list[AnalysisRun]:
        return [AnalysisRun(self.name, label, r) for label, cfg in self.variants().items()
                for r in pipeline.expand_runs(cfg)]

    def metrics_paths(self) -> list[str]:
        return [f"{r.dir}/metrics.json" for r in self.runs()]

    def resources(self) -> dict:
        return self.config["resources"]


def parse_analysis(name: str, spec: dict, base: dict, source: str, schema_path=pipeline.SCHEMA) -> Analysis:
    where = f"{source}: analyses.{name}"
    if name not in KINDS:
        import difflib
        close = difflib.get_close_matches(name, KINDS, n=1)
        raise AnalysisError(f"{where}: unknown analysis {name!r}{f' (did you mean {close[0]!r}?)' if close else ''}; "
                            f"allowed: {', '.join(KINDS)}")
    if not isinstance(spec, dict):
        raise AnalysisError(f"{where}: expected a mapping of config keys, got {spec!r}")
    spec = dict(spec)
    vary, figure = spec.pop("vary", None), spec.pop("figure", None) or {}
    cfg = _merge(base, spec)
    if name == "cluster_pictures":
        cfg.setdefault("train", {})["save_model"] = True       # the picture needs the trained weights
    schema = yaml.safe_load(Path(schema_path).read_text())
    try:
        pipeline.check_config(cfg, schema_path)
    except pipeline.ConfigError as e:
        raise AnalysisError(f"{where}: {e}") from None
    cfg = _with_defaults(cfg, schema)
    if vary is not None:
        from adc.runtime.config import TrainConfig
        allowed = sorted(f.name for f in dataclasses.fields(TrainConfig) if f.name not in pipeline.PER_RUN_KEYS)
        if not (isinstance(vary, dict) and len(vary) == 1):
            raise AnalysisError(f"{where}.vary: expected one train key and its values, e.g. "
                                f"{{split_index: [1, 2, 3]}}; got {vary!r}")
        (key, values), = vary.items()
        if key not in allowed:
            raise AnalysisError(f"{where}.vary: {key!r} is not a train key; allowed: {', '.join(allowed)}")
        if not isinstance(values, list) or not values or len(set(map(str, values))) != len(values):
            raise AnalysisError(f"{where}.vary.{key}: expected a list of distinct values, got {values!r}")
        for v in values:            # every variant must be a valid TrainConfig
            try:
                TrainConfig.from_dict({**{k: x for k, x in cfg.get("train", {}).items()}, key: v})
            except (TypeError, ValueError) as e:
                raise AnalysisError(f"{where}.vary.{key}={v!r}: {e}") from None
        vary = (key, list(values))
    need = REQUIRED_VARY.get(name)
    if need and (vary is None or vary[0] != need):
        raise AnalysisError(f"{where}: needs vary: {{{need}: [values]}}")
    a = Analysis(name, source, cfg, vary, dict(figure))
    if name == "grid_search":
        for r in a.runs():
            if not {"merge_ratio", "keep_ratio"} <= set(r.run.params):
                raise AnalysisError(f"{where}: run {r.run.method}/{r.run.setting} has no merge_ratio and keep_ratio; "
                                    f"the grid is settings: {{adc: {{merge_ratio: [...], keep_ratio: [...]}}}}")
    if name == "cluster_pictures":
        from adc.core.methods import get_method
        for m in pipeline.selected_methods(cfg):
            if not (hasattr(get_method(m), "compress") and getattr(get_method(m), "merge", False)):
                raise AnalysisError(f"{where}: method {m!r} does not merge samples into clusters; use adc")
    return a


def load_file(path: str | Path, root: str | Path = ROOT) -> dict[str, Analysis]:
    p = Path(path) if Path(path).is_absolute() else Path(root) / path
    if not p.exists():
        raise AnalysisError(f"{path}: analysis file not found")
    doc = yaml.safe_load(p.read_text()) or {}
    unknown = sorted(set(doc) - {"base", "analyses"})
    if unknown:
        raise AnalysisError(f"{path}: unknown top-level key(s) {unknown}; allowed: base, analyses")
    base = doc.get("base") or {}
    return {name: parse_analysis(name, spec, base, str(path)) for name, spec in (doc.get("analyses") or {}).items()}


def load(which: str = "default", root: str | Path = ROOT) -> dict[str, Analysis]:
    """Every analysis of the set ``which`` (``default``/``paper``), by name; a name in two files is an error."""
    if which not in FILES:
        raise AnalysisError(f"analyses: {which!r}; allowed: {', '.join(FILES)}")
    out: dict[str, Analysis] = {}
    for f in FILES[which]:
        for name, a in load_file(f, root).items():
            if name in out:
                raise AnalysisError(f"analysis {name!r} is defined in both {out[name].source} and {f}")
            out[name] = a
    return out


def targets(analyses: dict[str, Analysis], name: str) -> list[str]:
    """The files the Snakemake target ``name`` makes (none when the loaded files do not define it)."""
    if name not in analyses:
        return []
    if name == "cluster_pictures":
        return [f"paper_figs/cluster_pictures/{r.run.dataset}/{r.run.model}/{r.run.method}/{r.run.setting}/"
                f"seed{r.run.seed}.{ext}" for r in analyses[name].runs() for ext in ("pdf", "png")]
    table = "grid_best" if name == "grid_search" else name
    return [f"paper_figs/{name}.pdf", f"paper_figs/{name}.png", f"results/tables/{table}.md"]


def run_config(analyses: dict[str, Analysis], analysis: str, variant: str, dataset: str, model: str,
               method: str, setting: str, seed: int) -> dict:
    a = analyses[analysis]
    cfg = a.variants()[variant]
    return pipeline.run_config(cfg, dataset, model, method, setting, int(seed))


def run_config_json(analyses: dict[str, Analysis], wc) -> str:
    return json.dumps(run_config(analyses, wc.analysis, wc.variant, wc.dataset, wc.model, wc.method, wc.setting,
                                 int(wc.seed)), sort_keys=True)


# ----- the runs as one table -----------------------------------------------------------------------
def summarize_runs(metrics_paths) -> pd.DataFrame:
    """One row per run (adc.report.collect) plus ``variant``, ``split_index``, ``batch_size`` and T, k."""
    from adc.report.collect import collect
    df = collect(metrics_paths)
    extra = []
    for p in df["run_dir"]:
        m = read_record(Path(p) / "metrics.json")
        shape, details = m.get("shape", {}), m.get("method_details") or {}
        extra.append({"variant": Path(p).parts[-6], "split_index": shape.get("split_index"),
                      "batch_size": shape.get("batch_size"), "num_tokens": shape.get("num_tokens"),
                      "num_classes": shape.get("num_classes"), "image_size": (m.get("config") or {}).get("image_size"),
                      "clusters": details.get("clusters"), "tokens_kept": details.get("tokens_kept"),
                      "params_json": json.dumps(m.get("params") or {}, sort_keys=True)})
    return pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1) if len(df) else df


def _mean_over_seeds(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    g = df.groupby(keys, sort=False, dropna=False)
    out = g.agg(acc_mean=("final_test_accuracy", "mean"), acc_std=("final_test_accuracy", "std"),
                xi_measured=("xi_measured", "mean"), n_seeds=("seed", "nunique")).reset_index()
    return out


def _seeds(df: pd.DataFrame) -> str:
    n = df["seed"].nunique() if "seed" in df and len(df) else 0
    return f"mean over {n} seeds" if n > 1 else "1 seed"


def _save(fig, stem) -> list[Path]:
    """adc.figures.save inside the shared style (tight bounding box: legends above the axes are kept)."""
    import matplotlib.pyplot as plt

    from adc.report.figures import STYLE, save
    with plt.rc_context(STYLE):
        return save(fig, stem)


def _panels(df: pd.DataFrame) -> list[tuple[str, str]]:
    seen = []
    for key in zip(df["dataset"], df["model"]):
        if key not in seen:
            seen.append(key)
    return seen


# ----- the grid search (Fig. 2) ----------------------------------------------------------------------
def grid_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean final validation accuracy per (dataset, model, T/B, k/n), with the nominal xi and the balance.

    ``balance`` = log(T/B) / log(xi): the share of xi's compression taken by merging (0.5 = the
    diagonal, T/B = k/n; ADC's ``balance`` parameter). Undefined (NaN) at xi = 1.
    """
    df = summary.rename(columns={"param_merge_ratio": "merge_ratio", "param_keep_ratio": "keep_ratio"})
    cells = _mean_over_seeds(df, ["dataset", "model", "merge_ratio", "keep_ratio"])
    cells["xi"] = (cells["merge_ratio"] * cells["keep_ratio"]).round(6)
    with np.errstate(divide="ignore", invalid="ignore"):
        cells["balance"] = np.where(cells["xi"] < 1, np.log(cells["merge_ratio"]) / np.log(cells["xi"]), np.nan)
    cells["balanced"] = np.isclose(cells["merge_ratio"], cells["keep_ratio"])
    return cells


def grid_best(cells: pd.DataFrame) -> pd.DataFrame:
    """Per panel and nominal xi with two or more cells: the best split, the balanced cell's accuracy and rank."""
    rows = []
    for (dataset, model, xi), g in cells.groupby(["dataset", "model", "xi"], sort=True):
        if len(g) < 2:
            continue
        g = g.sort_values("acc_mean", ascending=False, kind="mergesort")
        best = g.iloc[0]
        bal = g[g["balanced"]]
        row = {"dataset": dataset, "model": model, "xi": xi, "cells": len(g),
               "best_merge_ratio": best["merge_ratio"], "best_keep_ratio": best["keep_ratio"],
               "best_balance": best["balance"], "best_acc": best["acc_mean"], "best_acc_std": best["acc_std"],
               "best_xi_measured": best["xi_measured"], "worst_acc": g["acc_mean"].min(),
               "balanced_acc": bal["acc_mean"].iloc[0] if len(bal) else math.nan,
               "balanced_rank": int(np.flatnonzero(g["balanced"].to_numpy())[0]) + 1 if len(bal) else None,
               "best_is_balanced": bool(best["balanced"]) if len(bal) else None,
               "n_seeds": int(g["n_seeds"].min())}
        # among cells of different balance: is the best the one closest to the diagonal?
        dist = (g["balance"] - 0.5).abs().round(6)
        row["best_is_most_balanced"] = bool(dist.iloc[0] == dist.min()) if dist.nunique() > 1 else None
        rows.append(row)
    return pd.DataFrame(rows)


def grid_verdict(best: pd.DataFrame) -> str:
    """One sentence: is the balanced split best along the iso-xi curves?"""
    with_bal = best[best["best_is_balanced"].notna()]
    mixed = best[best["best_is_most_balanced"].notna()]
    if not len(mixed):
        return "No iso-xi curve crosses cells of different balance: the grid cannot tell."
    n_bal = int(with_bal["best_is_balanced"].astype(bool).sum())
    n_most = int(mixed["best_is_most_balanced"].astype(bool).sum())
    gaps = (with_bal["best_acc"] - with_bal["balanced_acc"]).to_numpy()
    text = (f"The balanced cell (T/B = k/n) is the best of its iso-xi curve in {n_bal} of {len(with_bal)} curves "
            f"that contain one; the most balanced cell wins in {n_most} of {len(mixed)} curves whose cells differ "
            f"in balance.")
    if len(with_bal) and (gaps > 0).any():
        text += f" Where it loses, it is {gaps[gaps > 0].max():.3f} below the best cell of its curve."
    return text


def grid_best_table(summary: pd.DataFrame, path: str | Path) -> str:
    cells = grid_cells(summary)
    best = grid_best(cells)
    lines = ["# Grid search: the best split of xi between merging (T/B) and pruning (k/n)", "",
             "Generated by `snakemake grid_search` from `results/analyses/grid_search/summary.csv`. Final "
             "accuracy on the validation split (20% of the training set, fixed by seed), mean over seeds. One row "
             "per nominal xi = (T/B)(k/n) reached by two or more cells of the grid. `balance` = log(T/B) / log(xi): "
             "0.5 is the diagonal T/B = k/n (the paper's even split), above 0.5 merging takes more of the "
             "compression. `balanced rank`: the diagonal cell's place on its iso-xi curve (1 = best).", ""]
    for dataset, model in _panels(cells):
        b = best[(best["dataset"] == dataset) & (best["model"] == model)]
        c = cells[(cells["dataset"] == dataset) & (cells["model"] == model)]
        lines += [f"## {dataset} / {model}", "",
                  "| xi | cells | best T/B | best k/n | balance | best accuracy | xi measured | balanced accuracy "
                  "| balanced rank | worst accuracy |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for _, r in b.iterrows():
            std = "" if pd.isna(r["best_acc_std"]) else f" ± {r['best_acc_std']:.3f}"
            bal = "–" if pd.isna(r["balanced_acc"]) else f"{r['balanced_acc']:.3f}"
            rank = "–" if r["balanced_rank"] is None or pd.isna(r["balanced_rank"]) else f"{int(r['balanced_rank'])}/{r['cells']}"
            lines.append(f"| {r['xi']:g} | {r['cells']} | {r['best_merge_ratio']:g} | {r['best_keep_ratio']:g} | "
                         f"{r['best_balance']:.2f} | {r['best_acc']:.3f}{std} | {r['best_xi_measured']:.3f} | {bal} | "
                         f"{rank} | {r['worst_acc']:.3f} |")
        top = c.sort_values("acc_mean", ascending=False).iloc[0]
        lines += ["", grid_verdict(b), "",
                  f"Best cell overall: T/B = {top['merge_ratio']:g}, k/n = {top['keep_ratio']:g} "
                  f"(accuracy {top['acc_mean']:.3f}, xi measured {top['xi_measured']:.3f}).", ""]
        piv = c.pivot(index="merge_ratio", columns="keep_ratio", values="acc_mean").sort_index(ascending=False)
        lines += ["All cells (rows T/B, columns k/n):", "",
                  "| T/B \\ k/n | " + " | ".join(f"{x:g}" for x in piv.columns) + " |",
                  "|---:|" + "---:|" * len(piv.columns)]
        for mr, row in piv.iterrows():
            lines.append(f"| {mr:g} | " + " | ".join("–" if pd.isna(v) else f"{v:.3f}" for v in row) + " |")
        lines.append("")
    text = "\n".join(lines)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return text


def _pos(values, levels):
    """Positions on a categorical axis whose ticks are ``levels`` (piecewise linear in log between them:
    on geometric levels an iso-xi curve is then a straight anti-diagonal)."""
    return np.interp(np.log(values), np.log(np.asarray(levels, float)), np.arange(len(levels)))


def iso_xi_values(levels_x, levels_y) -> list[float]:
    """The xi of the diagonal cells (T/B = k/n = a -> xi = a^2) below 1, where both axes have a."""
    common = sorted(set(np.round(levels_x, 6)) & set(np.round(levels_y, 6)))
    return [round(a * a, 6) for a in common if a < 1]


def draw_grid(summary: pd.DataFrame, iso_xi: list[float] | None = None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from adc.report.figures import STYLE
    cells = grid_cells(summary)
    best = grid_best(cells)
    ps = _panels(cells)
    with plt.rc_context(STYLE | {"axes.grid": False}):
        fig, axes = plt.subplots(1, len(ps), figsize=(5.2 * len(ps), 4.6), squeeze=False)
        for ax, (dataset, model) in zip(axes[0], ps):
            c = cells[(cells["dataset"] == dataset) & (cells["model"] == model)]
            piv = c.pivot(index="merge_ratio", columns="keep_ratio", values="acc_mean").sort_index().sort_index(axis=1)
            kx, my = piv.columns.to_numpy(float), piv.index.to_numpy(float)
            im = ax.imshow(piv.to_numpy(), origin="lower", cmap="viridis", aspect="auto",
                           extent=(-0.5, len(kx) - 0.5, -0.5, len(my) - 0.5))
            vals = piv.to_numpy()
            lo, hi = np.nanmin(vals), np.nanmax(vals)
            for i in range(len(my)):
                for j in range(len(kx)):
                    if not np.isnan(vals[i, j]):
                        light = (vals[i, j] - lo) / max(hi - lo, 1e-9) > 0.6
                        ax.text(j, i, f"{vals[i, j]:.2f}", ha="center", va="center", fontsize=7,
                                color="black" if light else "white")
            # the iso-xi curves T/B = xi / (k/n), drawn continuously in the axes' (categorical) coordinates
            xis = iso_xi if iso_xi is not None else iso_xi_values(kx, my)
            fine = np.geomspace(kx.min(), kx.max(), 400)
            for xi in xis:
                y = xi / fine
                ok = (y >= my.min() - 1e-9) & (y <= my.max() + 1e-9)
                if ok.sum() < 2:
                    continue
                px, py = _pos(fine[ok], kx), _pos(y[ok], my)
                ax.plot(px, py, color="white", lw=1.0, ls=":", alpha=0.9)
                # the label where the curve is farthest from every cell centre (where the values are written)
                far = np.hypot(px - np.round(px), py - np.round(py)) - 0.02 * np.abs(np.arange(len(px)) - len(px) / 2) / len(px)
                i = int(np.argmax(far))
                ax.text(px[i], py[i], f"ξ={xi:g}", color="white", fontsize=6, ha="center", va="center",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "#333333", "ec": "none", "alpha": 0.75})
            d = np.array(sorted(set(kx) & set(my)))
            if len(d) > 1:
                ax.plot(_pos(d, kx), _pos(d, my), color="#ff7f0e", lw=1.0, ls="--")
            b = best[(best["dataset"] == dataset) & (best["model"] == model)]
            for _, r in b.iterrows():
                ax.plot(_pos(r["best_keep_ratio"], kx), _pos(r["best_merge_ratio"], my), marker="s", ms=17,
                        mfc="none", mec="red", mew=1.4, ls="none")
            ax.set_xticks(range(len(kx)), [f"{v:g}" for v in kx])
            ax.set_yticks(range(len(my)), [f"{v:g}" for v in my])
            ax.set_xlabel("k/n (tokens kept)")
            ax.set_ylabel("T/B (clusters per batch)")
            runs = summary[(summary["dataset"] == dataset) & (summary["model"] == model)]
            ep = sorted(runs["epochs"].round(1).unique()) if "epochs" in runs else []
            ax.set_title(f"{dataset} / {model}: {_seeds(runs)}" + (f", {ep[0]:g} epochs per cell" if len(ep) == 1 else ""))
            fig.colorbar(im, ax=ax, label="final validation accuracy", shrink=0.9)
        handles = [Line2D([], [], color="#777777", ls=":", label="iso-ξ: (T/B)(k/n) = ξ"),
                   Line2D([], [], color="#ff7f0e", ls="--", label="balanced: T/B = k/n"),
                   Line2D([], [], color="red", marker="s", mfc="none", ls="none", label="best cell of its iso-ξ")]
        fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, 1.0))
        fig.tight_layout()
    return fig


def grid_figure(summary: pd.DataFrame, stem: str | Path, iso_xi: list[float] | None = None) -> list[Path]:
    return _save(draw_grid(summary, iso_xi), stem)


# ----- cluster pictures (Fig. 6) ------------------------------------------------------------------
def _display(img: np.ndarray) -> np.ndarray:
    """(C, H, W) normalised -> (H, W) or (H, W, 3) in [0, 1], min-max per image."""
    lo, hi = img.min(), img.max()
    img = (img - lo) / max(hi - lo, 1e-8)
    return img[0] if img.shape[0] == 1 else np.transpose(img[:3], (1, 2, 0))


def cluster_batch(run_dir: str | Path, batch_size: int | None = None) -> dict:
    """One batch of the run's evaluation set through its trained client and ADC: the clusters.

    Returns images (B, C, H, W), labels, class names, ``assign`` (cluster id per sample),
    ``tokens`` (T, k: kept token ids per cluster, prefix tokens included), the patch grid and the
    number of prefix tokens, and the run's T, k, N.
    """
    import torch

    from adc.data.registry import eval_batches
    from adc.runtime.loop import load_trained
    run = load_trained(run_dir)
    B = batch_size or run.cfg.batch_size
    x, y = next(iter(eval_batches(run.data.test, B)))
    with torch.no_grad():
        acts, attn = run.model.client(x)
        _, soft, details = run.method.compress(acts, attn, y)
    pe = run.model.client.patch_embed
    return {"images": x.float().numpy(), "labels": y.numpy(), "class_names": list(run.data.class_names),
            "assign": details["assign"].numpy(), "tokens": details["tokens"].numpy(),
            "soft_labels": soft.numpy(), "grid": tuple(pe.grid_size), "patch": tuple(pe.patch_size),
            "prefix": run.model.num_prefix_tokens, "num_tokens": run.model.num_tokens,
            "config": run.cfg.to_dict()}


def token_mask(tokens: np.ndarray, grid: tuple[int, int], prefix: int) -> np.ndarray:
    """Kept patch tokens of one cluster as a (gh, gw) boolean mask (prefix tokens dropped)."""
    m = np.zeros(grid[0] * grid[1], dtype=bool)
    patches = tokens[tokens >= prefix] - prefix
    m[patches] = True
    return m.reshape(grid)


def cluster_groups(batch: dict) -> list[dict]:
    """Per non-empty cluster, largest first: its members, their classes, the kept-token mask."""
    out = []
    names = batch["class_names"]
    for c in np.unique(batch["assign"]):
        members = np.flatnonzero(batch["assign"] == c)
        labels = batch["labels"][members]
        counts = pd.Series(labels).value_counts()
        out.append({"cluster": int(c), "members": members, "labels": labels,
                    "classes": [(names[int(k)], int(v)) for k, v in counts.items()],
                    "mask": token_mask(batch["tokens"][c], batch["grid"], batch["prefix"])})
    out.sort(key=lambda g: (-len(g["members"]), g["cluster"]))
    return out


def draw_cluster_picture(batch: dict, max_clusters: int = 12, max_images: int = 10, title: str = ""):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from adc.report.figures import STYLE
    groups = cluster_groups(batch)
    shown = groups[:max_clusters]
    ncols = 1 + max(min(max_images, max(len(g["members"]) for g in shown)), 1)
    gh, gw = batch["grid"]
    ph, pw = batch["patch"]
    with plt.rc_context(STYLE | {"axes.grid": False}):
        fig, axes = plt.subplots(len(shown), ncols, figsize=(1.05 * ncols + 2.2, 1.1 * len(shown) + 0.6),
                                 squeeze=False)
        for row, g in zip(axes, shown):
            for ax in row:
                ax.set_xticks([]), ax.set_yticks([])
                for s in ax.spines.values():
                    s.set_visible(False)
            row[0].imshow(g["mask"], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            for s in row[0].spines.values():
                s.set_visible(True)
            classes = ", ".join(f"{n}×{k}" if k > 1 else n for n, k in g["classes"])
            row[0].set_ylabel(f"cluster {g['cluster']} (n={len(g['members'])})\nclasses: {classes}",
                              rotation=0, ha="right", va="center", fontsize=7)
            for ax, i in zip(row[1:], g["members"][:max_images]):
                img = _display(batch["images"][i])
                ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None, interpolation="nearest")
                for r in range(gh):            # pruned patches shaded, kept ones clear
                    for cc in range(gw):
                        if not g["mask"][r, cc]:
                            ax.add_patch(Rectangle((cc * pw - 0.5, r * ph - 0.5), pw, ph, color="#1f5fbf",
                                                   alpha=0.55, lw=0))
                ax.set_title(batch["class_names"][int(batch["labels"][i])], fontsize=7, pad=1.5)
            if len(g["members"]) > max_images:
                row[-1].text(1.05, 0.5, f"+{len(g['members']) - max_images}", transform=row[-1].transAxes,
                             fontsize=7, va="center")
        axes[0][0].set_title("kept tokens", fontsize=7, pad=1.5)
        more = len(groups) - len(shown)
        cfg = batch["config"]
        T, k = len(groups), batch["tokens"].shape[1]
        head = (title or f"{cfg['dataset']} / {cfg['model']} / {cfg['method']} {cfg['params']} seed {cfg['seed']}")
        fig.suptitle(f"{head}\none batch of {len(batch['labels'])}: {T} clusters, {k} of {batch['num_tokens']} "
                     f"tokens kept (CLS always); blue = pruned patches, clear = the patches the cluster sends"
                     + (f"; {more} smaller clusters not shown" if more > 0 else ""), fontsize=8)
        fig.tight_layout()
    return fig


def cluster_picture(run_dir: str | Path, stem: str | Path, max_clusters: int = 12, max_images: int = 10,
                    batch_size: int | None = None) -> list[Path]:
    batch = cluster_batch(run_dir, batch_size)
    return _save(draw_cluster_picture(batch, max_clusters, max_images), stem)


# ----- ablations -----------------------------------------------------------------------------------
def _line_label(method: str, setting: str) -> str:
    return method if setting == "default" else f"{method} {setting}"


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


def _by_setting(df: pd.DataFrame, x: str) -> pd.DataFrame:
    return _mean_over_seeds(df, ["dataset", "model", "method", "setting", x]).sort_values(x)


def draw_split(summary: pd.DataFrame, flops: pd.DataFrame):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adc.report.figures import STYLE, method_styles
    acc = _by_setting(summary, "split_index")
    styles = method_styles(acc["method"])
    ps = _panels(acc)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(ps), 2, figsize=(9.0, 3.4 * len(ps)), squeeze=False)
        for (ax_a, ax_f), (dataset, model) in zip(axes, ps):
            a = acc[(acc["dataset"] == dataset) & (acc["model"] == model)]
            f = flops[(flops["dataset"] == dataset) & (flops["model"] == model)]
            for (method, setting), g in a.groupby(["method", "setting"], sort=False):
                color, marker = styles[method]
                ax_a.errorbar(g["split_index"], g["acc_mean"], yerr=g["acc_std"].fillna(0), color=color,
                              marker=marker, ms=4.5, capsize=2.5, ls="--" if method == "base" else "-",
                              label=_line_label(method, setting))
                h = f[(f["method"] == method) & (f["setting"] == setting)].sort_values("split_index")
                ax_f.plot(h["split_index"], h["client_gflops"], color=color, marker=marker, ms=4.5, ls="-",
                          label=f"client, {_line_label(method, setting)}")
                ax_f.plot(h["split_index"], h["server_gflops"], color=color, marker=marker, ms=4.5, ls=":",
                          mfc="none", label=f"server, {_line_label(method, setting)}")
            bs = sorted(summary.loc[(summary["dataset"] == dataset) & (summary["model"] == model), "batch_size"].unique())
            ax_a.set_xlabel("split index (client blocks)")
            ax_a.set_ylabel("final test accuracy")
            ax_a.set_title(f"{dataset} / {model}: accuracy vs split ({_seeds(summary)}, same budget)")
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
    lines = ["# Ablation: split index", "", "Generated by `snakemake ablation_split`. Final test accuracy (mean ± std "
             "over seeds), measured xi, and GFLOPs of one training step (forward + backward; client = its blocks + "
             "the method's own work, server = its blocks and head on what it receives), counted with "
             "`adc.report.flops` (torch.utils.flop_counter).", "",
             "| dataset / model | method | setting | split | accuracy | xi measured | client GFLOPs | server GFLOPs |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for _, r in m.iterrows():
        lines.append(f"| {r['dataset']} / {r['model']} | {r['method']} | {r['setting']} | {int(r['split_index'])} | "
                     f"{_pm(r)} | {r['xi_measured']:.3f} | {r['client_gflops']:.4g} | {r['server_gflops']:.4g} |")
    return _write("\n".join(lines) + "\n", path)


def _pm(r) -> str:
    s = "–" if pd.isna(r["acc_std"]) else f"{r['acc_std']:.3f}"
    return f"{r['acc_mean']:.3f} ± {s}"


def _write(text: str, path) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return text


def draw_batch(summary: pd.DataFrame):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adc.report.figures import STYLE, method_styles
    acc = _by_setting(summary, "batch_size")
    styles = method_styles(acc["method"])
    ps = _panels(acc)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(ps), figsize=(4.8 * len(ps), 3.4), squeeze=False)
        for ax, (dataset, model) in zip(axes[0], ps):
            a = acc[(acc["dataset"] == dataset) & (acc["model"] == model)]
            for (method, setting), g in a.groupby(["method", "setting"], sort=False):
                color, marker = styles[method]
                ax.errorbar(g["batch_size"], g["acc_mean"], yerr=g["acc_std"].fillna(0), color=color, marker=marker,
                            ms=4.5, capsize=2.5, ls="--" if method == "base" else "-",
                            label=f"{_line_label(method, setting)} (ξ≈{g['xi_measured'].mean():.2f})")
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted(a["batch_size"].unique()), [str(int(b)) for b in sorted(a["batch_size"].unique())])
            ax.set_xlabel("batch size B")
            ax.set_ylabel("final test accuracy")
            ax.set_title(f"{dataset} / {model}: accuracy vs batch size\n({_seeds(summary)}, same communication budget)")
            ax.legend(frameon=False)
        fig.tight_layout()
    return fig


def batch_table(summary: pd.DataFrame, path) -> str:
    acc = _by_setting(summary, "batch_size")
    lines = ["# Ablation: batch size", "", "Generated by `snakemake ablation_batch`. Final test accuracy (mean ± std "
             "over seeds) and measured xi at the same communication budget.", "",
             "| dataset / model | method | setting | batch size | accuracy | xi measured |", "|---|---|---|---:|---:|---:|"]
    for _, r in acc.iterrows():
        lines.append(f"| {r['dataset']} / {r['model']} | {r['method']} | {r['setting']} | {int(r['batch_size'])} | "
                     f"{_pm(r)} | {r['xi_measured']:.3f} |")
    return _write("\n".join(lines) + "\n", path)


def _cluster_on(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    col = df["param_cluster_on"] if "param_cluster_on" in df else pd.Series(np.nan, index=df.index)
    df["cluster_on"] = col.where(col.notna(), "attention")            # ADC's default
    df.loc[df["method"] == "base", "cluster_on"] = "–"
    df["xi_setting"] = [", ".join(f"{k}={v}" for k, v in sorted(json.loads(p).items()) if k != "cluster_on") or m
                        for p, m in zip(df["params_json"], df["method"])]
    return df


CLUSTER_ON_NAMES = {"attention": "CLS attention", "cls": "CLS activation", "mean": "mean token"}


def draw_cluster_on(summary: pd.DataFrame):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adc.report.figures import STYLE
    df = _cluster_on(summary)
    acc = _mean_over_seeds(df, ["dataset", "model", "method", "xi_setting", "cluster_on"])
    ps = _panels(acc)
    order = [c for c in ("attention", "cls", "mean") if c in set(acc["cluster_on"])]
    order += sorted(set(acc["cluster_on"]) - set(order) - {"–"})
    colors = {"attention": "#d62728", "cls": "#1f77b4", "mean": "#2ca02c"}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(ps), figsize=(4.8 * len(ps), 3.4), squeeze=False)
        for ax, (dataset, model) in zip(axes[0], ps):
            a = acc[(acc["dataset"] == dataset) & (acc["model"] == model)]
            groups = [s for s in dict.fromkeys(a.loc[a["method"] != "base", "xi_setting"])]
            w = 0.8 / max(len(order), 1)
            for j, on in enumerate(order):
                g = a[a["cluster_on"] == on].set_index("xi_setting").reindex(groups)
                ax.bar(np.arange(len(groups)) + (j - (len(order) - 1) / 2) * w, g["acc_mean"], w,
                       yerr=g["acc_std"].fillna(0), capsize=2.5, color=colors.get(on, "#7f7f7f"),
                       label=CLUSTER_ON_NAMES.get(on, on))
            base = a[a["method"] == "base"]
            if len(base):
                ax.axhline(base["acc_mean"].iloc[0], color="black", ls="--", lw=1.0, label="base (no compression)")
            ax.set_xticks(range(len(groups)), groups)
            lo = np.nanmin(a["acc_mean"] - a["acc_std"].fillna(0))
            ax.set_ylim(max(0.0, lo - 0.1), min(1.0, np.nanmax(a["acc_mean"] + a["acc_std"].fillna(0)) + 0.05))
            ax.set_ylabel("final test accuracy")
            ax.set_xlabel("ADC setting")
            ax.set_title(f"{dataset} / {model}: the vector k-means clusters on\n({_seeds(summary)}, error bars: std)")
            ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
    return fig


def cluster_on_table(summary: pd.DataFrame, path) -> str:
    df = _cluster_on(summary)
    acc = _mean_over_seeds(df, ["dataset", "model", "method", "xi_setting", "cluster_on"])
    lines = ["# Ablation: the vector k-means clusters on", "", "Generated by `snakemake ablation_cluster_on`. "
             "attention = the CLS query's attention over the tokens (the paper's), cls = the CLS activation, "
             "mean = the mean token. Final test accuracy, mean ± std over seeds.", "",
             "| dataset / model | method | setting | cluster_on | accuracy | xi measured |", "|---|---|---|---|---:|---:|"]
    for _, r in acc.iterrows():
        lines.append(f"| {r['dataset']} / {r['model']} | {r['method']} | {r['xi_setting']} | {r['cluster_on']} | "
                     f"{_pm(r)} | {r['xi_measured']:.3f} |")
    return _write("\n".join(lines) + "\n", path)


def ablation_outputs(kind: str, summary_csv, stem, table, flops_csv=None) -> list[Path]:
    """The figure (stem.pdf/.png) and Markdown table of one ablation, from its summary.csv."""
    summary = pd.read_csv(summary_csv)
    if kind == "ablation_split":
        flops = split_flops(summary)
        if flops_csv:
            flops.to_csv(flops_csv, index=False)
        split_table(summary, flops, table)
        return _save(draw_split(summary, flops), stem)
    if kind == "ablation_batch":
        batch_table(summary, table)
        return _save(draw_batch(summary), stem)
    if kind == "ablation_cluster_on":
        cluster_on_table(summary, table)
        return _save(draw_cluster_on(summary), stem)
    raise ValueError(f"unknown ablation {kind!r}; allowed: ablation_split, ablation_batch, ablation_cluster_on")
