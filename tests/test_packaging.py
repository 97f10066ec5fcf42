"""The package, its lock, the download step with offline jobs, and each job's Slurm runtime."""
import os
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from adc import pipeline
from adc.data import needs as needs_lib

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv", ".tools", "results", "paper_figs", ".snakemake", "__pycache__",
                                "*.egg-info", ".hypothesis", "build", "runs", "checkpoint.pt")


def load(name: str) -> dict:
    """A config file as Snakemake sees it: config/default.yaml extended by it, then the schema's checks."""
    cfg = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
    if name != "default.yaml":
        cfg.update(yaml.safe_load((ROOT / "config" / name).read_text()))
    pipeline.check_config(cfg)
    return cfg


# ----- pyproject and uv.lock ---------------------------------------------------------------------
def test_pyproject_declares_the_runtime_set_the_extras_and_the_true_python_requirement():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    deps = {d.split("=")[0].split(">")[0].split("<")[0].split("~")[0].strip().lower() for d in project["dependencies"]}
    imported = {"torch", "torchvision", "timm", "numpy", "scikit-learn", "pandas", "matplotlib", "snakemake",
                "datasets", "huggingface-hub", "pyarrow", "pillow", "pyyaml", "jsonschema", "tqdm"}
    assert imported <= deps, f"imported but not declared: {sorted(imported - deps)}"
    assert not {"pytest", "hypothesis"} & deps, "test tools belong in the 'test' extra"
    extras = project["optional-dependencies"]
    assert {e.split("=")[0] for e in extras["test"]} == {"pytest", "hypothesis"}
    assert extras["slurm"][0].startswith("snakemake-executor-plugin-slurm>=2.8")
    for where in ("README.md", "scripts/setup-venv.sh"):
        text = (ROOT / where).read_text()
        assert "3.11" in text and "3.10" not in text, f"{where} states another Python requirement"


def test_uv_lock_pins_every_declared_dependency_with_hashes():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    assert lock["requires-python"] == ">=3.11"
    versions = {p["name"]: p["version"] for p in lock["package"]}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        name = dep.split("=")[0].split(">")[0].split("<")[0].strip().lower()
        assert name in versions, f"{name} is not in uv.lock: run bash scripts/lock.sh"
        if "==" in dep:
            assert versions[name] == dep.split("==")[1], f"uv.lock has {name} {versions[name]}, pyproject {dep}"
    assert versions["snakemake-executor-plugin-slurm"].startswith("2.8.")
    wheels = [w for p in lock["package"] for w in p.get("wheels", [])]
    assert wheels and all(w["hash"].startswith("sha256:") for w in wheels)


def test_the_wheel_holds_every_subpackage_and_every_method_file(tmp_path):
    """What `pip install .` installs: adc with all its subpackages, and baselines (its methods register)."""
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    # The PEP 517 backend that pyproject.toml names, called directly: a uv environment has no pip,
    # and setuptools (>= 77) is in the lock (torch needs it), so this builds offline.
    build = "import sys, setuptools.build_meta as b; b.build_wheel(sys.argv[1])"
    p = subprocess.run([sys.executable, "-c", build, str(tmp_path)], capture_output=True, text=True, timeout=300,
                       cwd=src)
    assert p.returncode == 0, p.stderr[-2000:]
    names = set(zipfile.ZipFile(next(tmp_path.glob("adc_bench-*.whl"))).namelist())
    want = {str(f.relative_to(ROOT)) for pkg in ("adc", "baselines") for f in (ROOT / pkg).rglob("*.py")}
    assert want <= names, f"missing from the wheel: {sorted(want - names)[:10]}"


# ----- the download step and offline jobs ----------------------------------------------------------
def test_paper_config_needs_exactly_its_two_datasets_and_two_pretrained_models():
    needs = needs_lib.config_needs(load("paper.yaml"))
    assert needs.datasets == ("cifar100", "food101")
    assert needs.models == ("deit_tiny_patch16_224", "deit_small_patch16_224")
    assert needs.args() == ("--dataset cifar100 --dataset food101 --model deit_tiny_patch16_224 "
                            "--model deit_small_patch16_224")


def test_local_copies_bundled_data_and_random_init_need_nothing():
    assert needs_lib.config_needs(load("default.yaml")).names() == []
    cfg = {"datasets": ["cifar100:/data/c100", "imagefolder:/data/pets", "digits", "food101"],
           "models": ["deit_tiny_patch16_224"], "train": {"pretrained": True, "weights": "/w/deit.safetensors"}}
    assert needs_lib.config_needs(cfg).names() == ["food101"]
    cfg["train"] = {"pretrained": False}
    assert needs_lib.config_needs(cfg).names() == ["food101"]


