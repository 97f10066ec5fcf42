"""Faults and bad inputs (issue 17): nothing stale, nothing executed, every bad input one clear line.

One test (or group) per numbered item of the issue. Items 1, 2, 4 and 8 go through Snakemake on a
temporary copy of the project with a tiny grid (digits + vit_micro, base and adc xi=0.5, 1 epoch);
item 3 through ``python -m adc.train``; the others through the CLI's ``main`` in this process.
"""
import errno
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from adc import pipeline
from adc.runtime import cli
from adc.runtime.config import TrainConfig
from adc.runtime.loop import SplitRun
from adc.runtime.record import FIELDS, RecordError, read_record

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv", ".tools", "results", "paper_figs", ".snakemake", "__pycache__", ".pytest_cache",
                                "*.egg-info", ".hypothesis", "runs", "checkpoint.pt")
TINY = ["--config", "seeds=[0]", "methods=[base,adc]", "settings={adc: {xi: [0.5]}}", "train={epochs: 1, budget_epochs: null}"]
BASE = "results/runs/digits/vit_micro/base/default/seed0"
ADC = "results/runs/digits/vit_micro/adc/xi=0.5/seed0"


def snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=900)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def copy_project(src: Path, dst: Path) -> Path:
    """The repository without results, environments or git (IGNORE); a trained copy whole, with its
    results and Snakemake's metadata, but never an environment (a .venv is gigabytes)."""
    heavy = shutil.ignore_patterns(".git", ".venv", ".tools", "__pycache__")
    shutil.copytree(src, dst, ignore=IGNORE if Path(src).resolve() == ROOT.resolve() else heavy, symlinks=True)
    return dst


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A project copy with the tiny grid run once through Snakemake (2 runs)."""
    project = copy_project(ROOT, tmp_path_factory.mktemp("trained") / "project")
    snakemake(project, "--cores", "2", *TINY)
    return project


@pytest.fixture
def project(trained, tmp_path) -> Path:
    return copy_project(trained, tmp_path / "project")


def trainer_processes(project: Path) -> list[int]:
    """Processes of adc.pipeline train-job / adc.train whose working directory is ``project``."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if ("train-job" in cmd or "adc.train" in cmd) and Path(cwd) == project:
            out.append(int(pid))
    return out


# ----- 1 + 8. stale results; the process tree ----------------------------------------------------------
@pytest.mark.slow
def test_missing_run_files_are_redone_not_nothing_to_be_done(project):
    """Deleting a run's metrics.json (or its whole folder) makes the next snakemake redo that run."""
    (project / ADC / "metrics.json").unlink()
    shutil.rmtree(project / BASE)
    p = snakemake(project, "-n", "--cores", "2", *TINY)
    out = p.stdout + p.stderr
    assert "Nothing to be done" not in out
    assert f"output: {ADC}/metrics.json" in out and f"output: {BASE}/metrics.json" in out
    assert "aggregate" in out


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_changed_config_killed_snakemake_leaves_no_trainer_and_the_rerun_finishes_the_new_config(project):
    """Epochs 1 -> 2 reruns both runs; SIGKILL of Snakemake once a checkpoint exists leaves no orphan
    trainer; the rerun (--rerun-incomplete, as the profiles set) resumes and the summary shows epochs 2."""
    two = [*TINY[:-1], "train={epochs: 2, budget_epochs: null}"]     # TINY with epochs 2
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", *two], cwd=project,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = [project / d / "checkpoint.pt" for d in (BASE, ADC)]
    deadline = time.time() + 600
    while not any(c.exists() for c in ckpts) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "snakemake finished before any checkpoint appeared"
    assert trainer_processes(project), "no trainer process found while training"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(60):                        # the trainers checkpoint on SIGTERM and exit
        if not trainer_processes(project):
            break
        time.sleep(1)
    assert not trainer_processes(project), "a trainer outlived the killed snakemake"
    snakemake(project, "--unlock", *two)              # Snakemake's own lock, left by the SIGKILL
    p = snakemake(project, "--cores", "2", "--rerun-incomplete", *two)
    assert "Nothing to be done" not in p.stdout + p.stderr
    summary = pd.read_csv(project / "results/summary.csv")
    assert len(summary) == 2 and (summary["epochs"] == 2).all()
    for d in (BASE, ADC):
        m = json.loads((project / d / "metrics.json").read_text())
        assert m["config"]["epochs"] == 2 == json.loads((project / d / "run_config.json").read_text())["epochs"]
    again = snakemake(project, "-n", "--cores", "2", *two)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_profiles_rerun_incomplete_and_readme_names_it():
    for prof in ("local", "slurm"):
        assert "rerun-incomplete: true" in (ROOT / "workflow/profiles" / prof / "config.yaml").read_text()
    assert "--rerun-incomplete" in (ROOT / "README.md").read_text()


