"""Cluster pictures (the paper's Fig. 6): one batch of a trained ADC run, grouped by cluster.

Images grouped by the cluster k-means put them in, each cluster's kept tokens as a mask over its
images (pruned patches shaded), the classes in each cluster named. Drawn per run (rule
``cluster_picture``) from the run's saved weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from adc import pipeline
from adc.report.analyses.common import Analysis, AnalysisError, Kind


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
    from matplotlib.patches import Rectangle

    from adc.report import plotting                # matplotlib only when drawing
    groups = cluster_groups(batch)
    shown = groups[:max_clusters]
    ncols = 1 + max(min(max_images, max(len(g["members"]) for g in shown)), 1)
    gh, gw = batch["grid"]
    ph, pw = batch["patch"]
    with plotting.style({"axes.grid": False}):
        fig, axes = plotting.plt.subplots(len(shown), ncols, figsize=(1.05 * ncols + 2.2, 1.1 * len(shown) + 0.6),
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
    from adc.report import plotting
    batch = cluster_batch(run_dir, batch_size)
    return plotting.save(draw_cluster_picture(batch, max_clusters, max_images), stem)


def check(a: Analysis, where: str) -> None:
    from adc.core.methods import get_method
    for m in pipeline.selected_methods(a.config):
        if not (hasattr(get_method(m), "compress") and getattr(get_method(m), "merge", False)):
            raise AnalysisError(f"{where}: method {m!r} does not merge samples into clusters; use adc")


def targets(a: Analysis) -> list[str]:
    """One picture (PDF and PNG) per run."""
    return [f"paper_figs/cluster_pictures/{r.run.dataset}/{r.run.model}/{r.run.method}/{r.run.setting}/"
            f"seed{r.run.seed}.{ext}" for r in a.runs() for ext in ("pdf", "png")]


#: the picture needs the trained weights (save_model); drawn per run by the rule cluster_picture
KIND = Kind("cluster_pictures", train={"save_model": True}, check=check, targets=targets)
