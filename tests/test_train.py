"""Training runs end to end: metrics, byte accounting against the real messages, determinism, resume."""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from adc.core.carrier import InProcessCarrier
from adc.runtime.config import TrainConfig
from adc.runtime.cli import main, train
from adc.runtime.loop import SplitRun

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = ("final_test_accuracy", "best_test_accuracy", "final_train_loss", "bytes_up", "bytes_down",
           "bytes_uncompressed", "xi_measured", "steps", "epochs")


def quick(tmp_path, **kw) -> TrainConfig:
    d = dict(dataset="digits", model="vit_micro", batch_size=64, lr=1e-3, epochs=2, out=str(tmp_path / "run"))
    d.update(kw)
    return TrainConfig(**d)


class RecordingCarrier(InProcessCarrier):
    def __init__(self):
        self.up_bytes = self.down_bytes = 0

    def up(self, msg):
        self.up_bytes += sum(t.numel() * t.element_size() for t in msg.tensors.values())
        return super().up(msg)

    def down(self, msg):
        self.down_bytes += sum(t.numel() * t.element_size() for t in msg.tensors.values())
        return super().down(msg)


def test_base_learns_digits_above_chance_and_writes_metrics(tmp_path):
    m = train(quick(tmp_path, epochs=8), log=lambda *_: None)
    out = tmp_path / "run"
    on_disk = json.loads((out / "metrics.json").read_text())
    for key in NUMBERS + ("wall_seconds", "config", "versions", "git_commit", "bytes_total"):
        assert key in on_disk
    assert on_disk["final_test_accuracy"] == m["final_test_accuracy"] > 0.5   # 10 classes: chance is 0.1
    assert on_disk["xi_measured"] == pytest.approx(1.0)
    assert on_disk["bytes_uncompressed"] == on_disk["bytes_total"]
    assert on_disk["epochs"] == 8 and on_disk["steps"] == 8 * math.ceil(1437 / 64)
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,step,train_loss,test_accuracy") and len(history) == 9
    assert not (out / "checkpoint.pt").exists()


@pytest.mark.parametrize("method,params", [("base", {}), ("adc", {"xi": 0.1})])
def test_bytes_in_metrics_equal_the_message_tensors_that_crossed(tmp_path, method, params):
    run = SplitRun(quick(tmp_path, method=method, params=params, epochs=1))
    run.carrier = RecordingCarrier()
    m = run.run(log=lambda *_: None)
    assert m["bytes_up"] == run.carrier.up_bytes > 0
    assert m["bytes_down"] == run.carrier.down_bytes > 0


def test_adc_xi_measured_matches_the_rounding(tmp_path):
    m = train(quick(tmp_path, method="adc", params={"xi": 0.1}, budget_epochs=2, epochs=None),
              log=lambda *_: None)
    B, N = 64, 17
    T, k = max(2, int(math.sqrt(0.1) * B)), max(1, int(math.sqrt(0.1) * N))
    assert m["method_details"] == {"clusters": T, "tokens_kept": k}
    assert m["xi_measured"] == pytest.approx(T / B * k / N, rel=0.10)
    # the budget rule: about 1/xi times more steps than base for the same bytes
    assert m["bytes_total"] >= m["budget_bytes"]
    assert m["steps"] > 8 * 2 * math.ceil(1437 / 64)


def test_same_seed_gives_identical_metrics(tmp_path):
    a = train(quick(tmp_path / "a", method="adc", params={"xi": 0.2}), log=lambda *_: None)
    b = train(quick(tmp_path / "b", method="adc", params={"xi": 0.2}), log=lambda *_: None)
    c = train(quick(tmp_path / "c", method="adc", params={"xi": 0.2}, seed=1), log=lambda *_: None)
    assert {k: a[k] for k in NUMBERS} == {k: b[k] for k in NUMBERS}
    assert a["final_train_loss"] != c["final_train_loss"]


def _cli(out, *extra):
    return [sys.executable, "-m", "adc.train", "--dataset", "digits", "--model", "vit_micro", "--method", "adc",
            "--param", "xi=0.2", "--batch-size", "64", "--lr", "1e-3", "--epochs", "4", "--threads", "1",
            "--seed", "3", "--out", str(out), *extra]


def _numbers(path):
    m = json.loads(Path(path, "metrics.json").read_text())
    return {k: m[k] for k in NUMBERS}


