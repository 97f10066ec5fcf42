"""What ToMe, EViT, low-rank and FedLite compute, on tiny hand-worked examples; and the AWGN channel.

(Shapes, bytes vs expected_xi, gradients to the client, seeds: the contract tests in
tests/test_contract.py cover these methods with no code here.)
"""
from __future__ import annotations

import math

import pytest
import torch

from adc.core import step as cut
from adc.core.channel import AWGNChannel, Channel, make_channel
from adc.messages import Message
from adc.methods import CutShape, create_method
from adc.double_compression.kmeans import nearest_center
from baselines.fedlite import subvector_kmeans
from baselines.tome import bipartite_merge


def shape(B=2, N=5, D=4, C=3):
    return CutShape(B, N, D, C, 1)


def roundtrip(method, acts, attn=None, labels=None):
    """encode -> (detached) decode -> server loss sum(tokens * w) -> encode_grad -> decode_grad."""
    labels = labels if labels is not None else torch.zeros(acts.shape[0], dtype=torch.long)
    up, state = method.encode(acts, attn, labels)
    tokens, targets, server_state = method.decode(up.detached())
    w = torch.arange(tokens.numel(), dtype=torch.float32).reshape(tokens.shape) / tokens.numel()
    (tokens * w).sum().backward()
    down = method.encode_grad(server_state)
    method.decode_grad(state, down.detached())
    return up, down, tokens, w


# ----- ToMe ------------------------------------------------------------------------------------
def test_tome_two_tokens_of_size_one_merge_to_their_mean_with_size_two():
    x = torch.tensor([[[1.0, 2.0, 3.0], [3.0, 6.0, -1.0]]])
    merged, size = bipartite_merge(x, torch.ones(1, 2, 1), x, r=1)
    torch.testing.assert_close(merged, torch.tensor([[[2.0, 4.0, 1.0]]]))
    torch.testing.assert_close(size, torch.tensor([[[2.0]]]))


def test_tome_merge_is_size_weighted_and_keeps_cls():
    x = torch.tensor([[[1.0, 0.0], [4.0, 0.0]]])
    merged, size = bipartite_merge(x, torch.tensor([[[3.0], [1.0]]]), x, r=1)
    torch.testing.assert_close(merged, torch.tensor([[[(3 * 1 + 4) / 4, 0.0]]]))      # (3*x0 + 1*x1) / 4
    torch.testing.assert_close(size, torch.tensor([[[4.0]]]))
    # the method: CLS + two patches -> CLS + their mean; sizes [1, 2]; CLS untouched even if it equals a patch
    m = create_method("tome", shape(B=1, N=3, D=2), rho=0.67)
    acts = torch.tensor([[[4.0, 0.0], [1.0, 1.0], [3.0, 1.0]]], requires_grad=True)
    up, down, tokens, w = roundtrip(m, acts)
    torch.testing.assert_close(up["acts"], torch.tensor([[[4.0, 0.0], [2.0, 1.0]]]))
    assert up["sizes"].tolist() == [[1, 2]] and up["sizes"].dtype == torch.uint8
    # gradient through the merge: each member of the mean gets half of the merged token's gradient
    g = down["acts"][0]
    torch.testing.assert_close(acts.grad[0], torch.stack([g[0], g[1] / 2, g[1] / 2]))


def test_tome_rounds_reach_k_and_conserve_mass():
    N, D = 17, 8
    m = create_method("tome", shape(B=3, N=N, D=D), rho=0.25, r=2)
    assert m.num_keep() == 4 and sum(m.rounds()) == N - 4 and max(m.rounds()) <= 2
    acts = torch.randn(3, N, D, generator=torch.Generator().manual_seed(0))
    merged, sizes = m.merge(acts)
    assert merged.shape == (3, 4, D)
    torch.testing.assert_close(sizes.sum(1).squeeze(-1), torch.full((3,), float(N)))
    torch.testing.assert_close(merged[:, 0], acts[:, 0])                                 # CLS
    torch.testing.assert_close((merged * sizes).sum(1), acts.sum(1), rtol=1e-5, atol=1e-5)  # size-weighted mass