def test_the_trainer_dies_with_its_parent(tmp_path):
    """die_with_parent: a child whose parent is SIGKILLed gets SIGTERM (no orphan)."""
    code = ("import os, sys, time, subprocess\n"
            "child = subprocess.Popen([sys.executable, '-c', 'from adc import pipeline; import time; "
            "pipeline.die_with_parent(); open(r\"%s\", \"w\").write(str(__import__(\"os\").getpid())); "
            "time.sleep(120)'])\n"
            "time.sleep(120)\n") % (tmp_path / "pid")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    for _ in range(600):
        if (tmp_path / "pid").exists() and (tmp_path / "pid").read_text():
            break
        time.sleep(0.1)
    child = int((tmp_path / "pid").read_text())
    parent.kill()
    parent.wait()
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the child outlived its killed parent")


# ----- 2. aggregation that breaks or lies ------------------------------------------------------------
@pytest.mark.slow
def test_a_bad_metrics_json_is_a_named_failed_run_and_the_others_still_aggregate(project):
    (project / ADC / "metrics.json").write_text('{"final_test_accuracy": 0.5,')          # malformed
    before = (project / "results/summary_mean.csv").read_text()
    agg = ["--cores", "1", *TINY, "--forcerun", "aggregate", "--allowed-rules", "aggregate", "--",
           "results/summary.csv"]
    p = snakemake(project, *agg)
    out = p.stdout + p.stderr
    assert f"{ADC}/metrics.json: not valid JSON" in out and "1 failed run" in out
    summary = pd.read_csv(project / "results/summary.csv")
    assert list(summary["method"]) == ["base"]
    failed = pd.read_csv(project / "results/summary_failed.csv")
    assert list(failed["path"]) == [f"{ADC}/metrics.json"]
    assert (project / "results/summary_mean.csv").read_text() != before
    # a failed training job with --keep-going: the old tables stay, marked as stale
    (project / BASE / "metrics.json").unlink()
    (project / BASE / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    p = snakemake(project, "--cores", "1", "--keep-going", *TINY, check=False)
    assert p.returncode != 0
    log = (project / BASE / "train.log").read_text()
    assert f"{BASE}/checkpoint.pt: not a readable checkpoint" in log and "Traceback" not in log
    assert (project / "results/summary.csv").exists() and (project / "results/STALE.txt").exists()


def test_metrics_missing_a_field_is_a_failed_run_named_by_field(tmp_path):
    from adc.report import collect
    good = {k: (0.5 if t == "number" else 3 if t == "integer" else "base" if t == "string" else {})
            for k, t in FIELDS.items()}
    paths = []
    for name, rec in (("a", good), ("b", {k: v for k, v in good.items() if k != "xi_measured"}),
                      ("c", {**good, "final_test_accuracy": None})):
        d = tmp_path / "results/runs/digits/vit_micro" / name / "default/seed0"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(rec))
        pd.DataFrame([{"epoch": 1, "test_accuracy": 0.5, "bytes_total": 1}]).to_csv(d / "history.csv", index=False)
        paths.append(d / "metrics.json")
    failures = []
    out = tmp_path / "out"
    runs = collect.aggregate(paths, out / "s.csv", out / "m.csv", out / "h.csv", failures=failures)
    assert list(runs["method"]) == ["a"]
    assert [(Path(e.path).parts[-4], e.field) for e in failures] == [("b", "xi_measured"), ("c", "final_test_accuracy")]
    assert "xi_measured: missing" in str(failures[0])
    with pytest.raises(RecordError, match="xi_measured: missing"):
        collect.collect(paths)
    assert len(pd.read_csv(out / "h.csv")) == 1 and not list(out.glob(".*tmp"))


