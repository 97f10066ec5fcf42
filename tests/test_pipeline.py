"""The Snakemake pipeline: config checks, the grid from the registry, dry runs, aggregation,
tables and figures (on fabricated run trees: no training here)."""
import json
import math
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from adc import pipeline
from adc.report import collect as report, figures, plotting, reach, tables
from adc.methods import registry

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv", ".tools", "results", "paper_figs", ".snakemake", "__pycache__", ".pytest_cache",
                                "*.egg-info", ".hypothesis", ".whl", ".gl", "runs", "checkpoint.pt")


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / name).read_text())


def with_defaults(cfg: dict) -> dict:
    """A config as the workflow sees it: config/default.yaml extended by ``cfg`` (Snakemake's merge)."""
    base = load("default.yaml")
    for k, v in cfg.items():
        base[k] = {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base


def check_fails(cfg: dict) -> str:
    with pytest.raises(pipeline.ConfigError) as e:
        pipeline.check_config(with_defaults(cfg))
    return str(e.value)


# ----- configs ----------------------------------------------------------------------------------
def test_shipped_configs_are_valid_and_expand_from_the_registry():
    for name in ("default.yaml", "paper.yaml"):
        pipeline.check_config(with_defaults(load(name) if name != "default.yaml" else {}))
    default = with_defaults({})
    runs = pipeline.expand_runs(default)
    reg = registry()
    assert {r.method for r in runs} == set(reg)                       # methods: all = the registry
    assert len(default["seeds"]) == 3 and sum(x <= 0.05 for x in default["xi"]) >= 2
    levels = pipeline.xi_level_of_runs(default)
    for name, cls in reg.items():
        mine = [r for r in runs if r.method == name]
        settings = {r.setting for r in mine}
        assert len(mine) == 3 * len(settings), name                   # every setting at every seed
        assert len(settings) == 1 if cls.xi_knob is None else 1 <= len(settings) <= len(default["xi"]), name
        assert {levels[r.dir] for r in mine} <= set(default["xi"]), name
    paper = pipeline.expand_runs(with_defaults(load("paper.yaml")))
    assert len(paper) >= 250 and len(paper) == 2 * 2 * 3 * sum(len(reg[m].settings("paper"))
                                                               for m in load("paper.yaml")["methods"])


@pytest.mark.parametrize("cfg, must_say", [
    ({"seed": [0]}, ["seed", "did you mean 'seeds'", "allowed keys", "datasets"]),
    ({"methods": ["base", "adcc"]}, ["methods", "'adcc'", "did you mean 'adc'", "registered methods", "topk"]),
    ({"datasets": ["cifar1000"]}, ["datasets", "'cifar1000'", "did you mean 'cifar100'", "available", "digits"]),
    ({"models": ["deit_tiny"]}, ["models", "'deit_tiny'", "deit_tiny_patch16_224"]),
    ({"grid": "papr"}, ["grid", "'papr'", "allowed: demo, paper"]),
    ({"train": {"lr": -1}}, ["train.lr", "-1", "out of range", "> 0"]),
    ({"train": {"batchsize": 8}}, ["train.batchsize", "did you mean 'batch_size'", "allowed keys in train"]),
    ({"seeds": [-1]}, ["seeds[0]", "-1", ">= 0"]),
    ({"resources": {"gpu": 3}}, ["resources.gpu", "3", "0 or 1"]),
    ({"settings": {"adc": {"xi": [0.1, 2.0]}}}, ["settings.adc", "xi=2.0", "(0, 1]"]),
    ({"settings": {"adc": {"x": [0.1]}}}, ["settings.adc.x", "unknown parameter", "xi"]),
    ({"train": {"epochs": 3}}, ["both set", "budget_epochs: null"]),
])
def test_bad_configs_fail_naming_field_value_and_allowed(cfg, must_say):
    msg = check_fails(cfg)
    for s in must_say:
        assert s in msg, (s, msg)


def test_all_problems_are_reported_at_once():
    msg = check_fails({"grid": "dem", "methods": ["adcc"], "train": {"lr": 0}})
    assert msg.count("\n") >= 3 and "grid" in msg and "adcc" in msg and "train.lr" in msg


def test_command_line_config_strings_are_typed():
    """``--config seeds=[0]`` reaches the Snakefile as ['0'] (YAML BaseLoader): it must still work."""
    from snakemake.cli import parse_config
    cfg = with_defaults(parse_config(["seeds=[0,1]", "train={lr: 0.01, pretrained: false}", "methods=[base,adc]"]))
    pipeline.check_config(cfg)
    assert cfg["seeds"] == [0, 1] and cfg["train"]["lr"] == 0.01 and cfg["train"]["pretrained"] is False
    assert {r.seed for r in pipeline.expand_runs(cfg)} == {0, 1}


def test_run_config_and_local_dataset_folder():
    cfg = with_defaults({"datasets": ["digits"], "seeds": [0], "methods": ["adc"], "settings": {"adc": {"xi": [0.2]}}})
    pipeline.check_config(cfg)
    (run,) = pipeline.expand_runs(cfg)
    assert run.dir == "results/runs/digits/vit_micro/adc/xi=0.2/seed0"
    rc = pipeline.run_config(cfg, "digits", "vit_micro", "adc", "xi=0.2", 0)
    assert rc["params"] == {"xi": 0.2} and rc["lr"] == 0.001 and rc["budget_epochs"] == 1 and "out" not in rc
    assert pipeline.dataset_name("cifar100:/data/c100") == "cifar100"


def test_gpu_slot_gives_each_job_its_own_gpu(tmp_path):
    """Two GPUs visible: a job takes the first free one; with GPU 3 held, the next gets GPU 5."""
    import fcntl
    import os
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "3,5", "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("SLURM_JOB_ID", None)
    cmd = [sys.executable, "-m", "adc.pipeline", "gpu-slot", "--", sys.executable, "-c",
           "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert first.stdout.strip() == "3", first.stderr
    lockdir = tmp_path / f"adc-bench-gpu-locks-{os.getuid()}"
    with open(lockdir / "gpu3.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert second.stdout.strip() == "5", second.stderr
    slurm = subprocess.run(cmd, env={**env, "SLURM_JOB_ID": "1", "CUDA_VISIBLE_DEVICES": "7"}, capture_output=True,
                           text=True, timeout=60)
    assert slurm.stdout.strip() == "7"                              # under Slurm: as allocated


# ----- dry runs in a copy of the project ------------------------------------------------------------
@pytest.fixture
def project(tmp_path):
    dst = tmp_path / "project"
    shutil.copytree(ROOT, dst, ignore=IGNORE)
    return dst


def snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def job_counts(out: str) -> dict[str, int]:
    block = out.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def scheduled_runs(out: str) -> set[str]:
    return set(re.findall(r"output: (results/runs/\S+?)/metrics\.json", out))   # setting labels may hold commas


def test_default_dry_run_schedules_every_registered_method_and_a_new_baseline_file(project):
    """A copy of the project plus one throwaway file in baselines/: a dry run of the default config
    schedules every run of the registry (expand_runs in this process: the registry without the
    file) and the new method's 3 demo settings, with no other edit."""
    before = pipeline.expand_runs(with_defaults({}))
    assert not any(r.method == "throwaway_identity" for r in before)
    (project / "baselines" / "throwaway_identity.py").write_text(textwrap.dedent('''
        """A throwaway method: sends the activations scaled by nothing (tests only)."""
        from dataclasses import dataclass

        from adc.methods import Method, register


        @dataclass
        class Params:
            level: float = 0.5


        @register
        class ThrowawayIdentity(Method):
            name = "throwaway_identity"
            Params = Params
            grid = {"level": [0.1, 0.2]}
            demo_grid = {"level": [0.1, 0.3, 0.5]}
        '''))
    after = snakemake(project, "-n", "--cores", "2")          # no edit anywhere else
    out = after.stdout + after.stderr
    counts = job_counts(out)
    assert counts["train"] == len(before) + 3
    assert counts["aggregate"] == counts["tables"] == counts["figures"] == counts["all"] == 1
    # no compression knob (xi_knob): at the default's xi levels it runs once, at its defaults, per seed
    new = {f"results/runs/digits/vit_micro/throwaway_identity/default/seed{s}" for s in (0, 1, 2)}
    assert scheduled_runs(out) == {r.dir for r in before} | new


def test_dry_run_of_paper_config_lists_the_whole_grid_quickly(project):
    t0 = time.perf_counter()
    p = snakemake(project, "-n", "-p", "--configfile", "config/paper.yaml")
    seconds = time.perf_counter() - t0
    out = p.stdout + p.stderr
    expected = pipeline.expand_runs(with_defaults(load("paper.yaml")))
    assert job_counts(out)["train"] == len(expected) >= 250
    assert "gpu=1" in out and '"pretrained": true' in out and "adc.pipeline gpu-slot" in out
    assert seconds < 60, f"dry run took {seconds:.0f}s (the target is 30 s on an idle machine)"


def test_a_bad_config_fails_before_any_job(project):
    p = snakemake(project, "-n", "--config", "methods=[base,adcc]", "seeds=[0]", check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "methods: unknown method 'adcc'" in out and "did you mean 'adc'" in out and "registered methods" in out
    assert "Job stats" not in out and "rule train" not in out


def test_a_typo_in_a_config_file_starts_no_job_and_leaves_earlier_results_untouched(project):
    earlier = project / "results/runs/digits/vit_micro/base/default/seed0/metrics.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"final_test_accuracy": 0.9}\n')
    stamp = earlier.stat().st_mtime_ns
    bad = project / "config/typo.yaml"
    text = (project / "config/default.yaml").read_text()
    typo = re.sub(r"^seeds:", "seed:", text, flags=re.M)
    assert typo != text, "config/default.yaml has no top-level seeds: line to misspell"
    bad.write_text(typo)
    p = snakemake(project, "--cores", "1", "--configfile", "config/typo.yaml", check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "seed" in out and "did you mean 'seeds'" in out
    assert "rule train" not in out and "Job stats" not in out
    assert earlier.read_text() == '{"final_test_accuracy": 0.9}\n' and earlier.stat().st_mtime_ns == stamp
    assert not (project / "results/summary.csv").exists()


def test_lint_findings_are_explained_in_config_readme(project):
    p = snakemake(project, "--lint", check=False)
    findings = {re.sub(r" in line \d+\.?:?$", "", m.strip()).rstrip(".:")
                for m in re.findall(r"^    \* (.+)$", p.stdout + p.stderr, re.M)}
    explained = (ROOT / "config" / "README.md").read_text()
    missing = [f for f in findings if f not in explained]
    assert not missing, f"snakemake --lint findings not explained in config/README.md: {missing}"


@pytest.mark.slow
def test_a_tiny_grid_runs_end_to_end_and_a_second_run_does_nothing(project):
    """Two 1-epoch runs through the real rules: train, aggregate, tables, figures; then nothing to do."""
    tiny = ["--cores", "2", "--config", "seeds=[0]", "methods=[base,adc]", "settings={adc: {xi: [0.5]}}",
            "train={epochs: 1, budget_epochs: null}"]
    snakemake(project, *tiny)
    run = project / "results/runs/digits/vit_micro/adc/xi=0.5/seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["params"] == {"xi": 0.5} and metrics["config"]["threads"] == 1
    assert json.loads((run / "run_config.json").read_text())["params"] == {"xi": 0.5}
    assert (run / "train.log").exists() and not (run / "checkpoint.pt").exists()
    assert len(pd.read_csv(project / "results/summary.csv")) == 2
    acc, = tables.read_markdown((project / "results/tables/accuracy.md").read_text())
    assert ["adc", "xi=0.5"] in acc[["method", "setting"]].values.tolist()
    for name in ("accuracy_vs_xi", "accuracy_vs_xi_ablations", "accuracy_vs_communication"):
        for ext in ("pdf", "png"):
            assert (project / "paper_figs" / f"{name}.{ext}").stat().st_size > 1000
    again = snakemake(project, *tiny)
    assert "Nothing to be done" in again.stdout + again.stderr


# ----- aggregation, tables, figures on a fabricated tree --------------------------------------------
U = 1_000_000          # bytes of one uncompressed epoch in the fabricated runs
FINAL = {("base", "default"): (0.90, 0.92), ("adc", "xi=0.1"): (0.80, 0.84), ("adc", "xi=0.5"): (0.88, 0.90),
         ("topk", "r=0.1"): (0.50, 0.60)}
RAMP = (0.5, 0.8, 0.9, 0.95, 1.0)       # accuracy after each of 5 epochs, as a fraction of the final one


def fabricate(root: Path, panels=(("digits", "vit_micro"),)) -> list[Path]:
    paths = []
    for dataset, model in panels:
        for (method, setting), finals in FINAL.items():
            xi = 1.0 if method == "base" else float(setting.split("=")[1])
            params = {} if method == "base" else {setting.split("=")[0]: xi}
            for seed, final in enumerate(finals):
                d = root / "results/runs" / dataset / model / method / setting / f"seed{seed}"
                d.mkdir(parents=True)
                rows = [{"epoch": (e + 1) / xi, "step": 10 * (e + 1), "train_loss": 1.0 / (e + 1),
                         "test_accuracy": final * f, "bytes_up": (e + 1) * xi * U / 2, "bytes_down": (e + 1) * xi * U / 2,
                         "bytes_total": (e + 1) * xi * U, "xi_measured": xi, "wall_seconds": e} for e, f in enumerate(RAMP)]
                pd.DataFrame(rows).to_csv(d / "history.csv", index=False)
                (d / "metrics.json").write_text(json.dumps({
                    "final_test_accuracy": final, "best_test_accuracy": final, "xi_measured": xi, "xi_expected": xi,
                    "bytes_up": 2.5 * xi * U, "bytes_down": 2.5 * xi * U, "bytes_total": 5 * xi * U,
                    "bytes_uncompressed": 5 * U, "steps": 50, "epochs": 5 / xi, "wall_seconds": 1.0,
                    "method": method, "params": params, "device": "cpu"}))
                paths.append(d / "metrics.json")
    return paths


@pytest.fixture
def aggregated(tmp_path):
    paths = fabricate(tmp_path, panels=(("digits", "vit_micro"), ("cifar100", "deit_tiny_patch16_224")))
    out = tmp_path / "results"
    runs = report.aggregate(paths, out / "summary.csv", out / "summary_mean.csv", out / "histories.csv")
    return tmp_path, runs


def test_summary_has_one_row_per_run_with_parameter_columns(aggregated):
    tmp, runs = aggregated
    summary = pd.read_csv(tmp / "results/summary.csv")
    assert len(summary) == len(runs) == 2 * 8
    assert {"dataset", "model", "method", "setting", "seed", "param_xi", "param_r", "final_test_accuracy",
            "xi_measured", "bytes_total"} <= set(summary.columns)
    assert summary[summary.method == "adc"]["param_xi"].notna().all() and summary[summary.method == "base"][
        "param_xi"].isna().all()
    assert list(summary["method"][:2]) == ["base", "base"]          # base first, then adc


def test_summary_mean_is_mean_and_std_over_seeds(aggregated):
    tmp, _ = aggregated
    mean = pd.read_csv(tmp / "results/summary_mean.csv")
    assert len(mean) == 2 * 4 and (mean["n_seeds"] == 2).all()
    row = mean[(mean.dataset == "digits") & (mean.method == "adc") & (mean.setting == "xi=0.1")].iloc[0]
    assert row["final_test_accuracy_mean"] == pytest.approx(0.82)
    assert row["final_test_accuracy_std"] == pytest.approx(math.sqrt(2) * 0.02)    # sample std of (0.80, 0.84)
    assert row["xi_measured_mean"] == pytest.approx(0.1)


def test_communication_to_reach_fractions_of_base(aggregated):
    tmp, _ = aggregated
    mean = pd.read_csv(tmp / "results/summary_mean.csv")
    comm = reach.comm_to_target(mean, pd.read_csv(tmp / "results/histories.csv"))
    digits = comm[comm.dataset == "digits"].set_index(["method", "setting"])
    base = 0.91                                 # mean final accuracy of base
    # adc xi=0.5, seed 0: accuracy 0.88 * RAMP, epoch e costs 0.5 U; 0.9 * 0.91 = 0.819 first reached at
    # 0.88 * 0.95 = 0.836 (4th epoch: 2 U); seed 1 (0.90): 0.90 * 0.95 = 0.855 >= 0.819 also at the 4th epoch
    assert digits.loc[("adc", "xi=0.5"), "bytes_0.9_mean"] == pytest.approx(2 * U)
    assert digits.loc[("adc", "xi=0.5"), "reached_0.9"] == 2
    # 99% of base (0.9009): seed 1 of adc xi=0.5 ends at 0.90 < 0.9009: never; seed 0 neither
    assert digits.loc[("adc", "xi=0.5"), "reached_0.99"] == 0
    # top-k never gets near
    assert digits.loc[("topk", "r=0.1"), "reached_0.9"] == 0
    assert digits.loc[("base", "default"), "base_accuracy"] == pytest.approx(base)


def test_tables_have_one_row_per_method_and_setting_with_mean_pm_std(aggregated):
    tmp, _ = aggregated
    t = tmp / "results/tables"
    tables.write_tables(pd.read_csv(tmp / "results/summary_mean.csv"), pd.read_csv(tmp / "results/histories.csv"),
                        t / "accuracy.md", t / "accuracy.tex", t / "comm_to_target.md", t / "comm_to_target.tex")
    md = (t / "accuracy.md").read_text()
    section = md.split("## digits / vit_micro")[1].split("## ")[0]
    acc, = tables.read_markdown(section)
    assert acc[["method", "setting"]].values.tolist() == [["base", "default"], ["adc", "xi=0.1"], ["adc", "xi=0.5"],
                                                          ["topk", "r=0.1"]]
    assert acc["final test accuracy"][1] == "0.820 ± 0.028"
    tex = (t / "accuracy.tex").read_text()
    assert r"0.820 $\pm$ 0.028" in tex and r"\begin{tabular}" in tex and "xi=0.1" in tex
    comm = (t / "comm_to_target.md").read_text()
    digits = tables.read_markdown(comm)[0].set_index(["method", "setting"])
    assert digits.loc[("adc", "xi=0.5"), "ξ (measured)"] == "0.5"
    assert digits.loc[("adc", "xi=0.5"), "MB to 90% of base"] == "2.00 ± 0.00"
    assert digits.loc[("topk", "r=0.1"), "MB to 90% of base"] == "not reached"
    assert r"\toprule" in (t / "comm_to_target.tex").read_text()


def test_figures_are_written_and_overlay_the_paper_where_the_panel_matches(aggregated):
    tmp, _ = aggregated
    mean = pd.read_csv(tmp / "results/summary_mean.csv")
    ref = figures.load_reference(ROOT / "reference" / "adc_paper_fig3.csv")
    fig = figures.draw_accuracy_vs_xi(mean, ref)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["digits / vit_micro", "cifar100 / deit_tiny_patch16_224"]
    assert all(ax.get_xscale() == "log" for ax in axes)

    def hollow_points(ax):
        return sum(len(l.get_xdata()) for l in ax.get_lines() if l.get_markerfacecolor() == "none")

    paper = ref[(ref.dataset == "cifar100") & (ref.model == "deit_tiny_patch16_224")]
    assert hollow_points(axes[0]) == 0 and hollow_points(axes[1]) == len(paper) > 20
    errorbars = [c for c in axes[1].containers if c.has_yerr]
    assert len(errorbars) == 3                                    # base, adc, topk
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["base", "ADC"] and plotting.label("topk") in labels   # one label per method, from plotting
    assert [ln.get_color() for ln in axes[0].get_lines() if ln.get_linestyle() == "--"] == ["black"]  # base
    plotting.plt.close(fig)
    written = figures.all_figures(tmp / "results/summary_mean.csv", tmp / "results/histories.csv",
                                  ROOT / "reference/adc_paper_fig3.csv", tmp / "paper_figs")
    assert sorted(p.name for p in written) == ["accuracy_vs_communication.pdf", "accuracy_vs_communication.png",
                                               "accuracy_vs_xi.pdf", "accuracy_vs_xi.png",
                                               "accuracy_vs_xi_ablations.pdf", "accuracy_vs_xi_ablations.png"]
    for p in written:
        head = p.read_bytes()[:8]
        assert head.startswith(b"%PDF") if p.suffix == ".pdf" else head == b"\x89PNG\r\n\x1a\n"


# ----- plots from results alone, and partial results ----------------------------------------------
def test_plots_schedules_no_training_and_redraws_every_figure_from_results_alone(project):
    (project / "results").mkdir()
    for name in ("summary.csv", "summary_mean.csv", "histories.csv", "flops.csv"):
        shutil.copy(ROOT / "results" / name, project / "results" / name)
    dry = snakemake(project, "-n", "plots")
    assert job_counts(dry.stdout + dry.stderr) == {"plots": 1, "total": 1}       # no training job
    snakemake(project, "--cores", "1", "plots")
    for name in ("accuracy_vs_xi", "accuracy_vs_xi_ablations", "accuracy_vs_communication", "fig5_flops"):
        for ext in ("pdf", "png"):
            assert (project / "paper_figs" / f"{name}.{ext}").stat().st_size > 1000, name
    acc, = tables.read_markdown((project / "results/tables/accuracy.md").read_text())[:1]
    assert len(acc) == len(pd.read_csv(ROOT / "results/summary_mean.csv"))


FAILING = '''
from adc.methods import Method, register


@register
class Failing(Method):
    name = "failing"

    def encode(self, acts, attn, labels):
        raise RuntimeError("boom: this method always fails")
'''


@pytest.mark.slow
def test_keep_going_with_a_failed_run_still_writes_tables_figures_and_failed_csv(project):
    (project / "baselines" / "failing.py").write_text(FAILING)
    out = snakemake(project, "--cores", "2", "--keep-going", "--config", "seeds=[0]", "methods=[base,failing]",
                    "train={epochs: 1, budget_epochs: null}", check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "runs: 1 done, 1 failed, 0 missing (of 2)" in text
    failed = pd.read_csv(project / "results/failed.csv")
    assert failed[["method", "status"]].values.tolist() == [["failing", "failed"]]
    assert "boom: this method always fails" in failed["reason"].iloc[0]
    acc, = tables.read_markdown((project / "results/tables/accuracy.md").read_text())[:1]
    rows = {r["method"]: r for _, r in acc.iterrows()}
    assert rows["failing"]["final test accuracy"] == "no result (1 failed)"
    assert rows["base"]["final test accuracy"] != "–"
    for name in ("accuracy_vs_xi", "accuracy_vs_communication", "time_to_accuracy"):
        assert (project / "paper_figs" / f"{name}.png").stat().st_size > 1000