def test_tome_merges_the_most_similar_pair():
    # patches p0..p3 (A = p1, p3; B = p0, p2): p3 is nearly parallel to p2, p1 is not close to anything
    acts = torch.tensor([[[9.0, 9.0], [1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [-0.1, -1.0]]])
    m = create_method("tome", shape(B=1, N=5, D=2), rho=0.8, r=1)                      # k = 4: one merge
    merged, sizes = m.merge(acts)
    # CLS, unmerged A (p1), then B (p0, p2 + p3 merged)
    torch.testing.assert_close(merged[0], torch.tensor([[9.0, 9.0], [0.0, 1.0], [1.0, 0.0], [-0.05, -1.0]]))
    assert sizes[0, :, 0].tolist() == [1, 1, 1, 2]


# ----- EViT ------------------------------------------------------------------------------------
def test_evit_fused_token_is_the_attention_weighted_mean_of_the_dropped_tokens():
    acts = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [4.0, -4.0]]], requires_grad=True)
    attn = torch.tensor([[0.2, 0.1, 0.4, 0.05, 0.25]])
    m = create_method("evit", shape(B=1, N=5, D=2), keep_rate=0.5)                    # k = 2 of 4 patches
    up, down, tokens, _ = roundtrip(m, acts, attn)
    fused = (0.1 * acts[0, 1] + 0.05 * acts[0, 3]) / 0.15
    want = torch.stack([acts[0, 0], acts[0, 2], acts[0, 4], fused]).detach()       # CLS, top-2 by attention, fused
    torch.testing.assert_close(up["acts"][0], want)
    assert m.expected_xi() == pytest.approx(4 / 5)
    g = down["acts"][0]                                                            # dropped tokens: weight * fused grad
    torch.testing.assert_close(acts.grad[0, 1], g[3] * (0.1 / 0.15))
    torch.testing.assert_close(acts.grad[0, 3], g[3] * (0.05 / 0.15))
    raw = create_method("evit", shape(B=1, N=5, D=2), keep_rate=0.5, fuse="sum").reorganize(acts, attn)
    torch.testing.assert_close(raw[0, 3], (0.1 * acts[0, 1] + 0.05 * acts[0, 3]).detach())   # EViT code: raw sum


def test_evit_keeps_everything_without_a_fused_token_at_rate_one():
    m = create_method("evit", shape(N=5), keep_rate=1.0)
    acts = torch.randn(2, 5, 4)
    out = m.reorganize(acts, torch.rand(2, 5))
    assert out.shape == (2, 5, 4) and m.expected_xi() == 1.0
    torch.testing.assert_close(out.sort(dim=1).values, acts.sort(dim=1).values)


# ----- low rank ----------------------------------------------------------------------------------
@pytest.mark.parametrize("grad", ["factored", "dense"])
def test_lowrank_reproduces_a_rank_r_matrix_and_its_gradient(grad):
    B, N, D, r = 3, 6, 5, 2
    g = torch.Generator().manual_seed(0)
    M = (torch.randn(B, N, r, generator=g) @ torch.randn(B, r, D, generator=g)).requires_grad_()
    m = create_method("lowrank", shape(B=B, N=N, D=D), generator=torch.Generator().manual_seed(1), r=r, grad=grad)
    up, down, tokens, w = roundtrip(m, M)
    assert up["P"].shape == (B, N, r) and up["Q"].shape == (B, D, r)
    torch.testing.assert_close(tokens.detach(), M.detach(), rtol=1e-4, atol=1e-4)    # exact rank r: ~0 error
    assert (tokens.detach() - M.detach()).abs().max() < 1e-4
    P = up["P"]
    want = P @ P.transpose(1, 2) @ w if grad == "factored" else w                 # P P^T G, or G straight through
    torch.testing.assert_close(M.grad, want, rtol=1e-4, atol=1e-5)
    if grad == "factored":                                                        # for a rank-r M, P P^T G's rows lie in col(M)
        assert down["Q"].shape == (B, D, r)
    xi_up = r * (N + D) / (N * D)
    assert up.payload_nbytes == pytest.approx(xi_up * B * N * D * 4)
    assert m.expected_xi() == pytest.approx((xi_up + (r / N if grad == "factored" else 1.0)) / 2)


def test_lowrank_error_falls_with_rank():
    M = torch.randn(2, 17, 32, generator=torch.Generator().manual_seed(0))
    errs = []
    for r in (1, 4, 16, 17):
        m = create_method("lowrank", shape(B=2, N=17, D=32), generator=torch.Generator().manual_seed(0), r=r)
        up, _ = m.encode(M, None, torch.zeros(2, dtype=torch.long))
        errs.append(((up["P"] @ up["Q"].transpose(1, 2)) - M).norm().item())
    assert errs[0] > errs[1] > errs[2] > errs[3] and errs[3] < 1e-3


