"""What each baseline computes (the contract tests check only what all methods share)."""
import math

import pytest
import torch

from adc.core.carrier import InProcessLink
from adc.methods import CutShape, create_method, registry
from adc.core.bitpack import pack_bits, unpack_bits
from baselines.quantization import dequantize, quantize

N, D, C = 17, 32, 10


def make(name, B=8, seed=0, n=N, d=D, **params):
    return create_method(name, CutShape(B, n, d, C), generator=torch.Generator().manual_seed(seed), **params)


def cross(m, acts, attn=None, labels=None):
    """encode -> link -> decode; returns (up, tokens, targets, server_state, client_state)."""
    labels = labels if labels is not None else torch.randint(0, C, (acts.shape[0],))
    up, cs = m.encode(acts, attn, labels)
    tokens, targets, ss = m.decode(InProcessLink().up(up))
    return up, tokens, targets, ss, cs


# ----- grids ------------------------------------------------------------------------------------
PAPER = {"topk": {"r": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]},
         "randtopk": {"r": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]},
         "c3sl": {"R": [2, 4, 8, 16, 32]},
         "bottlenet": {"c": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]},
         "bottlenet_norelu": {"c": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]},
         "bottlenetpp_paper": {"c": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]},
         "quantization": {"bits": [1, 2, 4, 8]},
         "random_token_pruning": {"rho": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]},
         "adc_prune_only": {"xi": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]},
         "adc_merge_only": {"xi": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]},
         "adc_random_merge": {"xi": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]}}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_grid_and_a_three_level_demo_grid(name):
    cls = registry()[name]
    assert cls.grid == PAPER[name]
    assert len(cls.settings("demo")) == 3 and len({tuple(s.items()) for s in cls.settings("demo")}) == 3


def test_topk_paper_xi_matches_the_reference_figure():
    # reference/adc_paper_fig3.csv: DeiT-Tiny (N=197, D=192), B=128: r=0.1 -> xi 0.1359, r=0.3 -> 0.4077
    for r, xi in ((0.1, 0.1359), (0.3, 0.4077)):
        assert make("topk", B=128, n=197, d=192, r=r).expected_xi() == pytest.approx(xi, abs=2e-4)


# ----- top-k / randomized top-k -------------------------------------------------------------------
def test_topk_sends_the_largest_entries_and_a_masked_gradient():
    B, m = 4, make("topk", B=4, r=0.1)
    k = m.num_keep()
    acts = torch.randn(B, N, D, requires_grad=True)
    up, dense, _, ss, cs = cross(m, acts)
    assert up["indices"].dtype == torch.uint16 and up["values"].shape == (B, k)
    flat = acts.detach().reshape(B, -1)
    want = flat.abs().topk(k, dim=1).values.sort(1).values
    torch.testing.assert_close(up["values"].detach().abs().sort(1).values, want)
    mask = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, up["indices"].long(), True)
    torch.testing.assert_close(dense.detach().reshape(B, -1), torch.where(mask, flat, 0.0))
    g = torch.randn(B, N, D)
    (dense * g).sum().backward()
    down = m.encode_grad(ss)
    assert list(down.tensors) == ["values"] and down["values"].shape == (B, k)     # values only
    m.decode_grad(cs, InProcessLink().down(down))
    torch.testing.assert_close(acts.grad.reshape(B, -1), torch.where(mask, g.reshape(B, -1), 0.0))
    # the real bytes: fp32 values + uint16 indices; the paper's: ceil(log2(B*N*D)) bits per index
    assert up.paper_bytes == B * k * 4 + B * k * math.ceil(math.log2(B * N * D)) / 8


def test_randtopk_alpha_zero_is_topk_and_outside_mass_is_alpha():
    flat = torch.randn(6, 200)
    assert torch.equal(make("randtopk", r=0.1, alpha=0.0).select(flat, 20).sort(1).values,
                       flat.abs().topk(20, dim=1).indices.sort(1).values)
    # with k = 1 the single draw falls outside the top-1 with probability alpha exactly
    rows = torch.randn(20000, 40)
    pick = make("randtopk", r=0.1, alpha=0.1).select(rows, 1)
    outside = (pick[:, 0] != rows.abs().argmax(1)).float().mean().item()
    assert outside == pytest.approx(0.1, abs=0.01)
    # without replacement: k distinct indices per sample; seeds matter
    idx = make("randtopk", r=0.1, alpha=0.5).select(flat, 50)
    assert all(len(set(row.tolist())) == 50 for row in idx)
    assert not torch.equal(idx, make("randtopk", seed=1, r=0.1, alpha=0.5).select(flat, 50))