def test_sigkill_mid_epoch_then_rerun_equals_uninterrupted(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(_cli(tmp_path / "ref"), check=True, env=env, cwd=ROOT, capture_output=True)
    out = tmp_path / "killed"
    p = subprocess.Popen(_cli(out), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # wait for the end of epoch 1 (checkpoint written), then kill during epoch 2
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists():
        assert p.poll() is None and time.time() < deadline, "run ended before its first checkpoint"
        time.sleep(0.02)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (out / "metrics.json").exists()            # an interrupted run leaves no result
    r = subprocess.run(_cli(out), env=env, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stdout
    assert _numbers(out) == _numbers(tmp_path / "ref")
    assert not (out / "checkpoint.pt").exists()


def test_sigterm_saves_a_mid_epoch_checkpoint_and_resume_is_exact(tmp_path):
    ref = train(quick(tmp_path / "ref", method="adc", params={"xi": 0.2}, epochs=3), log=lambda *_: None)
    cfg = quick(tmp_path / "int", method="adc", params={"xi": 0.2}, epochs=3)
    run = SplitRun(cfg)
    original = run.train_step
    calls = {"n": 0}

    def step_then_signal(x, y):
        original(x, y)
        calls["n"] += 1
        if calls["n"] == 30:                      # mid epoch 2 (23 batches per epoch)
            os.kill(os.getpid(), signal.SIGTERM)

    run.train_step = step_then_signal
    from adc.runtime.errors import Interrupted
    with pytest.raises(Interrupted, match="checkpoint saved"):
        run.run(log=lambda *_: None)
    state = torch.load(Path(cfg.out) / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and state["batch_in_epoch"] == 7
    resumed = train(cfg, log=lambda *_: None)
    assert {k: resumed[k] for k in NUMBERS} == {k: ref[k] for k in NUMBERS}


def test_cli_accepts_the_documented_command_and_help_lists_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for word in ("digits", "vit_micro", "deit_tiny_patch16_224", "adc", "base", "--param", "--budget-epochs"):
        assert word in text
    rc = main(["--dataset", "digits", "--model", "vit_micro", "--method", "adc", "--param", "xi=0.1", "--seed", "0",
               "--out", str(tmp_path / "run"), "--epochs", "1", "--no-progress"])
    assert rc == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["config"]["params"] == {"xi": 0.1} and m["method"] == "adc"


def test_cli_bad_input_fails_with_a_named_field(tmp_path, capsys):
    assert main(["--method", "nope", "--out", str(tmp_path / "x"), "--epochs", "1"]) == 2
    assert "method: unknown method 'nope'" in capsys.readouterr().err
    assert main(["--method", "adc", "--param", "xi=2", "--out", str(tmp_path / "y"), "--epochs", "1"]) == 2
    assert "xi=2" in capsys.readouterr().err
    assert main(["--dataset", "mnistt", "--out", str(tmp_path / "z"), "--epochs", "1"]) == 2
    assert "dataset: unknown dataset 'mnistt'" in capsys.readouterr().err
    assert not (tmp_path / "x" / "metrics.json").exists()


def test_save_model_then_load_trained_gives_the_same_accuracy(tmp_path):
    from adc.runtime.loop import load_trained
    m = train(quick(tmp_path, method="adc", params={"xi": 0.2}, epochs=2, save_model=True), log=lambda *_: None)
    run = load_trained(tmp_path / "run")
    assert run.evaluate() == m["final_test_accuracy"]


def test_validation_fraction_evaluates_on_held_out_train_samples(tmp_path):
    run = SplitRun(quick(tmp_path, validation_fraction=0.2, seed=4))
    assert len(run.data.test) == round(0.2 * 1437) and len(run.data.train) == 1437 - len(run.data.test)
    # held-out samples are not in the training part (compare images)
    tr = {tuple(v.tolist()) for v in run.data.train.x.flatten(1)}
    assert not any(tuple(v.tolist()) in tr for v in run.data.test.x.flatten(1)[:50])
    again = SplitRun(quick(tmp_path, validation_fraction=0.2, seed=4))
    assert torch.equal(again.data.test.y, run.data.test.y)


def test_eval_compressed_goes_through_the_method_and_refuses_merging(tmp_path):
    plain = SplitRun(quick(tmp_path / "a", method="topk", params={"r": 0.05}))
    comp = SplitRun(quick(tmp_path / "b", method="topk", params={"r": 0.05}, eval_compressed=True))
    x = plain.data.test.x[:16]
    with torch.no_grad():
        acts, attn = comp.model.client(x)
        sent = comp.method.eval_roundtrip(acts, attn, plain.data.test.y[:16])
        assert sent.shape == acts.shape and (sent == 0).float().mean() > 0.9   # 95% of entries dropped
        assert not torch.allclose(comp.model.server(sent), comp.model.server(acts))
    assert 0 <= comp.evaluate() <= 1 and 0 <= plain.evaluate() <= 1
    adc = SplitRun(quick(tmp_path / "c", method="adc", params={"xi": 0.2}, eval_compressed=True))
    with pytest.raises(ValueError, match="cannot be evaluated compressed"):
        adc.evaluate()