# ----- FedLite -----------------------------------------------------------------------------------
def test_fedlite_bytes_are_codebook_plus_packed_codes():
    B, N, D = 4, 5, 6                                   # N * D = 30; s = 3 -> q = 10 sub-vectors per sample
    m = create_method("fedlite", shape(B=B, N=N, D=D), generator=torch.Generator().manual_seed(0), L=6, s=3)
    acts = torch.randn(B, N, D, generator=torch.Generator().manual_seed(1))
    up, _ = m.encode(acts, None, torch.zeros(B, dtype=torch.long))
    assert up["codebook"].shape == (6, 3) and up["codebook"].dtype == torch.float32
    assert up["codes"].dtype == torch.uint8 and up["codes"].numel() == math.ceil(B * 10 * 3 / 8)   # 3 bits per code
    assert up.payload_nbytes == 6 * 3 * 4 + 15
    assert m.expected_xi() == pytest.approx(((72 + 15) / (B * N * D * 4) + 72 / (B * N * D * 4)) / 2)
    # the server rebuilds every sub-vector as its codeword; each codeword is the mean of its sub-vectors
    x_hat, _, _ = m.decode(up.detached())
    sub = acts.reshape(-1, 3)
    rec = x_hat.detach().reshape(-1, 3)
    for c in range(6):
        members = (rec == up["codebook"][c]).all(1)
        if members.any():
            torch.testing.assert_close(up["codebook"][c], sub[members].mean(0))


@pytest.mark.parametrize("grad", ["codebook", "dense"])
def test_fedlite_gradient_correction(grad):
    B, N, D, lam = 2, 2, 2, 0.5                          # s = 2: 4 sub-vectors, L = 2 codewords
    acts = torch.tensor([[[0.0, 0.0], [0.2, 0.0]], [[5.0, 5.0], [5.0, 5.4]]], requires_grad=True)
    m = create_method("fedlite", shape(B=B, N=N, D=D), generator=torch.Generator().manual_seed(0),
                      L=2, s=2, lam=lam, grad=grad)
    up, down, tokens, w = roundtrip(m, acts)
    x_hat = torch.tensor([[[0.1, 0.0], [0.1, 0.0]], [[5.0, 5.2], [5.0, 5.2]]])
    torch.testing.assert_close(tokens.detach(), x_hat)
    if grad == "codebook":       # each sub-vector gets its cluster's mean gradient (down: dL/dcodewords, L x s)
        assert down["codebook"].shape == (2, 2)
        g = w.reshape(2, 2, 2).mean(1, keepdim=True).expand(2, 2, 2)
    else:                        # the dense gradient, straight through
        g = w
    torch.testing.assert_close(acts.grad, g + lam * (acts.detach() - x_hat))


@pytest.mark.parametrize("k", [1, 2, 7, 64, 256])
def test_nearest_center_in_one_dimension_is_the_brute_force_nearest(k):
    """FedLite's scalar sub-vectors take the sorted-midpoint path; it must pick what the full
    distance matrix picks, and map equal centres to the lowest index among them (argmin's rule)."""
    g = torch.Generator().manual_seed(k)
    x = torch.randn(5000, 1, generator=g)
    centers = x[torch.randperm(5000, generator=g)[:k]]
    centers[k // 2:] = centers[: k - k // 2].clone()                           # duplicated centres
    got = nearest_center(x, centers)
    want = (x - centers.t()).abs().argmin(1)                                    # first minimum: lowest index
    assert torch.equal(got, want)
    two = nearest_center(x.expand(-1, 2).contiguous(), centers.expand(-1, 2).contiguous())   # the d > 1 path:
    dist = (x - centers.t()).abs()                                               # nearest up to its rounding
    torch.testing.assert_close(dist.gather(1, two[:, None]), dist.gather(1, want[:, None]), atol=1e-3, rtol=0)


def test_subvector_kmeans_with_scalar_subvectors_finds_the_obvious_clusters():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(300, 1, generator=g) * 0.01 + c for c in (-5.0, 0.0, 5.0)])
    assign = subvector_kmeans(x, 3, iters=10, generator=torch.Generator().manual_seed(1))
    groups = [set(assign[i * 300:(i + 1) * 300].tolist()) for i in range(3)]
    assert all(len(gr) == 1 for gr in groups) and len(set.union(*groups)) == 3


# ----- the channel -------------------------------------------------------------------------------
def _msg(seed=0, B=64, N=17, D=32):
    g = torch.Generator().manual_seed(seed)
    acts = torch.randn(B, N, D, generator=g) * torch.rand(B, N, 1, generator=g) * 3
    return Message({"acts": acts, "codes": torch.arange(10, dtype=torch.uint8), "labels": torch.zeros(B)},
                   payload=("acts", "codes"))