# ----- quantization -------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", range(1, 17))
def test_bit_packing_roundtrip_and_size(bits):
    n = 1001
    codes = torch.randint(0, 2 ** bits, (n,), generator=torch.Generator().manual_seed(bits))
    packed = pack_bits(codes, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == math.ceil(n * bits / 8)
    assert torch.equal(unpack_bits(packed, bits, n), codes)
    for dtype in (torch.int32, torch.uint8) if bits <= 8 else (torch.int32,):      # int32 / uint8 codes in:
        assert torch.equal(pack_bits(codes.to(dtype), bits), packed)                # the same bytes out
        got = unpack_bits(packed, bits, n, dtype=dtype)
        assert got.dtype == dtype and torch.equal(got.long(), codes)


def test_bit_packing_is_little_endian_within_a_byte():
    assert pack_bits(torch.tensor([1, 2, 3, 0]), 2).tolist() == [0b00111001]        # values 1, 2, 3, 0
    assert pack_bits(torch.tensor([0xA, 0x5, 0xF]), 4).tolist() == [0x5A, 0x0F]     # padded with 0


def test_quantization_error_bound_and_stochastic_rounding_is_unbiased():
    x = torch.randn(3, 5, 7) * 3
    for bits in (1, 2, 4, 8):
        packed, scale, offset = quantize(x, bits)
        err = (dequantize(packed, scale, offset, bits, x.shape) - x).abs().max()
        assert err <= scale.item() / 2 + 1e-6
    g = torch.Generator().manual_seed(0)
    mean = torch.stack([dequantize(*quantize(x, 2, True, g), 2, x.shape) for _ in range(400)]).mean(0)
    assert (mean - x).abs().max() < 0.25 * quantize(x, 2)[1].item()
    const = torch.full((4, 4), 1.5)
    assert torch.equal(dequantize(*quantize(const, 3), 3, const.shape), const)


def test_quantization_gradient_is_quantized_down_and_straight_through():
    m = make("quantization", B=4, bits=4)
    acts = torch.randn(4, N, D, requires_grad=True)
    up, tokens, _, leaf, cs = cross(m, acts)
    assert up["codes"].numel() == 4 * N * D * 4 // 8
    g = torch.randn(4, N, D)
    (tokens * g).sum().backward()
    down = m.encode_grad(leaf)
    assert down["codes"].dtype == torch.uint8 and down.payload_nbytes == 4 * N * D * 4 / 8
    m.decode_grad(cs, InProcessLink().down(down))
    torch.testing.assert_close(acts.grad, dequantize(*quantize(g, 4), 4, g.shape))


# ----- C3-SL ---------------------------------------------------------------------------------------
def _naive_conv(a, k):       # circular convolution, by definition
    L = a.shape[-1]
    n, m = torch.arange(L)[:, None], torch.arange(L)[None, :]
    return (a[..., (n - m) % L] * k).sum(-1)


def _naive_corr(s, k):       # circular correlation, by definition
    L = s.shape[-1]
    n, m = torch.arange(L)[:, None], torch.arange(L)[None, :]
    return (s[..., (m + n) % L] * k).sum(-1)


def test_c3sl_binds_by_circular_convolution_and_unbinds_by_correlation_with_a_padded_last_group():
    n, d, R, B = 3, 4, 2, 5                           # L = 12; 5 samples -> groups (0,1) (2,3) (4,pad)
    m = make("c3sl", B=B, n=n, d=d, R=R)
    keys = m.keys
    torch.testing.assert_close(keys.norm(dim=1), torch.ones(R))
    acts = torch.randn(B, n, d)
    up, tokens, _, _, _ = cross(m, acts)
    sent = up["acts"].reshape(3, -1)
    x = acts.reshape(B, -1)
    for g, members in enumerate([(0, 1), (2, 3), (4,)]):
        want = sum(_naive_conv(x[i], keys[j]) for j, i in enumerate(members))
        torch.testing.assert_close(sent[g], want, rtol=1e-4, atol=1e-5)
    want = torch.stack([_naive_corr(sent[i // R], keys[i % R]) for i in range(B)])
    torch.testing.assert_close(tokens.detach().reshape(B, -1), want, rtol=1e-4, atol=1e-5)
    assert up["acts"].shape == (3, n, d) and m.expected_xi() == pytest.approx(3 / 5)


def test_c3sl_recovers_each_sample_approximately_and_keys_are_seeded():
    m = make("c3sl", B=4, R=2)
    acts = torch.randn(4, N, D)
    _, tokens, _, _, _ = cross(m, acts)
    cos = torch.nn.functional.cosine_similarity(tokens.detach().reshape(4, -1)[:, None], acts.reshape(4, -1)[None], dim=-1)
    assert (cos.diagonal() > 0.4).all() and (cos - torch.diag(cos.diagonal())).abs().max() < 0.2
    assert torch.equal(m.keys, make("c3sl", B=4, R=2).keys)
    assert not torch.equal(m.keys, make("c3sl", B=4, seed=1, R=2).keys)


# ----- random token pruning -----------------------------------------------------------------------
def test_random_token_pruning_keeps_cls_and_a_random_subset_per_sample():
    m = make("random_token_pruning", B=16, rho=0.3)
    k = m.num_keep()
    acts = torch.arange(16 * N, dtype=torch.float32).reshape(16, N, 1).expand(16, N, D).contiguous()
    up, tokens, _, _, _ = cross(m, acts)
    pos = (tokens.detach()[:, :, 0] - torch.arange(16)[:, None] * N).long()     # which token each one was
    assert tokens.shape == (16, k, D) and (pos[:, 0] == 0).all()
    assert (pos[:, 1:].diff(dim=1) > 0).all()                                   # distinct, in order
    assert len({tuple(p.tolist()) for p in pos}) > 1                            # differs across samples
    up2, *_ = cross(make("random_token_pruning", B=16, seed=1, rho=0.3), acts)
    assert not torch.equal(up["acts"], up2["acts"])


# ----- BottleNet++ --------------------------------------------------------------------------------
def test_bottlenet_variants_and_eval_mode():
    relu, norelu = make("bottlenet", c=0.25), make("bottlenet_norelu", c=0.25)
    assert isinstance(relu.decoder[-1], torch.nn.ReLU) and not isinstance(norelu.decoder[-1], torch.nn.ReLU)
    assert not isinstance(make("bottlenet", c=0.25, relu=False).decoder[-1], torch.nn.ReLU)
    assert relu.code_dim() == 8 and relu.expected_xi() == 0.25
    acts = torch.randn(8, N, D)
    up, tokens, _, _, _ = cross(relu, acts)
    assert up["acts"].shape == (8, N, 8) and (tokens >= 0).all()
    _, tokens2, _, _, _ = cross(norelu, acts)
    assert (tokens2 < 0).any()
    # the paper's design: evaluation uses BatchNorm's running statistics and leaves the modules in training mode
    pp = make("bottlenetpp_paper", c=0.25)
    assert isinstance(pp.encoder[1], torch.nn.BatchNorm1d) and isinstance(pp.encoder[2], torch.nn.Sigmoid)
    cross(pp, acts)
    out = pp.eval_transform(acts)
    assert pp.encoder.training and pp.decoder.training
    pp.encoder.eval(), pp.decoder.eval()
    torch.testing.assert_close(out, pp.decoder(pp.encoder(acts)))


# ----- ADC ablations -------------------------------------------------------------------------------
def test_adc_ablations_flip_one_switch_each():
    B = 16
    acts, attn = torch.randn(B, N, D), torch.rand(B, N).softmax(-1)
    labels = torch.randint(0, C, (B,))
    prune = make("adc_prune_only", B=B, xi=0.3)
    out, targets, details = prune.compress(acts, attn, labels)
    k = int(0.3 * N)
    want = torch.cat([torch.zeros(B, 1, dtype=torch.long), attn[:, 1:].topk(k - 1, 1).indices.sort(1).values + 1], 1)
    assert out.shape == (B, k, D) and torch.equal(details["tokens"], want) and torch.equal(targets, labels)
    merge = make("adc_merge_only", B=B, xi=0.25)
    out, targets, _ = merge.compress(acts, attn, labels)
    assert out.shape == (4, N, D) and targets.shape == (4, C) and merge.expected_xi() == 0.25
    rnd = make("adc_random_merge", B=B, xi=0.25)
    T = rnd.num_clusters(B)
    a1 = rnd.assign(acts, attn, T)
    assert torch.bincount(a1, minlength=T).tolist() == [B // T + (i < B % T) for i in range(T)]  # balanced
    assert not torch.equal(a1, make("adc_random_merge", B=B, seed=1, xi=0.25).assign(acts, attn, T))