def offline_free_env(tmp_path: Path) -> dict:
    """The parent's environment without any offline flag (tests/conftest.py sets them), an empty HF cache."""
    env = {k: v for k, v in os.environ.items() if k not in needs_lib.JOB_ENV}
    return {**env, "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(ROOT)}


def test_a_training_job_with_a_missing_cache_entry_fails_in_seconds_naming_it(tmp_path):
    """A job in the workflow's environment (JOB_ENV) with an empty cache: it does not wait on the network.
    Timed from after the imports (python, torch and datasets take their own seconds on a loaded machine)."""
    env = {**offline_free_env(tmp_path), **needs_lib.JOB_ENV, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    code = ("import sys, time, torch, timm, datasets; from adc.train import main; t = time.perf_counter(); "
            f"rc = main(['--dataset', 'cifar100', '--model', 'deit_tiny_patch16_224', '--pretrained', '--epochs', '1', "
            f"'--threads', '1', '--out', {str(out)!r}]); print('SECONDS', time.perf_counter() - t); sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert p.returncode != 0 and "SECONDS" in p.stdout, p.stderr[-2000:]
    seconds = float(p.stdout.split("SECONDS")[1])
    assert "dataset 'cifar100'" in p.stderr and "uoft-cs/cifar100" in p.stderr and "not in the local cache" in p.stderr
    assert "HF_HUB_OFFLINE=1 is set" in p.stderr
    assert seconds < 10, f"the job took {seconds:.1f}s to fail"
    assert not (out / "metrics.json").exists()


@pytest.mark.slow
def test_workflow_jobs_run_offline_and_the_download_rule_fetches_the_needs(tmp_path):
    """A copy of the project, run from an environment without offline flags: the train job gets
    HF_HUB_OFFLINE=1 from the workflow and fails at once on the uncached dataset; `download` is a
    rule that lists the config's needs."""
    project = tmp_path / "project"
    shutil.copytree(ROOT, project, ignore=IGNORE)
    (project / "reference").mkdir(exist_ok=True)
    env = offline_free_env(tmp_path)
    env["PYTHONPATH"] = str(project)
    sm = [sys.executable, "-m", "snakemake", "--cores", "1"]
    dry = subprocess.run(sm + ["-n", "-p", "download", "--configfile", "config/paper.yaml"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert ("python -m adc.data.needs download --dataset cifar100 --dataset food101 --model deit_tiny_patch16_224 "
            "--model deit_small_patch16_224") in dry.stdout + dry.stderr
    run = subprocess.run(sm + ["results/runs/cifar100/vit_micro/base/default/seed0/metrics.json", "--config",
                               "datasets=[cifar100]", "methods=[base]", "train={epochs: 1, budget_epochs: null}"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    log = (project / "results/runs/cifar100/vit_micro/base/default/seed0/train.log").read_text()
    assert "HF_HUB_OFFLINE=1 is set (offline mode)" in log and "dataset 'cifar100'" in log, log[-2000:]


# ----- Slurm runtimes from the projection ------------------------------------------------------------
def test_each_paper_job_gets_a_margin_over_its_projected_time():
    cfg = load("paper.yaml")
    res = cfg["resources"]
    hours = pipeline.projected_hours(res["runtime_estimate"])
    runs = pipeline.expand_runs(cfg)
    minutes = {(r.dataset, r.model, r.method, r.setting): pipeline.runtime_minutes(cfg, r.dataset, r.model, r.method,
                                                                                  r.setting) for r in runs}
    assert set(minutes) <= set(hours), "a paper run has no projection in results/grid_estimate.json"
    for key, m in minutes.items():
        assert m == max(res["runtime"], -(-res["runtime_margin"] * hours[key] * 60 // 1))
    longest = ("food101", "deit_small_patch16_224", "bottlenet", "c=0.01")
    assert minutes[longest] == max(minutes.values()) > 40 * 60          # ~20.6 GPU-hours projected, x 2
    assert minutes[("cifar100", "deit_tiny_patch16_224", "base", "default")] == res["runtime"]
    assert len(set(minutes.values())) > 20                              # not one number for all
    assert pipeline.runtime_minutes(cfg, *longest, attempt=2) == 2 * minutes[longest]
    default = load("default.yaml")
    assert pipeline.runtime_minutes(default, "digits", "vit_micro", "adc", "xi=0.1") == default["resources"]["runtime"]


def test_a_missing_estimate_falls_back_to_runtime_and_a_broken_one_is_a_config_error(tmp_path, capsys):
    cfg = {"resources": {"runtime": 30, "runtime_estimate": str(tmp_path / "nope.json"), "runtime_margin": 2}}
    assert pipeline.runtime_minutes(cfg, "cifar100", "deit_tiny_patch16_224", "base", "default", attempt=2) == 60
    assert "nope.json does not exist" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text('{"total": {}}')
    cfg["resources"]["runtime_estimate"] = str(tmp_path / "broken.json")
    with pytest.raises(pipeline.ConfigError, match="resources.runtime_estimate"):
        pipeline.runtime_minutes(cfg, "cifar100", "deit_tiny_patch16_224", "base", "default")
