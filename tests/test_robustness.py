"""Bad input and numerical trouble: clear errors, no silent NaN, no half-written results."""
import json

import pytest
import torch

from adc.runtime.config import TrainConfig
from adc.runtime.cli import train
from adc.runtime.errors import NonFiniteError
from adc.runtime.loop import SplitRun


def cfg(tmp_path, **kw):
    d = dict(dataset="digits", model="vit_micro", batch_size=64, lr=1e-3, epochs=1, out=str(tmp_path / "run"))
    d.update(kw)
    return TrainConfig(**d)


def test_non_finite_loss_stops_the_run_naming_step_and_method(tmp_path):
    run = SplitRun(cfg(tmp_path, method="adc", params={"xi": 0.2}))
    original = run.method.loss
    calls = {"n": 0}

    def poisoned(logits, targets):
        calls["n"] += 1
        loss = original(logits, targets)
        return loss * float("nan") if calls["n"] == 5 else loss

    run.method.loss = poisoned
    with pytest.raises(NonFiniteError, match=r"step 5 \(method 'adc'"):
        run.run(log=lambda *_: None)
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("bad,match", [
    (dict(epochs=0), "epochs: 0 must be >= 1"),
    (dict(budget_epochs=-1.0, epochs=None), "budget_epochs: -1.0 must be > 0"),
    (dict(batch_size=0), "batch_size: 0 must be >= 1"),
    (dict(lr=0.0), "lr: 0.0 must be > 0"),
    (dict(budget_epochs=2.0), "choose one stopping rule"),
])
def test_config_values_out_of_range_are_named(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        cfg(tmp_path, **bad)


def test_unknown_config_key_lists_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['bach_size'\]; allowed: .*'batch_size'"):
        TrainConfig.from_dict({"bach_size": 3})


def test_split_index_beyond_depth_is_named(tmp_path):
    with pytest.raises(ValueError, match="split_index: 9 is out of range for a model of depth 4"):
        SplitRun(cfg(tmp_path, split_index=9))


def test_last_batch_smaller_than_clusters_and_batch_of_one(tmp_path):
    # B = 200 at xi = 0.1 asks T = int(sqrt(0.1) * 200) = 63 clusters and k = int(sqrt(0.1) * 17) = 5 of the 17
    # tokens (width 32, 10 classes); the last batch, 1437 % 200 = 37 samples, gets T = int(sqrt(0.1) * 37) = 11.
    # Up: merged activations T x 5 x 32 fp32 + soft labels T x 10 fp32; down: their gradient.
    m = train(cfg(tmp_path / "a", method="adc", params={"xi": 0.1}, batch_size=200), log=lambda *_: None)
    assert m["steps"] == 8                                   # ceil(1437 / 200): the short batch is trained, not dropped
    assert m["bytes_up"] == 7 * (63 * 5 * 32 * 4 + 63 * 10 * 4) + (11 * 5 * 32 * 4 + 11 * 10 * 4) == 307_360
    assert m["bytes_down"] == 7 * 63 * 5 * 32 * 4 + 11 * 5 * 32 * 4 == 289_280
    assert 0 < m["final_train_loss"] < 10 and 0 <= m["final_test_accuracy"] <= 1
    # a batch of one sample: one cluster (T = min(B, max(2, ...)) = 1), the same 5 tokens
    run = SplitRun(cfg(tmp_path / "b", method="adc", params={"xi": 0.1}, batch_size=1))
    x, y = run.data.train.x[:1], run.data.train.y[:1]
    before = [p.detach().clone() for p in run.model.parameters()]
    run.train_step(x, y)
    run.check_finite()
    assert run.meter.steps == 1
    assert (run.meter.bytes_up, run.meter.bytes_down) == (1 * 5 * 32 * 4 + 1 * 10 * 4, 1 * 5 * 32 * 4)
    changed = [not torch.equal(a, b.detach()) for a, b in zip(before, run.model.parameters())]
    assert sum(changed) > len(changed) // 2                  # the step reached client and server weights


def test_checkpoint_from_another_config_is_refused_not_mixed(tmp_path):
    a = cfg(tmp_path, method="adc", params={"xi": 0.2}, epochs=2)
    (tmp_path / "run").mkdir(parents=True)
    SplitRun(a).save_checkpoint()
    b = cfg(tmp_path, method="adc", params={"xi": 0.3}, epochs=2)
    with pytest.raises(ValueError, match="checkpoint: .* different config .*params"):
        SplitRun(b).run(log=lambda *_: None)


@pytest.fixture
def restore_determinism():
    yield
    torch.use_deterministic_algorithms(False)


def test_deterministic_option_gives_bit_identical_metrics(tmp_path, restore_determinism):
    a = train(cfg(tmp_path / "a", method="adc", params={"xi": 0.2}, deterministic=True), log=lambda *_: None)
    b = train(cfg(tmp_path / "b", method="adc", params={"xi": 0.2}, deterministic=True), log=lambda *_: None)
    keys = ("final_test_accuracy", "final_train_loss", "bytes_total", "xi_measured", "steps")
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    assert json.loads((tmp_path / "a" / "run" / "metrics.json").read_text())["config"]["deterministic"] is True
