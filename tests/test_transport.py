"""Split learning across two processes: same losses and bytes as in-process; bytes on the wire; the link model."""
import collections
import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch

from adc.runtime.config import TrainConfig
from adc.runtime.distributed import distributed_client
from adc.messages import Message
from adc.methods import CutShape, create_method, registry
from adc.runtime.errors import Interrupted
from adc.runtime.loop import SplitRun
from adc.core.bitpack import bits_for, pack_bits, packed_nbytes, unpack_bits
from adc.runtime.link import LinkModel
from adc.runtime.wire import PREAMBLE_NBYTES, Wire

QUIET = dict(log=lambda *_: None)


def quick(out, **kw) -> TrainConfig:
    d = dict(dataset="digits", model="vit_micro", batch_size=64, lr=1e-3, epochs=1, threads=1, progress=False,
             out=str(out))
    d.update(kw)
    return TrainConfig(**d)


def recording(run):
    """Record the loss of every training step (train_step returns it)."""
    losses = []
    original = run.train_step

    def step(x, y):
        loss = original(x, y)
        losses.append(float(loss))
        return loss

    run.train_step = step
    return losses


# ----- two processes against one ------------------------------------------------------------------
@pytest.mark.parametrize("method,params", [("base", {}), ("adc", {"xi": 0.1})])
def test_two_processes_give_the_in_process_losses_and_bytes(tmp_path, method, params):
    ref_run = SplitRun(quick(tmp_path / "inproc", method=method, params=params))
    ref_losses = recording(ref_run)
    ref = ref_run.run(**QUIET)

    cfg = quick(tmp_path / "dist", method=method, params=params, transport="distributed")
    with distributed_client(cfg) as run:
        assert run.model.server.blocks[0].attn.qkv.weight.numel() == 0      # the client keeps only its half
        losses = recording(run)
        m = run.run(**QUIET)
        server_generator = run.server_state()["rng"]["method"]
        client_generator = run.generator.get_state()

    assert len(losses) == len(ref_losses) == m["steps"] == math.ceil(1437 / 64)
    assert losses == pytest.approx(ref_losses, rel=1e-6, abs=1e-7)
    for key in ("bytes_up", "bytes_down", "payload_up", "payload_down", "xi_measured", "steps"):
        assert m[key] == ref[key], key
    for key in ("final_train_loss", "final_test_accuracy"):
        assert m[key] == pytest.approx(ref[key], rel=1e-6), key

    # the bytes measured on the transport, at both ends, equal bytes_up / bytes_down in metrics.json
    on_disk = json.loads((Path(cfg.out) / "metrics.json").read_text())
    wire = on_disk["wire"]
    assert wire["backend"] == "gloo" and wire["step_frames"] == m["steps"]
    assert wire["bytes_up_sent"] == wire["bytes_up_received"] == on_disk["bytes_up"] > 0
    assert wire["bytes_down_sent"] == wire["bytes_down_received"] == on_disk["bytes_down"] > 0
    assert wire["overhead_up"] >= PREAMBLE_NBYTES * m["steps"]         # the headers are counted apart

    # only the side that draws advances its generator: ADC's k-means runs on the client
    fresh = torch.Generator().manual_seed(cfg.seed).get_state()
    assert torch.equal(server_generator, fresh)
    assert torch.equal(client_generator, ref_run.generator.get_state())
    assert torch.equal(client_generator, fresh) == (method == "base")


def test_two_process_checkpoint_resumes_exactly(tmp_path):
    """SIGTERM mid epoch 2: the checkpoint holds the server's half too, and the resumed run equals an uninterrupted one."""
    kw = dict(method="adc", params={"xi": 0.2}, epochs=2)
    ref = SplitRun(quick(tmp_path / "ref", **kw)).run(**QUIET)
    cfg = quick(tmp_path / "dist", transport="distributed", **kw)
    with distributed_client(cfg) as run:
        original, calls = run.train_step, {"n": 0}

        def step_then_signal(x, y):
            loss = original(x, y)
            calls["n"] += 1
            if calls["n"] == 30:
                os.kill(os.getpid(), signal.SIGTERM)
            return loss

        run.train_step = step_then_signal
        with pytest.raises(Interrupted, match="checkpoint saved"):
            run.run(**QUIET)
    state = torch.load(Path(cfg.out) / "checkpoint.pt", weights_only=True)
    assert state["batch_in_epoch"] == 7 and any(k.startswith("server.") for k in state["model"])
    with distributed_client(cfg) as run:
        m = run.run(**QUIET)
    for key in ("final_train_loss", "final_test_accuracy", "bytes_up", "bytes_down", "steps"):
        assert m[key] == pytest.approx(ref[key], rel=1e-6), key
    assert m["wire"]["bytes_up_sent"] == m["wire"]["bytes_up_received"] == m["bytes_up"]
    assert m["wire"]["bytes_down_sent"] == m["wire"]["bytes_down_received"] == m["bytes_down"]


