"""The paper's other figures (the package adc/report/analyses/): configs, grid-search table and heatmap, cluster
pictures, ablation figures. Fabricated metrics for the tables; one tiny trained ADC run for the cluster picture."""
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from adc.report import analyses as A, tables
from adc.report.analyses import ablations, cluster_pictures as CP, grid_search as G
from adc.report.analyses.common import ROOT


def md_row(text: str, *cells) -> bool:
    """Some row of a Markdown table in ``text`` starts with ``cells``."""
    return any(list(r[:len(cells)]) == [str(c) for c in cells]
               for t in tables.read_markdown(text) for r in t.itertuples(index=False))


# ----- the analysis files -----------------------------------------------------------------------------
def test_default_files_define_every_analysis_small():
    an = A.load("default")
    assert set(an) == set(A.KINDS)
    grid = an["grid_search"]
    cells = {(r.run.params["merge_ratio"], r.run.params["keep_ratio"]) for r in grid.runs()}
    seeds = grid.config["seeds"]
    assert len(cells) * len(seeds) == len(grid.runs()) and len(cells) >= 9    # a real 2-D grid, every seed
    assert grid.config["train"]["validation_fraction"] == 0.2        # model selection off the test set
    assert an["ablation_split"].vary == ("split_index", [1, 2, 3])   # vit_micro has 4 blocks
    assert an["cluster_pictures"].config["train"]["save_model"] is True
    for r in an["ablation_split"].runs():
        assert r.dir.startswith(f"results/analyses/ablation_split/{r.variant}/digits/vit_micro/")


def test_kinds_are_one_dispatch_table_and_root_is_the_repository():
    assert (ROOT / "Snakefile").is_file() and ROOT == A.ROOT and (ROOT / "adc" / "report" / "analyses").is_dir()
    assert list(A.KINDS) == ["grid_search", "cluster_pictures", "ablation_split", "ablation_batch",
                             "ablation_cluster_on"]
    assert all(k.name == n for n, k in A.KINDS.items())
    assert A.KINDS["ablation_split"].vary == "split_index" and A.KINDS["cluster_pictures"].make is None
    for path in (ROOT / "adc" / "report" / "analyses").glob("*.py"):       # no `if kind == "..."` chains
        src = path.read_text()
        assert not any(f'== "{k}"' in src or f"== '{k}'" in src for k in A.KINDS), path.name


def test_paper_files_are_the_papers_setting():
    an = A.load("paper")
    grid = an["grid_search"]
    levels = [round(0.1 * i, 1) for i in range(1, 11)]
    cells = sorted((r.run.params["merge_ratio"], r.run.params["keep_ratio"]) for r in grid.runs())
    assert cells == sorted(itertools.product(levels, levels))
    assert grid.config["datasets"] == ["cifar100"] and grid.config["models"] == ["deit_tiny_patch16_224"]
    assert grid.config["train"]["validation_fraction"] == 0.2
    assert an["ablation_split"].vary == ("split_index", [2, 3, 5, 6, 10])
    batch = an["ablation_batch"]
    assert batch.vary == ("batch_size", [16, 32, 64, 128, 256])
    params = {(r.run.method, json.dumps(r.run.params)) for r in batch.runs()}
    assert params == {("base", "{}"), ("adc", '{"xi": 0.5}'), ("c3sl", '{"R": 2}')}
    ons = {r.run.params.get("cluster_on") for r in an["ablation_cluster_on"].runs() if r.run.method == "adc"}
    assert ons == {"attention", "cls", "mean"}


def test_variant_sets_the_train_key():
    an = A.load("paper")
    cfg = A.run_config(an, "ablation_split", "split_index=5", "cifar100", "deit_tiny_patch16_224", "adc", "xi=0.1", 0)
    assert cfg["split_index"] == 5 and cfg["params"] == {"xi": 0.1} and cfg["batch_size"] == 128
    cfg = A.run_config(an, "ablation_batch", "batch_size=16", "cifar100", "deit_tiny_patch16_224", "c3sl", "R=2", 0)
    assert cfg["batch_size"] == 16 and cfg["split_index"] == 3