# ----- 3. no code execution from files ---------------------------------------------------------------
class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_runs_no_command_and_is_refused_in_one_line(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "PWNED"
    torch.save({"config": {}, "x": Exploit(marker)}, out / "checkpoint.pt")
    p = subprocess.run([sys.executable, "-m", "adc.train", "--epochs", "1", "--threads", "1", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 2 and not marker.exists()
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{out / 'checkpoint.pt'}: not a readable checkpoint" in lines[0], p.stderr


def test_model_pt_and_wire_blobs_carry_no_code(tmp_path):
    from adc.runtime.loop import load_trained
    from adc.runtime.wire import blob_message, blob_object
    from adc.core.messages import Message
    marker = tmp_path / "PWNED"
    torch.save({"config": {}, "x": Exploit(marker)}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="model.pt: not a readable checkpoint"):
        load_trained(tmp_path)
    payload = pickle.dumps(Exploit(marker))
    for name in ("json", "blob"):
        with pytest.raises((ValueError, KeyError)):
            blob_object(Message({name: torch.frombuffer(bytearray(payload), dtype=torch.uint8)}))
    assert not marker.exists()
    state = {"w": torch.arange(4.0), "opt": {"state": {0: {"step": torch.tensor(3.0)}}, "betas": (0.9, 0.99)},
             "rng": torch.get_rng_state(), "n": None, "h": [{"acc": 0.5}]}
    back = blob_object(blob_message(state))
    assert torch.equal(back["w"], state["w"]) and back["opt"]["state"][0]["step"] == 3.0
    assert back["opt"]["betas"] == (0.9, 0.99) and torch.equal(back["rng"], state["rng"]) and back["h"] == state["h"]
    with pytest.raises(TypeError, match="cannot cross"):
        blob_message({"f": object()})


# ----- 4. shell injection through a config -----------------------------------------------------------
def test_model_names_are_checked_exactly():
    base = pipeline.yaml.safe_load((ROOT / "config/default.yaml").read_text())
    for bad in ("vit_micro.bogus", "vit_micro.$(touch PWNED_model)", "deit_tiny_patch16_224.nope"):
        with pytest.raises(pipeline.ConfigError, match="models: unknown model"):
            pipeline.check_config({**base, "models": [bad]})
    pipeline.check_config({**base, "models": ["deit_tiny_patch16_224.fb_in1k"]})


@pytest.mark.slow
def test_a_shell_payload_in_a_config_runs_nothing(tmp_path):
    project = copy_project(ROOT, tmp_path / "project")
    p = snakemake(project, "--cores", "1", "--config", 'models=["vit_micro.$(touch PWNED_model)"]', check=False)
    assert p.returncode != 0 and "models: unknown model" in p.stdout + p.stderr
    target = "results/runs/digits/vit_micro/base/default;touch PWNED_target/seed0/metrics.json"
    p = snakemake(project, "--cores", "1", target, check=False)
    assert p.returncode != 0
    assert not list(project.rglob("PWNED*"))
    p = snakemake(project, "-n", "-p", "--cores", "1", "--config", "methods=[base]")
    cmd = next(line for line in (p.stdout + p.stderr).splitlines() if "train-job" in line)
    assert "exec python -m adc.pipeline train-job" in cmd and " '{\"" in cmd and "}' 1 >" in cmd   # exec'd, quoted
    assert cmd.endswith(f"> {BASE}/train.log 2>&1")     # shlex.quote leaves a path of safe characters bare


# ----- 5. checkpoints and options that do not change results -----------------------------------------
def quick(out, **kw) -> TrainConfig:
    d = dict(dataset="digits", model="vit_micro", batch_size=256, lr=1e-3, epochs=2, threads=1, progress=False,
             device="cpu", out=str(out))
    d.update(kw)
    return TrainConfig(**d)


def test_a_checkpoint_resumes_under_other_threads_progress_and_out(tmp_path):
    a = SplitRun(quick(tmp_path / "a"))
    (tmp_path / "a").mkdir()
    a.epoch = 1
    a.save_checkpoint()
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "a/checkpoint.pt", tmp_path / "b/checkpoint.pt")
    lines = []
    m = SplitRun(quick(tmp_path / "b", threads=2, progress=True, num_workers=1)).run(log=lines.append)
    assert any("note: resuming" in s and "threads" in s and "out" in s for s in lines), lines
    assert any("resumed from" in s for s in lines) and m["epochs"] == 2 and m["steps"] == 6
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    (tmp_path / "c").mkdir()
    shutil.copy(tmp_path / "a/checkpoint.pt", tmp_path / "c/checkpoint.pt")
    with pytest.raises(ValueError, match="different config .*'lr'"):
        SplitRun(quick(tmp_path / "c", lr=1e-2)).run(log=lambda *_: None)


# ----- 6. one line where a crash report was -----------------------------------------------------------
def run_cli(argv, capsys) -> tuple[int, list[str]]:
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04" + b"\0" * 40, np.random.default_rng(0).bytes(3000)])
def test_a_broken_checkpoint_names_its_path(tmp_path, capsys, content):
    (tmp_path / "checkpoint.pt").write_bytes(content)
    rc, err = run_cli(["--epochs", "1", "--threads", "1", "--out", str(tmp_path)], capsys)
    assert rc == 2 and len(err) == 1 and f"{tmp_path / 'checkpoint.pt'}: not a readable checkpoint" in err[0], err
    assert (tmp_path / "checkpoint.pt").read_bytes() == content           # nothing lost


def test_a_truncated_real_checkpoint_names_its_path(tmp_path, capsys):
    run = SplitRun(quick(tmp_path))
    run.save_checkpoint()
    data = (tmp_path / "checkpoint.pt").read_bytes()
    (tmp_path / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    rc, err = run_cli(["--epochs", "2", "--threads", "1", "--out", str(tmp_path)], capsys)
    assert rc == 2 and len(err) == 1 and "not a readable checkpoint" in err[0] and str(tmp_path) in err[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_fails_before_training(tmp_path, capsys):
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o500)
    t0 = time.time()
    rc, err = run_cli(["--epochs", "50", "--threads", "1", "--out", str(tmp_path / "ro")], capsys)
    assert rc == 2 and len(err) == 1 and "not writable" in err[0] and time.time() - t0 < 60


def test_a_read_only_output_folder_is_checked_first(tmp_path, capsys, monkeypatch):
    """As root (CI containers) permissions do not bite: the write test itself is made to fail."""
    import tempfile as tf
    real = tf.NamedTemporaryFile

    def refuse(*a, dir=None, **kw):
        if dir is not None and Path(dir) == tmp_path / "ro":
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real(*a, dir=dir, **kw)

    monkeypatch.setattr(tf, "NamedTemporaryFile", refuse)
    steps = []
    monkeypatch.setattr(SplitRun, "train_step", lambda self, x, y: steps.append(1))
    rc, err = run_cli(["--epochs", "50", "--threads", "1", "--out", str(tmp_path / "ro")], capsys)
    assert rc == 2 and len(err) == 1 and f"output folder {tmp_path / 'ro'}: not writable" in err[0] and not steps


@pytest.mark.parametrize("victim", ["checkpoint", "metrics"])
def test_disk_full_gives_one_line_and_leaves_no_temporary(tmp_path, capsys, monkeypatch, victim):
    import adc.runtime.checkpoint as ck
    if victim == "checkpoint":
        real = torch.save

        def full(obj, f, *a, **kw):
            Path(f).write_bytes(b"x" * 300_000)            # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(torch, "save", full)
        argv = ["--epochs", "2"]
    else:
        def full(self, text, *a, **kw):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(Path, "write_text", full)
        argv = ["--epochs", "1"]
    rc, err = run_cli([*argv, "--batch-size", "512", "--threads", "1", "--out", str(tmp_path)], capsys)
    assert rc == 2 and len(err) == 1 and "disk full" in err[0], err
    name = "checkpoint.pt" if victim == "checkpoint" else "metrics.json"
    assert str(tmp_path / name) in err[0]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert not (tmp_path / "metrics.json").exists()
    if victim == "metrics":          # the finished training is kept: a rerun only writes the results
        monkeypatch.undo()
        assert (tmp_path / ck.CHECKPOINT).exists()
        rc, err = run_cli([*argv, "--batch-size", "512", "--threads", "1", "--out", str(tmp_path)], capsys)
        assert rc == 0 and read_record(tmp_path / "metrics.json")["steps"] == 3


def make_imagefolder(root: Path, classes=("apple", "bean"), per_class=4):
    from PIL import Image
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((16, 16, 3), 60 * k + 10 * i, np.uint8)).save(root / name / f"{i}.png")
    return root


def test_a_corrupt_image_is_named_before_training(tmp_path, capsys, monkeypatch):
    root = make_imagefolder(tmp_path / "folder")
    (root / "bean" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    steps = []
    monkeypatch.setattr(SplitRun, "train_step", lambda self, x, y: steps.append(1))
    monkeypatch.setenv("HOME", str(tmp_path))                       # the verified-datasets cache
    rc, err = run_cli(["--dataset", f"imagefolder:{root}", "--image-size", "16", "--epochs", "1", "--threads", "1",
                       "--out", str(tmp_path / "run")], capsys)
    err = [line for line in err if "Generating" not in line]          # HF's own progress bars
    assert rc == 2 and len(err) == 1 and f"{root / 'bean' / '2.png'} cannot be decoded" in err[0], err
    assert not steps


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_garbage_weights_file_is_named(tmp_path, capsys, suffix):
    w = tmp_path / f"w{suffix}"
    w.write_bytes(np.random.default_rng(1).bytes(2000))
    rc, err = run_cli(["--weights", str(w), "--epochs", "1", "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and len(err) == 1 and f"{str(w)!r} is not a readable weights file" in err[0], err


@pytest.mark.parametrize("text, must_say", [
    ("lr: [0.1\nseed: 0\n", ["line 2", "malformed YAML", "started at line 1"]),
    ("- lr\n- seed\n", ["expected a mapping", "list"]),
    ("lr: fast\n", ["lr: 'fast' is not a number"]),
    ("batch_size: 1.5\n", ["batch_size: 1.5 is not an integer"]),
    ("epochs: 1.5\n", ["epochs: 1.5 is not an integer"]),
    ("amp: 1\n", ["amp: 1 is not true or false"]),
])
def test_bad_config_files_give_one_line_naming_file_and_key(tmp_path, capsys, text, must_say):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    rc, err = run_cli(["--config", str(f), "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and len(err) == 1, err
    assert str(f) in err[0] and all(s in err[0] for s in must_say), err
    assert not (tmp_path / "run").exists()


def test_unambiguous_config_file_values_are_coerced(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text('lr: 1e-3\nseed: "0"\nepochs: 2.0\nprogress: "false"\n')
    cfg = cli.config_from_args(["--config", str(f)])
    assert (cfg.lr, cfg.seed, cfg.epochs, cfg.progress) == (0.001, 0, 2, False)
    assert type(cfg.seed) is int and type(cfg.epochs) is int


def test_malformed_workflow_config_is_named_by_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("methods: [base\nseeds: [0]\n")
    p = subprocess.run([sys.executable, "-m", "adc.pipeline", "check-config", str(f)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 2 and f"{f}: line 2" in p.stderr and "started at line 1" in p.stderr


# ----- 7. accepted silently, wrongly -----------------------------------------------------------------
def test_a_one_class_imagefolder_says_so(tmp_path):
    from adc.data import load_dataset
    root = make_imagefolder(tmp_path / "folder", classes=("apple",))
    with pytest.raises(ValueError, match="has one class .*'apple'.*at least 2"):
        load_dataset(f"imagefolder:{root}", model="vit_micro", image_size=16)


def test_parquet_with_string_labels_maps_class_names_to_ids(tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    from adc.data import load_dataset

    def table(labels):
        imgs = []
        for k in labels:
            b = io.BytesIO()
            Image.fromarray(np.full((16, 16, 3), {"cat": 10, "dog": 200, "eel": 100}[k], np.uint8)).save(b, "PNG")
            imgs.append({"bytes": b.getvalue(), "path": None})
        return pa.table({"image": pa.array(imgs, pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                         "label": pa.array(labels, pa.string())})
    (tmp_path / "pq").mkdir()
    pq.write_table(table(["dog", "cat", "dog", "cat", "eel", "cat"]), tmp_path / "pq" / "train-00000-of-00001.parquet")
    pq.write_table(table(["cat", "dog"]), tmp_path / "pq" / "test-00000-of-00001.parquet")
    data = load_dataset(f"parquet:{tmp_path / 'pq'}", model="vit_micro", image_size=16)
    assert data.num_classes == 3 and data.class_names == ["cat", "dog", "eel"]
    x, y = data.test.__getitems__([0, 1])
    assert y.tolist() == [0, 1]


def test_a_batch_larger_than_the_dataset_warns(tmp_path, capsys):
    SplitRun(quick(tmp_path, batch_size=100_000))
    err = capsys.readouterr().err
    assert "batch_size 100000 is larger than the 1437 training samples" in err


def test_fractional_epochs_are_refused_not_truncated():
    with pytest.raises(ValueError, match="epochs: 1.5 is not an integer"):
        TrainConfig.from_dict({"epochs": 1.5})
    with pytest.raises(SystemExit):
        cli.config_from_args(["--epochs", "1.5"])


# ----- the record --------------------------------------------------------------------------------------
def test_the_loop_writes_a_valid_record(tmp_path):
    m = cli.train(quick(tmp_path, epochs=1, batch_size=512), log=lambda *_: None)
    rec = read_record(tmp_path / "metrics.json")
    assert rec["steps"] == m["steps"] == 3 and set(FIELDS) <= set(rec)