# ----- frames: every registered method's messages, through the framing code ---------------------------
class LoopbackWire(Wire):
    """The real framing, with a queue for a peer (no processes)."""

    def __init__(self):
        super().__init__(peer=1)
        self.queue = collections.deque()

    def _send(self, buf):
        self.queue.append(buf.clone())

    def _recv(self, nbytes, dtype=torch.uint8):
        buf = self.queue.popleft()
        assert buf.dtype == dtype and buf.numel() == nbytes
        return buf


def _same(a: Message, b: Message):
    assert list(a.tensors) == list(b.tensors) and a.payload == b.payload and a.paper_bytes == b.paper_bytes
    for k in a.tensors:
        x, y = a[k].detach(), b[k]
        assert x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y), k
        assert not y.requires_grad


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_method_messages_cross_the_wire_with_counted_equal_serialized_bytes(name):
    shape = CutShape(batch_size=8, num_tokens=17, dim=32, num_classes=10)
    g = torch.Generator().manual_seed(0)
    method = create_method(name, shape, generator=g, **registry()[name].test_params)
    acts = torch.randn(8, 17, 32, generator=torch.Generator().manual_seed(1), requires_grad=True)
    attn = torch.rand(8, 17, generator=torch.Generator().manual_seed(2)).softmax(-1)
    labels = torch.arange(8) % 10
    up, _ = method.encode(acts, attn, labels)
    wire = LoopbackWire()
    assert wire.send("step", up, loss=0.5) == up.nbytes
    op, got, fields = wire.recv()
    assert op == "step" and fields == {"loss": 0.5}
    _same(up, got)
    tokens, targets, state = method.decode(got)
    method.loss(tokens.float().mean(1) @ torch.ones(32, 10), targets).backward()
    down = method.encode_grad(state)
    assert wire.send("down", down) == down.nbytes
    _same(down, wire.recv()[1])
    assert wire.stats.body == {"sent:step": up.nbytes, "recv:step": up.nbytes,
                               "sent:down": down.nbytes, "recv:down": down.nbytes}
    assert not wire.queue