@pytest.mark.parametrize("doc, msg", [
    ({"analyses": {"grid_serch": {"methods": ["adc"]}}}, "did you mean 'grid_search'"),
    ({"analyses": {"ablation_split": {"methods": ["adc"]}}}, "needs vary: {split_index"),
    ({"analyses": {"ablation_split": {"methods": ["adc"], "vary": {"xi": [0.1]}}}}, "'xi' is not a train key"),
    ({"analyses": {"ablation_cluster_on": {"methods": ["adcc"]}}}, "unknown method 'adcc'"),
    ({"analyses": {"grid_search": {"methods": ["adc"], "settings": {"adc": {"xi": [0.1]}}}}}, "merge_ratio"),
    ({"analysis": {}}, "unknown top-level key"),
])
def test_bad_analysis_files_are_refused_with_the_key(tmp_path, doc, msg):
    p = tmp_path / "a.yaml"
    p.write_text(yaml.safe_dump({"base": {"datasets": ["digits"], "models": ["vit_micro"]}, **doc}))
    with pytest.raises(A.AnalysisError, match=msg.replace("{", r"\{").replace("(", r"\(")):
        A.load_file(p)


# ----- grid search ------------------------------------------------------------------------------------
LEVELS = [0.125, 0.25, 0.5, 1.0]


def fake_grid(acc_fn, seeds=(0, 1)) -> pd.DataFrame:
    rows = []
    for m, k in itertools.product(LEVELS, LEVELS):
        for s in seeds:
            rows.append({"dataset": "digits", "model": "vit_micro", "method": "adc",
                         "setting": f"keep_ratio={k},merge_ratio={m}", "seed": s, "param_merge_ratio": m,
                         "param_keep_ratio": k, "final_test_accuracy": acc_fn(m, k) + 0.001 * s,
                         "xi_measured": m * k * 0.95})
    return pd.DataFrame(rows)


def balanced_best(m, k):       # higher with xi, and on each iso-xi curve highest on the diagonal
    return 0.5 + 0.2 * math.log2(m * k) / 6 + 0.3 - 0.05 * (math.log2(m) - math.log2(k)) ** 2


def prune_heavy_best(m, k):    # on each iso-xi curve: the fewer clusters (more tokens kept), the better
    return 0.6 + 0.05 * math.log2(m * k) - 0.04 * math.log2(m)


def test_grid_best_finds_the_balanced_optimum():
    best = G.grid_best(G.grid_cells(fake_grid(balanced_best)))
    assert sorted(best["xi"]) == [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2]      # the anti-diagonals with >= 2 cells
    with_bal = best[best["best_is_balanced"].notna()]
    assert sorted(with_bal["xi"]) == [1 / 16, 1 / 4]
    assert with_bal["best_is_balanced"].all() and (with_bal["balanced_rank"] == 1).all()
    r = best[best["xi"] == 1 / 8].iloc[0]                                   # 4 cells, none balanced
    assert {r["best_merge_ratio"], r["best_keep_ratio"]} == {0.25, 0.5} and r["best_is_most_balanced"]
    assert G.grid_verdict(best).startswith("The balanced cell (T/B = k/n) is the best of its iso-xi curve in 2 of 2")


def test_grid_best_reports_an_unbalanced_optimum(tmp_path):
    summary = fake_grid(prune_heavy_best)
    best = G.grid_best(G.grid_cells(summary))
    r = best[best["xi"] == 1 / 16].iloc[0]
    assert (r["best_merge_ratio"], r["best_keep_ratio"]) == (0.125, 0.5)
    assert r["balanced_rank"] == 2 and not r["best_is_balanced"]
    assert r["best_acc"] == pytest.approx(prune_heavy_best(0.125, 0.5) + 0.0005)     # mean over 2 seeds
    text = G.grid_best_table(summary, tmp_path / "grid_best.md")
    assert "in 0 of 2 curves" in text
    assert md_row(text, "0.0625", 3, "0.125", "0.5")
    assert (tmp_path / "grid_best.md").read_text() == text