def test_awgn_measured_snr_is_the_drawn_snr():
    ch = AWGNChannel(10.0, torch.Generator().manual_seed(0))
    msg = _msg()
    for _ in range(5):
        out, snr = ch.noisy(msg)
        assert -10 <= float(snr) <= 10
        noise = out["acts"] - msg["acts"]
        # noise power / signal power per token (over D), averaged over the tokens: unbiased for 10^(-SNR/10)
        ratio = (noise.square().mean(-1) / msg["acts"].square().mean(-1)).mean()
        assert -10 * torch.log10(ratio).item() == pytest.approx(float(snr), abs=0.1)
        assert noise.mean().abs() < 0.05 * msg["acts"].abs().mean()            # zero-mean
        assert torch.equal(out["codes"], msg["codes"]) and torch.equal(out["labels"], msg["labels"])


def test_awgn_is_deterministic_by_seed_and_clean_is_the_identity():
    a = AWGNChannel(10.0, torch.Generator().manual_seed(3))
    b = AWGNChannel(10.0, torch.Generator().manual_seed(3))
    c = AWGNChannel(10.0, torch.Generator().manual_seed(4))
    msg = _msg()
    ua, ub, uc = a.up(msg), b.up(msg), c.up(msg)
    assert torch.equal(ua["acts"], ub["acts"]) and not torch.equal(ua["acts"], uc["acts"])
    assert torch.equal(a.down(msg)["acts"], b.down(msg)["acts"])
    clean = make_channel("clean")
    assert clean.up(msg) is msg and clean.down(msg) is msg and type(clean) is Channel
    with pytest.raises(ValueError, match="channel: 'noisy'"):
        make_channel("noisy")
    with pytest.raises(ValueError, match="channel_snr_db"):
        make_channel("awgn", -1.0)


def test_channel_noises_both_directions_of_a_step():
    """in_process: the server receives noisy activations and the client a noisy gradient."""
    torch.manual_seed(0)
    acts = torch.randn(4, 5, 8, requires_grad=True)
    seen = {}

    def server_loss(tokens, targets):
        seen["tokens"] = tokens.detach().clone()
        return (tokens * 1.0).sum()                       # gradient of ones

    m = create_method("base", shape(B=4, N=5, D=8))
    ch = AWGNChannel(0.0, torch.Generator().manual_seed(0))   # SNR exactly 0 dB
    s = cut.cross_cut(m, acts, None, torch.zeros(4, dtype=torch.long), cut.in_process(m, server_loss, channel=ch))
    noise = seen["tokens"] - acts.detach()
    assert 0.5 < (noise.square().mean() / acts.detach().square().mean()).item() < 1.5
    assert not torch.equal(acts.grad, torch.ones_like(acts.grad))
    assert ((acts.grad - 1).square().mean().item()) == pytest.approx(1.0, rel=0.5)   # 0 dB on a gradient of ones
    assert torch.equal(s.up["acts"], acts)                # the meter counts what was sent


def test_awgn_run_records_the_channel(tmp_path):
    from adc.runtime.config import TrainConfig
    from adc.runtime.loop import SplitRun
    with pytest.raises(ValueError, match="channel: 'noisy'"):
        TrainConfig(channel="noisy")
    cfg = dict(dataset="digits", model="vit_micro", method="base", batch_size=64, lr=1e-3, epochs=1, device="cpu",
               progress=False)
    runs = {}
    for name in ("clean", "awgn", "awgn2"):
        ch = {"clean": {}, "awgn": {"channel": "awgn"}, "awgn2": {"channel": "awgn"}}[name]
        r = SplitRun(TrainConfig(**cfg, **ch, out=str(tmp_path / name)))
        runs[name] = r.run(log=lambda *_: None)
    assert runs["clean"]["channel"] == {"name": "clean"}
    assert runs["awgn"]["channel"] == {"name": "awgn", "snr_db": 10.0, "snr_range_db": [-10.0, 10.0]}
    assert runs["awgn"]["bytes_up"] == runs["clean"]["bytes_up"]                  # noise costs no bytes
    assert runs["awgn"]["final_train_loss"] == runs["awgn2"]["final_train_loss"]  # same seed, same noise
    assert runs["awgn"]["final_train_loss"] != runs["clean"]["final_train_loss"]


def test_channel_default_config_runs_the_main_methods_under_awgn():
    from pathlib import Path

    import yaml

    from adc import pipeline
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "channel_default.yaml").read_text())
    pipeline.check_config(cfg)
    runs = pipeline.expand_runs(cfg)
    assert len(runs) == 22 and {r.method for r in runs} >= {"base", "adc", "tome", "evit", "lowrank"}
    rc = pipeline.run_config(cfg, "digits", "vit_micro", "adc", "xi=0.1", 0)
    assert rc["channel"] == "awgn" and rc["channel_snr_db"] == 10.0