def test_packed_indices_take_ceil_log2_bits_and_the_message_counts_exactly_that():
    N, D, B, k = 197, 384, 4, 1000
    bits = bits_for(N * D - 1)
    assert bits == math.ceil(math.log2(N * D)) == 17
    idx = torch.randint(0, N * D, (B, k), generator=torch.Generator().manual_seed(0))
    packed = pack_bits(idx, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == packed_nbytes(B * k, bits) == math.ceil(B * k * 17 / 8)
    assert torch.equal(unpack_bits(packed, bits, B * k).reshape(B, k), idx)
    msg = Message({"values": torch.zeros(B, k), "indices": packed}, payload=("values",))
    wire = LoopbackWire()
    assert wire.send("step", msg) == msg.nbytes == B * k * 4 + math.ceil(B * k * 17 / 8)
    assert torch.equal(unpack_bits(wire.recv()[1]["indices"], bits, B * k).reshape(B, k), idx)
    for bits in (1, 3, 8, 10, 31):                                       # odd widths and edge values
        v = torch.tensor([0, 2 ** bits - 1, 1, 2 ** bits - 2][: 2 ** bits])
        assert torch.equal(unpack_bits(pack_bits(v, bits), bits, len(v)), v)
    with pytest.raises(ValueError, match="fit in 4 bits"):
        pack_bits(torch.tensor([16]), 4)


# ----- the link model ------------------------------------------------------------------------------
def test_link_model_time_for_known_sizes():
    link = LinkModel.parse("example")
    assert link == LinkModel.parse("up=10Mbit,down=50Mbit,latency=20ms")
    assert link.up_seconds(1_250_000) == pytest.approx(1.02)           # 10 Mbit at 10 Mbit/s + 20 ms
    assert link.down_seconds(1_250_000) == pytest.approx(0.22)         # 10 Mbit at 50 Mbit/s + 20 ms
    assert link.step_seconds(0, 0) == pytest.approx(0.04)
    sizes = [(1000, 300), (5000, 0), (123, 4567)]
    assert link.seconds(3, sum(u for u, _ in sizes), sum(d for _, d in sizes)) == \
        pytest.approx(sum(link.step_seconds(u, d) for u, d in sizes))
    odd = LinkModel.parse("up=1.5MB/s, down=2Gbit, latency_up=1s, latency_down=500us")
    assert (odd.up_bps, odd.down_bps, odd.latency_up, odd.latency_down) == (12e6, 2e9, 1.0, 5e-4)
    for bad, word in (("up=10Mbit", "down"), ("up=fast,down=1Mbit", "up='fast'"), ("rtt=1ms", "rtt"),
                      ("up=0bit,down=1bit", "> 0")):
        with pytest.raises(ValueError, match=word):
            LinkModel.parse(bad)
    with pytest.raises(ValueError, match="link_sleep"):
        TrainConfig(link_sleep=True, link="example")


def test_in_process_run_reports_link_seconds_per_epoch(tmp_path):
    m = SplitRun(quick(tmp_path / "run", method="adc", params={"xi": 0.25}, epochs=2, link="example")).run(**QUIET)
    link = LinkModel.parse("example")
    assert m["link_seconds"] == pytest.approx(link.seconds(m["steps"], m["bytes_up"], m["bytes_down"]))
    rows = (tmp_path / "run" / "history.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert "link_seconds" in header and len(rows) == 3
    for row in rows[1:]:
        r = dict(zip(header, row.split(",")))
        expected = link.seconds(int(r["step"]), int(r["bytes_up"]), int(r["bytes_down"]))
        assert float(r["link_seconds"]) == pytest.approx(expected)


def test_time_to_accuracy_replays_runs_under_a_link_and_picks_each_methods_best_setting(tmp_path):
    import pandas as pd
    from adc.report.time_to_accuracy import add_times, best_settings, table, write
    rows = []
    for method, setting, per_step_up, accs in (("base", "default", 100_000, [0.5, 0.8, 0.9]),
                                               ("adc", "xi=0.1", 5_000, [0.3, 0.5, 0.7]),
                                               ("adc", "xi=0.5", 40_000, [0.4, 0.85, 0.88])):
        for i, acc in enumerate(accs, start=1):
            rows.append(dict(dataset="digits", model="vit_micro", method=method, setting=setting, seed=0, epoch=i,
                             step=10 * i, bytes_up=10 * i * per_step_up, bytes_down=10 * i * per_step_up,
                             test_accuracy=acc, wall_seconds=1.0 * i))
    hist = pd.DataFrame(rows)
    mean = pd.DataFrame([dict(dataset="digits", model="vit_micro", method=m, setting=s, final_test_accuracy_mean=a,
                              xi_measured_mean=x) for m, s, a, x in (("base", "default", 0.9, 1.0),
                                                                      ("adc", "xi=0.1", 0.7, 0.1),
                                                                      ("adc", "xi=0.5", 0.88, 0.5))])
    link = LinkModel.parse("example")
    h = add_times(hist, link)
    last = h.iloc[2]                                   # base after 30 steps of 100 kB each way
    assert last["time_seconds"] == pytest.approx(3.0 + 30 * 0.04 + 3e6 * 8 / 10e6 + 3e6 * 8 / 50e6)
    assert list(best_settings(mean)["setting"]) == ["default", "xi=0.5"]
    t = table(h, mean).set_index("setting")
    assert t.loc["xi=0.5", "seconds_to_target"] == pytest.approx(h.iloc[7]["time_seconds"])   # 0.85 >= 0.9 * 0.9
    assert math.isnan(t.loc["xi=0.1", "seconds_to_target"])
    paths = write(hist, mean, "example", tmp_path / "fig", tmp_path / "tta.csv")
    assert all(p.exists() and p.stat().st_size > 0 for p in paths) and len(paths) == 3