def test_grid_heatmap_draws_cells_iso_xi_curves_and_best_marks(tmp_path):
    summary = fake_grid(balanced_best)
    assert G.iso_xi_values(LEVELS, LEVELS) == [1 / 64, 1 / 16, 1 / 4]
    iso = [ln for ln in G.draw_grid(summary).axes[0].lines if ln.get_linestyle() == ":"]
    assert len(iso) == 2                                   # xi = 1/64 is only the corner cell: no curve
    fig = G.draw_grid(summary, iso_xi=[1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2])
    ax = fig.axes[0]
    iso = [ln for ln in ax.lines if ln.get_linestyle() == ":"]
    assert len(iso) == 5 and all(len(ln.get_xdata()) > 10 for ln in iso)     # continuous curves
    for ln, xi in zip(iso, [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2]):         # on geometric levels: anti-diagonals
        x, y = ln.get_xdata(), ln.get_ydata()
        assert np.allclose(x + y, x[0] + y[0]) and np.isclose(x[0] + y[0], 6 + math.log2(xi))
    squares = [ln for ln in ax.lines if ln.get_marker() == "s"]
    assert len(squares) == 5                               # one best mark per iso-xi curve with >= 2 cells
    texts = [t.get_text() for t in ax.texts]
    assert f"{balanced_best(1.0, 1.0) + 0.0005:.2f}" in texts and len([t for t in texts if t[0].isdigit()]) == 16
    assert ax.get_xlabel().startswith("k/n") and ax.get_ylabel().startswith("T/B")
    paths = G.grid_figure(summary, tmp_path / "grid_search")
    assert [p.suffix for p in paths] == [".pdf", ".png"] and all(p.stat().st_size > 0 for p in paths)


# ----- cluster pictures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_adc(tmp_path_factory):
    from adc.runtime.config import TrainConfig
    from adc.runtime.cli import train
    out = tmp_path_factory.mktemp("a") / "analyses/cluster_pictures/fixed/digits/vit_micro/adc/xi=0.25/seed0"
    cfg = TrainConfig(dataset="digits", model="vit_micro", method="adc", params={"xi": 0.25}, batch_size=32,
                      lr=1e-3, epochs=1, save_model=True, out=str(out), threads=1, device="cpu", progress=False)
    train(cfg, log=lambda *a: None)
    return out


def test_cluster_batch_groups_the_batch_by_cluster(trained_adc):
    batch = CP.cluster_batch(trained_adc)
    B = len(batch["labels"])
    assert B == 32 and batch["images"].shape == (32, 1, 8, 8)
    T, k = batch["tokens"].shape
    assert T == 16 and k == 8                                  # xi = 0.25: T/B = k/N = 0.5 (N = 17)
    groups = CP.cluster_groups(batch)
    members = np.concatenate([g["members"] for g in groups])
    assert sorted(members.tolist()) == list(range(B))          # a partition of the batch
    assert [len(g["members"]) for g in groups] == sorted((len(g["members"]) for g in groups), reverse=True)
    for g in groups:
        assert (batch["assign"][g["members"]] == g["cluster"]).all()
        named = {n: c for n, c in g["classes"]}
        for lab in set(g["labels"].tolist()):
            assert named[batch["class_names"][lab]] == int((g["labels"] == lab).sum())
        assert g["mask"].shape == (4, 4) and g["mask"].sum() == k - 1    # CLS is kept but is no patch
        kept = batch["tokens"][g["cluster"]]
        assert all(g["mask"].reshape(-1)[t - 1] for t in kept if t >= 1)


def test_cluster_picture_draws_each_cluster_with_its_classes(trained_adc, tmp_path):
    batch = CP.cluster_batch(trained_adc)
    groups = CP.cluster_groups(batch)
    fig = CP.draw_cluster_picture(batch, max_clusters=5, max_images=4)
    rows = [ax for ax in fig.axes if ax.get_ylabel().startswith("cluster")]
    assert len(rows) == 5
    for ax, g in zip(rows, groups):
        assert f"cluster {g['cluster']} (n={len(g['members'])})" in ax.get_ylabel()
        assert "classes: " + ", ".join(n if c == 1 else f"{n}×{c}" for n, c in g["classes"]) in ax.get_ylabel()
    shaded = [len(ax.patches) for ax in fig.axes if ax.images and not ax.get_ylabel()]
    assert shaded and all(s == 16 - (8 - 1) for s in shaded)    # the pruned patches of each shown image
    paths = CP.cluster_picture(trained_adc, tmp_path / "pic")
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)


def test_summarize_runs_reads_the_analysis_layout(trained_adc):
    df = A.summarize_runs([trained_adc / "metrics.json"])
    r = df.iloc[0]
    assert (r["variant"], r["dataset"], r["model"], r["method"], r["setting"], r["seed"]) == \
        ("fixed", "digits", "vit_micro", "adc", "xi=0.25", 0)
    assert (r["split_index"], r["batch_size"], r["clusters"], r["tokens_kept"]) == (1, 32, 16, 8)


# ----- ablations --------------------------------------------------------------------------------------
def fake_ablation(x: str, values, methods) -> pd.DataFrame:
    rows = []
    for v, (method, params), s in itertools.product(values, methods, (0, 1)):
        rows.append({"dataset": "digits", "model": "vit_micro", "method": method,
                     "setting": ",".join(f"{k}={p}" for k, p in sorted(params.items())) or "default", "seed": s,
                     "final_test_accuracy": 0.8 + 0.01 * s, "xi_measured": params.get("xi", 1.0),
                     "split_index": 1, "batch_size": 64, "num_classes": 10, "image_size": None,
                     "params_json": json.dumps(params, sort_keys=True), x: v,
                     **({"param_cluster_on": params["cluster_on"]} if "cluster_on" in params else {})})
    return pd.DataFrame(rows)


def test_split_flops_move_from_server_to_client(tmp_path):
    s = fake_ablation("split_index", [1, 2, 3], [("base", {}), ("adc", {"xi": 0.25})])
    f = ablations.split_flops(s)
    for method in ("base", "adc"):
        g = f[f["method"] == method].sort_values("split_index")
        assert g["client_gflops"].is_monotonic_increasing and g["server_gflops"].is_monotonic_decreasing
    adc, base = (f[f["method"] == m].set_index("split_index") for m in ("adc", "base"))
    assert (adc["server_gflops"] < 0.5 * base["server_gflops"]).all()      # T x k tokens instead of B x N
    assert (adc["client_gflops"] > base["client_gflops"]).all()            # k-means and the merge
    ablations.split_table(s, f, tmp_path / "t.md")
    assert md_row((tmp_path / "t.md").read_text(), "digits / vit_micro", "adc", "xi=0.25", 3, "0.805 ± 0.007")
    fig = ablations.draw_split(s, f)
    assert [ax.get_xlabel() for ax in fig.axes] == ["split index (client blocks)"] * 2


def test_batch_and_cluster_on_figures(tmp_path):
    b = fake_ablation("batch_size", [16, 64, 256], [("base", {}), ("adc", {"xi": 0.5}), ("c3sl", {"R": 2})])
    b["final_test_accuracy"] += np.where(b["method"] == "adc", -0.1, 0.0)
    ablations.batch_table(b, tmp_path / "b.md")
    assert md_row((tmp_path / "b.md").read_text(), "digits / vit_micro", "adc", "xi=0.5", 256, "0.705 ± 0.007", "0.500")
    fig = ablations.draw_batch(b)
    assert len(fig.axes[0].get_legend().get_texts()) == 3
    c = fake_ablation("variant", ["fixed"], [("base", {})] + [("adc", {"xi": 0.25, "cluster_on": on})
                                                              for on in ("attention", "cls", "mean")])
    c.loc[c["setting"].str.contains("cls"), "final_test_accuracy"] -= 0.2
    ablations.cluster_on_table(c, tmp_path / "c.md")
    text = (tmp_path / "c.md").read_text()
    assert md_row(text, "digits / vit_micro", "adc", "xi=0.25", "cls", "0.605 ± 0.007")
    assert md_row(text, "digits / vit_micro", "base", "base", "–")
    fig = ablations.draw_cluster_on(c)
    heights = sorted(round(p.get_height(), 3) for p in fig.axes[0].patches)
    assert heights == [0.605, 0.805, 0.805]
    paths = A.make("ablation_batch", _csv(b, tmp_path), tmp_path / "fig", tmp_path / "t.md")
    assert [p.suffix for p in paths] == [".pdf", ".png"] and all(p.exists() for p in paths)
    assert (tmp_path / "t.md").read_text() == (tmp_path / "b.md").read_text()
    with pytest.raises(A.AnalysisError, match="no figure from a summary"):
        A.make("cluster_pictures", _csv(b, tmp_path), tmp_path / "fig", tmp_path / "t.md")


def _csv(df, tmp_path):
    p = tmp_path / "summary.csv"
    df.to_csv(p, index=False)
    return p
